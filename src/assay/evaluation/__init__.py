"""Evaluation tests and the release gate: models × datasets × slices × metrics.

    evaluation = assay.evaluate("eval.yaml")
    evaluation.passed, evaluation.failures

``spec`` declares (and validates); ``run`` runs it all and judges the thresholds. The
metrics, the paired bootstrap and the predictions cache it scores with live in
``assay.scoring``, below the diagnostics that score with them too.
"""

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
from assay.scoring.metrics import METRICS, Metric

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
