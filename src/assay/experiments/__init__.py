"""Online experiments: routing declarations, the prediction log, and the statistics that
decide an A/B test (served by ``assay serve``, analysed by ``assay ab``)."""

from assay.experiments.analysis import Analysis, analyze, plan
from assay.experiments.config import ExperimentConfig, Route, load_config
from assay.experiments.log import LOG_SCHEMA, LogWriter, read_log
from assay.experiments.records import (
    Outcomes,
    get_experiment,
    list_experiments,
    read_outcomes,
    record_outcomes,
    set_weights,
    start_experiment,
    weights_history,
)
from assay.experiments.routing import assign, bucket

__all__ = [
    "LOG_SCHEMA",
    "Analysis",
    "ExperimentConfig",
    "LogWriter",
    "Outcomes",
    "Route",
    "analyze",
    "assign",
    "bucket",
    "get_experiment",
    "list_experiments",
    "load_config",
    "plan",
    "read_log",
    "read_outcomes",
    "record_outcomes",
    "set_weights",
    "start_experiment",
    "weights_history",
]
