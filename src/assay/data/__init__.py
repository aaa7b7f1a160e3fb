"""Versioned data: datasets, deltas, recipes, composition, splits and slices.

The names load on first use, as ``assay``'s do: committing a delta (``assay data
add``) does not pay for the query engine that composing needs. ``compose`` and ``diff``
are ``assay.compose`` and ``assay.diff``; here those names are their modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion, load_version
    from assay.data.deltas import AddResult, add_delta, create_dataset, read_delta
    from assay.data.diff import VersionDiff
    from assay.data.recipe import DeltaSelection, Recipe, SplitSpec, load_recipe

_EXPORTS = {
    "AddResult": "assay.data.deltas",
    "DatasetVersion": "assay.data.compose",
    "DeltaSelection": "assay.data.recipe",
    "Recipe": "assay.data.recipe",
    "SplitSpec": "assay.data.recipe",
    "VersionDiff": "assay.data.diff",
    "add_delta": "assay.data.deltas",
    "create_dataset": "assay.data.deltas",
    "load_recipe": "assay.data.recipe",
    "load_version": "assay.data.compose",
    "read_delta": "assay.data.deltas",
}

__all__ = [
    "AddResult",
    "DatasetVersion",
    "DeltaSelection",
    "Recipe",
    "SplitSpec",
    "VersionDiff",
    "add_delta",
    "create_dataset",
    "load_recipe",
    "load_version",
    "read_delta",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
