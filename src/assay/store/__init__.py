"""The store: immutable objects plus the catalog that names them.

A store is a folder (or bucket prefix) holding ``assay.json`` (its format and catalog
URL), ``objects/`` and, by default, ``catalog.db`` (SQLite). ``init_store`` makes
one; ``open_store`` opens one, found as described in ``assay.config``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import fsspec

from assay.errors import AssayError, CatalogDamaged, StoreNotFound, UsageError
from assay.store._access import reports_access
from assay.store.catalog import (
    CATALOG_FORMAT,
    Catalog,
    DatasetInfo,
    DeltaInfo,
    VersionInfo,
    open_catalog,
)
from assay.store.objects import ObjectStore, open_object_store

if TYPE_CHECKING:
    from assay.engine import Engine

__all__ = [
    "Catalog",
    "DatasetInfo",
    "DeltaInfo",
    "ObjectStore",
    "Store",
    "VersionInfo",
    "init_store",
    "open_store",
    "opened",
]

CONFIG_FILE = "assay.json"


@dataclass
class Store:
    """An opened store: ``objects`` for bytes, ``catalog`` for what they mean."""

    url: str
    objects: ObjectStore
    catalog: Catalog
    #: The engine ``assay.json`` names (``"engine"``), if any.
    engine_config: str | None = None
    bound_engine: Engine | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Store({self.url!r}, catalog={self.catalog.url!r})"

    @property
    def engine(self) -> Engine:
        """Where this store's table work runs (``assay.engine.engine_name``, or the one
        ``with_engine`` bound), started on first use."""
        if self.bound_engine is not None:
            return self.bound_engine
        from assay.engine import engine_name, get_engine

        return get_engine(engine_name(self.engine_config))

    @property
    def engine_name(self) -> str:
        """The name of ``engine``, without starting it."""
        if self.bound_engine is not None:
            return self.bound_engine.name
        from assay.engine import engine_name

        return engine_name(self.engine_config)

    def with_engine(self, engine: Engine) -> Store:
        """This store (same objects and catalog), running its table work on ``engine``."""
        return replace(self, bound_engine=engine)

    def close(self) -> None:
        """Release the catalog's connections."""
        self.catalog.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _normalise(url: str | os.PathLike[str]) -> str:
    text = os.fspath(url)
    if "://" not in text:
        return str(Path(text).expanduser().resolve())
    if text.startswith("file://"):
        return str(Path(text[len("file://") :]).resolve())
    return text.rstrip("/")


def _default_catalog(root: str) -> str:
    if "://" in root:
        raise UsageError(
            f"a store at {root} needs a catalog database: pass --catalog postgresql://USER@HOST/DB"
        )
    return f"sqlite:///{root}/catalog.db"


@reports_access
def init_store(url: str | os.PathLike[str] = ".assay", *, catalog: str | None = None) -> Store:
    """Create a store at ``url`` (default ``./.assay``) and return it opened.

    Initialising an existing store is an error rather than a silent reuse, so a typo
    in a path never mixes two projects' data.
    """
    root = _normalise(url)
    fs, path = fsspec.core.url_to_fs(root)
    config_path = f"{path}/{CONFIG_FILE}"
    if fs.exists(config_path):
        try:
            open_store(root).close()
        except CatalogDamaged:
            # Never overwrite a store: its objects are the data the catalog is rebuilt from.
            raise UsageError(
                f"a store already exists at {root}, but its catalog is damaged; init never "
                f"overwrites a store: rebuild the catalog with `assay recover --store {root}`"
            ) from None
        except AssayError:
            pass  # any other trouble: the refusal below is the message that matters
        raise UsageError(f"a store already exists at {root}; use it, or pick another path")
    if fs.exists(path) and fs.isfile(path):
        raise UsageError(f"{root} is a file; give a folder path for the store")
    fs.makedirs(path, exist_ok=True)
    fs.makedirs(f"{path}/objects", exist_ok=True)
    catalog_url = catalog or _default_catalog(root)
    cat = open_catalog(catalog_url, create=True)
    config = {"format": CATALOG_FORMAT, "catalog": catalog}
    # The config file is written last: a store without it is not a store, so an
    # interrupted init can simply be run again.
    fs.pipe_file(config_path, json.dumps(config, indent=2).encode())
    return Store(url=root, objects=open_object_store(f"{root}/objects"), catalog=cat)


@reports_access
def open_store(url: str | os.PathLike[str] | None = None) -> Store:
    """Open the store at ``url``, or the one ``assay.config.find_store`` finds."""
    from assay.config import find_store

    root = _normalise(url) if url is not None else find_store()
    fs, path = fsspec.core.url_to_fs(root)
    config_path = f"{path}/{CONFIG_FILE}"
    if not fs.exists(config_path):
        raise StoreNotFound(f"no assay store at {root}; create one with `assay init {root}`")
    try:
        config = json.loads(fs.cat_file(config_path))
    except ValueError:
        raise UsageError(f"{root}/{CONFIG_FILE} is not valid JSON; restore it") from None
    catalog_url = config.get("catalog") or _default_catalog(root)
    file = sqlite_file(catalog_url)
    # SQLite would quietly make a missing or 0-byte file a new, empty database.
    if file is not None and (not os.path.exists(file) or os.path.getsize(file) == 0):
        state = "is missing" if not os.path.exists(file) else "is empty (0 bytes)"
        raise CatalogDamaged(
            f"the catalog {file} of the store at {root} {state}; rebuild it from the "
            "store's objects with `assay recover`"
        )
    return Store(
        url=root,
        objects=open_object_store(f"{root}/objects"),
        catalog=open_catalog(catalog_url),
        engine_config=config.get("engine"),
    )


def sqlite_file(catalog_url: str) -> str | None:
    """The file of a SQLite catalog URL (None for other databases and in-memory ones)."""
    if not catalog_url.startswith("sqlite"):
        return None
    import sqlalchemy as sa

    database = sa.engine.make_url(catalog_url).database
    return database if database and database != ":memory:" else None


@contextmanager
def opened(store: Store | None) -> Iterator[Store]:
    """``store`` itself, or the store ``open_store`` finds, closed again on exit."""
    if store is not None:
        yield store
        return
    with open_store() as s:
        yield s
