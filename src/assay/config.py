"""Where things are: the store (``--store URL``, then ``ASSAY_STORE``, then the nearest
``.assay/``), and this machine's cache (``ASSAY_CACHE_DIR``, else ``~/.cache/assay``)."""

from __future__ import annotations

import os
from pathlib import Path

from assay.errors import StoreNotFound

__all__ = ["STORE_DIR", "STORE_ENV", "cache_dir", "find_store"]

STORE_ENV = "ASSAY_STORE"
STORE_DIR = ".assay"


def find_store(start: str | os.PathLike[str] | None = None) -> str:
    """The store URL from ``ASSAY_STORE`` or the nearest ``.assay/`` at or above ``start``."""
    env = os.environ.get(STORE_ENV)
    if env:
        return env
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR
        if (candidate / "assay.json").is_file():
            return str(candidate)
    raise StoreNotFound(
        f"no assay store found in {here} or above; create one with `assay init`, "
        f"or point to one with --store or {STORE_ENV}"
    )


def cache_dir(area: str) -> Path:
    """This machine's cache folder for ``area`` (derived files, safe to delete):
    ``$ASSAY_CACHE_DIR/area``, else ``$XDG_CACHE_HOME/assay/area`` (``~/.cache``)."""
    configured = os.environ.get("ASSAY_CACHE_DIR")
    if configured:
        return Path(configured) / area
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "assay" / area
