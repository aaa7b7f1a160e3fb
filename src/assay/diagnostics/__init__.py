"""Diagnostics: what the gate can also ask of a model and its data.

``drift`` holds the distribution statistics (the one home of them); ``impact`` shows
how each delta of a dataset moved its label and features. Slice finding, fairness,
importance, behaviour, robustness and staleness come here too (docs/architecture.md).
"""

from __future__ import annotations

from assay.diagnostics._bounds import Bound, Breach, BreachCode, judge, parse_bounds
from assay.diagnostics._model import Data, as_data
from assay.diagnostics.behaviour import BehaviourReport

# ``drift`` the function stays in its module: re-exported here it would hide the module
# ``assay.diagnostics.drift`` that impact.py and users import the statistics from.
from assay.diagnostics.drift import (
    ColumnDrift,
    DriftReport,
    counts,
    ks_from_counts,
    shares,
    tvd_chi2,
)

# Likewise ``fairness`` and ``importance``: the functions live in their modules.
from assay.diagnostics.fairness import FairnessReport
from assay.diagnostics.impact import ColumnShift, DeltaImpact, delta_impact
from assay.diagnostics.importance import ImportanceReport
from assay.diagnostics.robustness import RobustnessReport
from assay.diagnostics.slices import SliceReport

__all__ = [
    "BehaviourReport",
    "Bound",
    "Breach",
    "BreachCode",
    "ColumnDrift",
    "ColumnShift",
    "Data",
    "DeltaImpact",
    "DriftReport",
    "FairnessReport",
    "ImportanceReport",
    "RobustnessReport",
    "SliceReport",
    "as_data",
    "counts",
    "delta_impact",
    "judge",
    "ks_from_counts",
    "parse_bounds",
    "shares",
    "tvd_chi2",
]
