"""Evaluation tests and the release gate: models × datasets × slices × metrics.

    evaluation = assay.evaluate("eval.yaml")
    evaluation.passed, evaluation.failures

``spec`` declares (and validates); ``metrics`` holds scikit-learn's point estimates
and their bootstrap forms; ``bootstrap`` the paired, seeded resamples;
``predictions`` the per-(model version, dataset version) cache; ``run`` runs it all
and judges the thresholds.
"""

from assay.evaluation.metrics import METRICS, Metric
from assay.evaluation.run import (
    Cell,
    Comparison,
    Evaluation,
    EvalWarning,
    GateResult,
    WarningCode,
    evaluate,
)
from assay.evaluation.spec import EvalSpec, Threshold, load_spec

__all__ = [
    "METRICS",
    "Cell",
    "Comparison",
    "EvalSpec",
    "EvalWarning",
    "Evaluation",
    "GateResult",
    "Metric",
    "Threshold",
    "WarningCode",
    "evaluate",
    "load_spec",
]
