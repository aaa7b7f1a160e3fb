"""Label tests: aggregate annotators, score their trust, find where humans and models
disagree (docs/labels.md).

``aggregate`` turns long-format annotations (item, annotator, label) into one label per
item (majority vote, Dawid–Skene, GLAD); ``annotators`` scores each annotator against
the consensus and measures the overall agreement; ``label_issues`` finds the labels a
model confidently disagrees with (confident learning), ``apply_queue`` commits their
relabelling as an upsert delta and ``compare_models`` scores models on the old labels
and the new.
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
from assay.labels.issues import LabelIssue, LabelIssues, find_issues, label_issues
from assay.labels.relabel import RelabelComparison, apply_queue, compare_models

__all__ = [
    "GLAD",
    "Aggregation",
    "Annotations",
    "AnnotatorReport",
    "AnnotatorScore",
    "DawidSkene",
    "LabelIssue",
    "LabelIssues",
    "MajorityVote",
    "RelabelComparison",
    "TrustReason",
    "aggregate",
    "apply_queue",
    "compare_models",
    "find_issues",
    "fleiss_kappa",
    "krippendorff_alpha",
    "label_issues",
    "read_annotations",
    "score_annotators",
    "write_into",
    "write_labels",
]
