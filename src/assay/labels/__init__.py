"""Label tests: aggregate annotators, score their trust, find where humans and models
disagree (docs/labels.md).

``aggregate`` turns long-format annotations (item, annotator, label) into one label per
item (majority vote, Dawid–Skene, GLAD); ``annotators`` scores each annotator against
the consensus and measures the overall agreement.
"""

from __future__ import annotations

from assay.labels.aggregation import (
    GLAD,
    Aggregation,
    DawidSkene,
    MajorityVote,
    aggregate,
    write_into,
    write_labels,
)
from assay.labels.agreement import fleiss_kappa, krippendorff_alpha
from assay.labels.annotations import Annotations, read_annotations
from assay.labels.annotators import (
    AnnotatorReport,
    AnnotatorScore,
    TrustReason,
    score_annotators,
)

__all__ = [
    "GLAD",
    "Aggregation",
    "Annotations",
    "AnnotatorReport",
    "AnnotatorScore",
    "DawidSkene",
    "MajorityVote",
    "TrustReason",
    "aggregate",
    "fleiss_kappa",
    "krippendorff_alpha",
    "read_annotations",
    "score_annotators",
    "write_into",
    "write_labels",
]
