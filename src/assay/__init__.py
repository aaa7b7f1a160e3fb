"""assay: take a model from data to production, proving at every step it is fit to go on.

The public API. Everything the CLI and the server do goes through these names.
"""

from assay.data import (
    AddResult,
    DatasetVersion,
    Recipe,
    add_delta,
    compose,
    create_dataset,
    load_recipe,
    load_version,
)
from assay.errors import AssayError
from assay.store import Store, init_store, open_store

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AssayError",
    "DatasetVersion",
    "Recipe",
    "Store",
    "__version__",
    "add_delta",
    "compose",
    "create_dataset",
    "init_store",
    "load_recipe",
    "load_version",
    "open_store",
]
