"""assay: take a model from data to production, proving at every step it is fit to go on.

The public API. Everything the CLI and the server do goes through these names.
"""

from assay.checks import CheckReport, Suite, check, load_suite
from assay.data import (
    AddResult,
    DatasetVersion,
    Recipe,
    VersionDiff,
    add_delta,
    compose,
    create_dataset,
    diff,
    load_recipe,
    load_version,
)
from assay.errors import AssayError
from assay.evaluation import EvalSpec, Evaluation, evaluate
from assay.models import Model, ModelVersion, get_model, list_models, load_model, register_model
from assay.runs import Run, RunInfo, active_run, get_run, list_runs, run_command, start_run
from assay.store import Store, init_store, open_store
from assay.store.integrity import GcReport, VerifyReport, collect_garbage, verify

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AssayError",
    "CheckReport",
    "DatasetVersion",
    "EvalSpec",
    "Evaluation",
    "GcReport",
    "Model",
    "ModelVersion",
    "Recipe",
    "Run",
    "RunInfo",
    "Store",
    "Suite",
    "VerifyReport",
    "VersionDiff",
    "__version__",
    "active_run",
    "add_delta",
    "check",
    "collect_garbage",
    "compose",
    "create_dataset",
    "diff",
    "evaluate",
    "get_model",
    "get_run",
    "init_store",
    "list_models",
    "list_runs",
    "load_model",
    "load_recipe",
    "load_suite",
    "load_version",
    "open_store",
    "register_model",
    "run_command",
    "start_run",
    "verify",
]
