"""Label tests: aggregate annotators, score their trust, find where humans and models
disagree (docs/labels.md).

``aggregate`` turns long-format annotations (item, annotator, label) into one label per
item (majority vote, Dawid–Skene, GLAD); ``annotators`` scores each annotator against
the consensus and measures the overall agreement.
"""

from __future__ import annotations

__all__: list[str] = []
