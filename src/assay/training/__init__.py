"""Training tests: the user's training code under test.

``smoke`` runs the user's own training command on a small deterministic sample for
one epoch and judges it; ``reproduce`` re-runs a recorded run on its pinned data and
code and compares its metrics (``reproduce_window``: on sliding windows of deltas).
The pytest plugin (``assay.testing``) is a front end over them.

Names are imported on first use: a training test starts subprocesses and git, and
nothing of that should load with ``import assay``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.training.reproduce import (
        ReproduceReason,
        ReproduceReport,
        WindowReport,
        reproduce,
        reproduce_window,
    )
    from assay.training.smoke import (
        SampledVersion,
        SmokeReason,
        SmokeReport,
        sample_version,
        smoke,
    )

__all__ = [
    "ReproduceReason",
    "ReproduceReport",
    "SampledVersion",
    "SmokeReason",
    "SmokeReport",
    "WindowReport",
    "reproduce",
    "reproduce_window",
    "sample_version",
    "smoke",
]

_HOME = {
    "ReproduceReason": "reproduce",
    "ReproduceReport": "reproduce",
    "WindowReport": "reproduce",
    "reproduce": "reproduce",
    "reproduce_window": "reproduce",
    "SampledVersion": "smoke",
    "SmokeReason": "smoke",
    "SmokeReport": "smoke",
    "sample_version": "smoke",
    "smoke": "smoke",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'assay.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"assay.training.{_HOME[name]}"), name)
