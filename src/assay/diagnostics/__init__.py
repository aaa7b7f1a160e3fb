"""Diagnostics: what the gate can also ask of a model and its data.

``drift`` holds the distribution statistics (the one home of them); ``impact`` shows
how each delta of a dataset moved its label and features. Slice finding, fairness,
importance, behaviour, robustness and staleness come here too (docs/architecture.md).
"""

from __future__ import annotations

from assay.diagnostics.drift import counts, ks_from_counts, shares, tvd_chi2
from assay.diagnostics.impact import ColumnShift, DeltaImpact, delta_impact

__all__ = [
    "ColumnShift",
    "DeltaImpact",
    "counts",
    "delta_impact",
    "ks_from_counts",
    "shares",
    "tvd_chi2",
]
