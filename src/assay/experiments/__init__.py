"""Online experiments: routing declarations, the prediction log, and the statistics that
decide an A/B test (served by ``assay serve``, analysed by ``assay ab``)."""

from assay.experiments.config import ExperimentConfig, Route, load_config
from assay.experiments.log import LOG_SCHEMA, LogWriter, read_log
from assay.experiments.routing import assign, bucket

__all__ = [
    "LOG_SCHEMA",
    "ExperimentConfig",
    "LogWriter",
    "Route",
    "assign",
    "bucket",
    "load_config",
    "read_log",
]
