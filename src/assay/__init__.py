"""assay: take a model from data to production, proving at every step it is fit to go on.

The public API. Everything the CLI and the server do goes through these names.
"""

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
from assay.runs import Run, RunInfo, active_run, get_run, list_runs, run_command, start_run
from assay.store import Store, init_store, open_store
from assay.store.integrity import GcReport, VerifyReport, collect_garbage, verify

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AssayError",
    "DatasetVersion",
    "GcReport",
    "Recipe",
    "Run",
    "RunInfo",
    "Store",
    "VerifyReport",
    "VersionDiff",
    "__version__",
    "active_run",
    "add_delta",
    "collect_garbage",
    "compose",
    "create_dataset",
    "diff",
    "get_run",
    "init_store",
    "list_runs",
    "load_recipe",
    "load_version",
    "open_store",
    "run_command",
    "start_run",
    "verify",
]
