"""Versioned data: datasets, deltas, recipes, composition, splits and slices."""

from assay.data.compose import DatasetVersion, compose, load_version
from assay.data.deltas import AddResult, add_delta, create_dataset, read_delta
from assay.data.diff import VersionDiff, diff
from assay.data.recipe import DeltaSelection, Recipe, SplitSpec, load_recipe

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
