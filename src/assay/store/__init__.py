"""The store: immutable objects plus the catalog that names them.

A store is a folder (or bucket prefix) holding ``assay.json`` (its format and catalog
URL), ``objects/`` and, by default, ``catalog.db`` (SQLite). ``init_store`` makes
one; ``open_store`` opens one, found as described in ``assay.config``.
"""

from __future__ import annotations

import json
import os
import shlex
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import (
    AssayError,
    CatalogDamaged,
    CatalogPasswordWarning,
    StoreAccessError,
    StoreNotFound,
    UsageError,
)
from assay.store._access import reports_access
from assay.store.catalog import (
    CATALOG_FORMAT,
    Catalog,
    DatasetInfo,
    DeltaInfo,
    VersionInfo,
    catalog_engine,
    open_catalog,
)
from assay.store.objects import ObjectStore, filesystem, open_object_store

if TYPE_CHECKING:
    from assay.engine import Engine

__all__ = [
    "Catalog",
    "DatasetInfo",
    "DeltaInfo",
    "ObjectStore",
    "Store",
    "VersionInfo",
    "catalog_from_env",
    "init_store",
    "locate",
    "open_store",
    "opened",
    "usage_hints",
    "without_password",
]

CONFIG_FILE = "assay.json"
#: The catalog URL, password included, overriding the one ``assay.json`` names (and
#: ``assay init``'s default), beside ``ASSAY_STORE``.
CATALOG_ENV = "ASSAY_CATALOG"
#: Its earlier name, still read when ``ASSAY_CATALOG`` is unset.
CATALOG_ENV_OLD = "ASSAY_CATALOG_URL"


def catalog_from_env() -> str | None:
    """The catalog URL ``ASSAY_CATALOG`` (or the older ``ASSAY_CATALOG_URL``) holds."""
    return os.environ.get(CATALOG_ENV) or os.environ.get(CATALOG_ENV_OLD) or None


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
        return f"Store({self.url!r}, catalog={without_password(self.catalog.url)!r})"

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


def _check_bucket(fs: Any, path: str, root: str) -> None:
    """Refuse a store in a bucket (or container) that does not exist: a typo in its name
    would otherwise create a new bucket, outside the permissions and lifecycle rules
    the intended one carries. Creating buckets is the cloud account's business."""
    bucket = path.split("/", 1)[0]
    if bucket and not fs.exists(bucket):  # "": a filesystem without buckets (memory://)
        scheme = root.split("://", 1)[0]
        raise UsageError(
            f"the bucket {scheme}://{bucket} does not exist (or these credentials cannot "
            f"see it); create it first (for S3: `aws s3 mb s3://{bucket}`) or check its name"
        )


def without_password(catalog_url: str) -> str:
    """``catalog_url`` with any password removed (what ``assay.json`` may hold)."""
    if catalog_url.startswith("sqlite"):
        return catalog_url
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(catalog_url)
    except sa.exc.ArgumentError:
        return catalog_url  # not a URL: open_catalog names the problem
    if parsed.password is None:
        return catalog_url
    # URL.set ignores None; URL is a NamedTuple, whose _replace does not.
    return parsed._replace(password=None).render_as_string(hide_password=False)


_warned: set[str] = set()


def _database(catalog_url: str) -> tuple[object, ...]:
    """Which database a catalog URL names, whoever logs in to it."""
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(catalog_url)
    except sa.exc.ArgumentError:
        return (catalog_url,)
    return (url.get_backend_name(), url.host, url.port or 5432, url.database)


def _catalog_url(configured: str, root: str) -> str:
    """The URL to open the catalog at: ``ASSAY_CATALOG`` if set and it names the
    same database (its login and password win), else the configured one (a password
    in it, from an older assay, still works, with a warning). A store whose catalog
    is its own SQLite file ignores the variable."""
    override = catalog_from_env()
    if override and not configured.startswith("sqlite"):
        if _database(override) != _database(configured):
            # Objects from one store read through another's catalog would be wrong silently.
            variable = CATALOG_ENV if os.environ.get(CATALOG_ENV) else CATALOG_ENV_OLD
            raise UsageError(
                f"{variable} names the catalog {without_password(override)}, but the "
                f"store at {root} uses {without_password(configured)}; unset {variable} "
                "or set it to that catalog's URL"
            )
        return override
    if without_password(configured) != configured and root not in _warned:
        _warned.add(root)  # once per store and process: every command opens it again
        warnings.warn(
            f'{root}/{CONFIG_FILE} holds the catalog\'s password; remove it from "catalog" '
            f"and set PGPASSWORD (or {CATALOG_ENV}) instead",
            CatalogPasswordWarning,
            stacklevel=2,
        )
    return configured


def _open_catalog(catalog_url: str, *, create: bool = False) -> Catalog:
    """``open_catalog``, with a catalog server that refuses or cannot be reached named
    in one line with the fix."""
    from sqlalchemy.exc import OperationalError

    try:
        return open_catalog(catalog_url, create=create)
    except (AssayError, OperationalError) as e:  # where the catalog first connects
        refusal = _catalog_refusal(catalog_url, e)
        if refusal is None:
            raise
        raise refusal from None


