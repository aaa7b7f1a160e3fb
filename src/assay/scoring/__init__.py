"""How a model is scored on data: the metrics (scikit-learn's point estimates and their
bootstrap forms), the seeded, paired bootstrap, and the per-(model version, dataset
version) predictions cache. The evaluation gate, the diagnostics (fairness, importance)
and compression all score with these, so they sit below all three."""

from assay.scoring.bootstrap import Bootstrap
from assay.scoring.metrics import METRICS, Metric

__all__ = ["METRICS", "Bootstrap", "Metric"]
