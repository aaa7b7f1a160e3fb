"""crowd-kit's labels on annotations_e2, the fixture tests/labels/test_aggregation.py reads.

Runs in the peer venv (crowd-kit is never installed in the project's):

    bench/.venv/bin/python bench/labels_fixture.py

writes ``tests/labels/fixtures/crowdkit_e2.csv``: one row per item with crowd-kit
1.4's ``MajorityVote`` and ``DawidSkene`` (defaults: ``n_iter=100``, ``tol=1e-5``)
labels, and the DawidSkene posterior of its label.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote

ROOT = Path(__file__).parents[1]
OUT = ROOT / "tests/labels/fixtures/crowdkit_e2.csv"


def main() -> None:
    data = pd.read_csv(ROOT / "examples/data/annotations_e2.csv").rename(
        columns={"item": "task", "annotator": "worker"}
    )
    mv = MajorityVote().fit(data).labels_
    ds = DawidSkene().fit(data)
    fixture = pd.DataFrame(
        {"mv": mv, "ds": ds.labels_, "ds_confidence": ds.probas_.max(axis=1).round(6)}
    ).rename_axis("item")
    fixture.sort_index().to_csv(OUT)
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(fixture)} items, DS {len(ds.loss_history_)} iterations"
    )


if __name__ == "__main__":
    main()