def _reach_catalog(catalog_url: str) -> None:
    """Connect once to a catalog server (its driver loaded), or raise its refusal."""
    from sqlalchemy.exc import OperationalError

    probe = catalog_engine(catalog_url)
    try:
        if not catalog_url.startswith("sqlite"):  # connecting would create the file
            with probe.connect():
                pass
    except OperationalError as e:
        refusal = _catalog_refusal(catalog_url, e)
        if refusal is None:
            raise
        raise refusal from None
    finally:
        probe.dispose()


def _catalog_refusal(catalog_url: str, error: Exception) -> StoreAccessError | None:
    """The one-line error for a catalog server that refused or could not be reached
    (None for any other trouble, which keeps its own message)."""
    from sqlalchemy.exc import OperationalError

    text = str(error)
    if "no password supplied" in text:
        problem = "needs a password"
    elif "password authentication failed" in text:
        problem = "refused the password given"
    elif isinstance(error, OperationalError) and not catalog_url.startswith("sqlite"):
        # The driver's first line ("connection failed: … Connection refused").
        reason = (str(error.orig or error).strip().splitlines() or ["no answer"])[0]
        return StoreAccessError(
            f"the catalog {without_password(catalog_url)} cannot be reached ({reason}); "
            "check that its server is running and the URL is right"
        )
    else:
        return None
    return StoreAccessError(
        f"the catalog {without_password(catalog_url)} {problem}: set PGPASSWORD (or a "
        f"~/.pgpass entry, or {CATALOG_ENV} to the URL with its password)"
    )


@reports_access
def init_store(
    url: str | os.PathLike[str] = ".assay",
    *,
    catalog: str | None = None,
    engine: str | None = None,
) -> Store:
    """Create a store at ``url`` (default ``./.assay``) and return it opened.

    Initialising an existing store is an error rather than a silent reuse, so a typo
    in a path never mixes two projects' data. ``assay.json`` records the catalog URL
    without its password (credentials come from the environment) and ``engine``, if
    given.
    """
    if engine is not None:
        from assay.engine import check_engine_name

        engine = check_engine_name(engine)
    root = _normalise(url)
    fs, path = filesystem(root)
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
    # Everything that can refuse comes before the first write: a refused init leaves
    # nothing behind (no folder, and no bucket: s3fs's makedirs creates a missing one).
    catalog_url = catalog or _default_catalog(root)
    if catalog is not None:
        _reach_catalog(catalog)
    if "://" in root:
        _check_bucket(fs, path, root)
    fs.makedirs(path, exist_ok=True)
    fs.makedirs(f"{path}/objects", exist_ok=True)
    cat = _open_catalog(catalog_url, create=True)
    config: dict[str, object] = {
        "format": CATALOG_FORMAT,
        "catalog": without_password(catalog) if catalog else None,
    }
    if engine is not None:
        config["engine"] = engine
    # The config file is written last: a store without it is not a store, so an
    # interrupted init can simply be run again.
    fs.pipe_file(config_path, json.dumps(config, indent=2).encode())
    return Store(
        url=root, objects=open_object_store(f"{root}/objects"), catalog=cat, engine_config=engine
    )


def usage_hints(store: Store) -> list[str]:
    """How to point assay at ``store`` from anywhere, and where its catalog's
    credentials come from (never from the store's files)."""
    from assay.config import STORE_ENV

    hints = [f"use it from anywhere: export {STORE_ENV}={shlex.quote(store.url)}"]
    if not store.catalog.url.startswith("sqlite"):
        hints.append(
            f"the catalog's password is not stored: export PGPASSWORD=... (or use a "
            f"~/.pgpass entry, or set {CATALOG_ENV} to the catalog URL with its password)"
        )
    return hints


def locate(url: str | os.PathLike[str] | None = None) -> tuple[str, dict[str, Any], str]:
    """The store's root URL, its ``assay.json`` and the catalog URL to open (credentials
    from the environment), for ``url`` or the store ``assay.config.find_store`` finds."""
    from assay.config import find_store

    root = _normalise(url) if url is not None else find_store()
    fs, path = filesystem(root)
    config_path = f"{path}/{CONFIG_FILE}"
    if not fs.exists(config_path):
        raise StoreNotFound(f"no assay store at {root}; create one with `assay init {root}`")
    try:
        config = json.loads(fs.cat_file(config_path))
    except ValueError:
        raise UsageError(f"{root}/{CONFIG_FILE} is not valid JSON; restore it") from None
    return root, config, _catalog_url(config.get("catalog") or _default_catalog(root), root)


@reports_access
def open_store(url: str | os.PathLike[str] | None = None) -> Store:
    """Open the store at ``url``, or the one ``assay.config.find_store`` finds."""
    root, config, catalog_url = locate(url)
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
        catalog=_open_catalog(catalog_url),
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
