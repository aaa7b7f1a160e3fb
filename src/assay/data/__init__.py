"""Versioned data: datasets, deltas, recipes, composition, splits and slices."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion, compose, load_version
    from assay.data.deltas import AddResult, add_delta, create_dataset, read_delta
    from assay.data.diff import VersionDiff, diff
    from assay.data.recipe import DeltaSelection, Recipe, SplitSpec, load_recipe

# Where each name lives: a module is imported on first use, so `assay data add` does
# not pay for composition's engine (Ibis) it never uses.
_HOMES = {
    "DatasetVersion": "compose",
    "compose": "compose",
    "load_version": "compose",
    "AddResult": "deltas",
    "add_delta": "deltas",
    "create_dataset": "deltas",
    "read_delta": "deltas",
    "VersionDiff": "diff",
    "diff": "diff",
    "DeltaSelection": "recipe",
    "Recipe": "recipe",
    "SplitSpec": "recipe",
    "load_recipe": "recipe",
}

__all__ = [
    "AddResult",
    "DatasetVersion",
    "DeltaSelection",
    "Recipe",
    "SplitSpec",
    "VersionDiff",
    "add_delta",
    "compose",
    "create_dataset",
    "diff",
    "load_recipe",
    "load_version",
    "read_delta",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'assay.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"assay.data.{_HOMES[name]}"), name)
