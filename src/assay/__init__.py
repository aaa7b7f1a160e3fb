"""assay: take a model from data to production, proving at every step it is fit to go on.

The public API. Everything the CLI and the server do goes through these names.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from assay.checks import CheckReport, Suite, check, load_suite
    from assay.data.compose import DatasetVersion, compose, load_version
    from assay.data.deltas import AddResult, add_delta, create_dataset
    from assay.data.diff import VersionDiff, diff
    from assay.data.recipe import Recipe, load_recipe
    from assay.errors import AssayError
    from assay.evaluation import EvalSpec, Evaluation, evaluate
    from assay.integrity import GcReport, VerifyReport, collect_garbage, verify
    from assay.models import Model, ModelVersion, get_model, list_models, load_model, register_model
    from assay.runs import Run, RunInfo, active_run, get_run, list_runs, run_command, start_run
    from assay.store import Store, init_store, open_store

# Where each public name lives. ``import assay`` stays cheap (the CLI, the pytest plugin
# and every `python -c` start faster); a name's module is imported on first use.
_EXPORTS = {
    "AddResult": "assay.data.deltas",
    "AssayError": "assay.errors",
    "CheckReport": "assay.checks",
    "DatasetVersion": "assay.data.compose",
    "EvalSpec": "assay.evaluation",
    "Evaluation": "assay.evaluation",
    "GcReport": "assay.integrity",
    "Model": "assay.models",
    "ModelVersion": "assay.models",
    "Recipe": "assay.data.recipe",
    "Run": "assay.runs",
    "RunInfo": "assay.runs",
    "Store": "assay.store",
    "Suite": "assay.checks",
    "VerifyReport": "assay.integrity",
    "VersionDiff": "assay.data.diff",
    "active_run": "assay.runs",
    "add_delta": "assay.data.deltas",
    "check": "assay.checks",
    "collect_garbage": "assay.integrity",
    "compose": "assay.data.compose",
    "create_dataset": "assay.data.deltas",
    "diff": "assay.data.diff",
    "evaluate": "assay.evaluation",
    "get_model": "assay.models",
    "get_run": "assay.runs",
    "init_store": "assay.store",
    "list_models": "assay.models",
    "list_runs": "assay.runs",
    "load_model": "assay.models",
    "load_recipe": "assay.data.recipe",
    "load_suite": "assay.checks",
    "load_version": "assay.data.compose",
    "open_store": "assay.store",
    "register_model": "assay.models",
    "run_command": "assay.runs",
    "start_run": "assay.runs",
    "verify": "assay.integrity",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # `assay.models.…` after a bare `import assay`: subpackages load on first use too.
        if importlib.util.find_spec(f"assay.{name}") is None:
            raise AttributeError(f"module 'assay' has no attribute {name!r}")
        return importlib.import_module(f"assay.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

# The one place where rooms that must not import each other are wired together
# (docs/architecture.md): a lower room publishes, an upper one answers.
from assay.events import subscribe as _subscribe  # noqa: E402  (cheap: no other import)

_subscribe("version_read", "assay.runs:register_read")
_subscribe("pinned_version", "assay.training.reproduce:pinned_fingerprint")
_subscribe("smoke_read", "assay.training.smoke:sample_for_smoke")
_subscribe("smoke_metrics", "assay.training.smoke:note_non_finite")

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
