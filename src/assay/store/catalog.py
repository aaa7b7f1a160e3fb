"""The catalog: what the store holds (datasets, deltas, dataset versions), in SQL.

SQLite in the store folder by default, any SQLAlchemy URL (PostgreSQL for teams)
otherwise. Objects are written before the catalog rows that name them, and every
change is one transaction, so a reader never sees a half-committed delta.

Concurrent writers are serialised by a unique constraint rather than a lock: each
delta takes the next ``number`` of its dataset, and a writer that lost the race gets
``ConcurrentWriteError`` and may retry.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    UsageError,
    VersionNotFound,
)

__all__ = [
    "CATALOG_FORMAT",
    "Catalog",
    "DatasetInfo",
    "DeltaInfo",
    "SqlCatalog",
    "VersionInfo",
    "open_catalog",
]

CATALOG_FORMAT = 1


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as the catalog knows it: its key, label and the schema so far."""

    name: str
    key: tuple[str, ...]
    label: str | None
    schema: tuple[tuple[str, str], ...] = ()  # (column, arrow type) in column order
    created_at: str = ""

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.schema]


@dataclass(frozen=True)
class DeltaInfo:
    """One committed delta: what it is, where its rows are and what they look like."""

    dataset: str
    number: int  # 1-based commit position within the dataset
    delta_id: str  # content hash (see docs/identities.md)
    name: str
    op: str  # insert | upsert | delete
    row_count: int
    object_key: str
    object_sha256: str
    message: str = ""
    author: str = ""
    created_at: str = ""
    tags: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    label_counts: dict[str, int] | None = None

    @property
    def short_id(self) -> str:
        return self.delta_id[:12]


@dataclass(frozen=True)
class VersionInfo:
    """A recorded dataset version: the resolved recipe and the deltas it read."""

    fingerprint: str
    dataset: str
    recipe: dict[str, Any]
    delta_ids: tuple[str, ...]
    summary: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


class Catalog(ABC):
    """The contract every catalog backend meets (tests/store/test_catalog_contract.py)."""

    url: str

    @abstractmethod
    def close(self) -> None:
        """Release connections; the catalog is not used afterwards."""

    @abstractmethod
    def create_dataset(self, name: str, key: Sequence[str], label: str | None) -> DatasetInfo:
        """Record a new, empty dataset; ``UsageError`` if the name is taken."""

    @abstractmethod
    def get_dataset(self, name: str) -> DatasetInfo:
        """The dataset called ``name``; ``DatasetNotFound`` otherwise."""

    @abstractmethod
    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset, by name."""

    @abstractmethod
    def list_deltas(self, dataset: str) -> list[DeltaInfo]:
        """The dataset's deltas in commit order."""

    @abstractmethod
    def commit_delta(self, delta: DeltaInfo, schema: Sequence[tuple[str, str]]) -> DeltaInfo:
        """Record ``delta`` as number ``delta.number`` and set the dataset's schema.

        One transaction. ``ConcurrentWriteError`` if another delta took that number
        (the caller validated against a stale head and must retry), ``UsageError`` if
        the name or content is already committed.
        """

    @abstractmethod
    def record_version(self, version: VersionInfo) -> VersionInfo:
        """Record a dataset version; recording the same fingerprint again is a no-op."""

    @abstractmethod
    def get_version(self, fingerprint: str) -> VersionInfo:
        """The version whose fingerprint is or starts with ``fingerprint``."""

    @abstractmethod
    def list_versions(self, dataset: str | None = None) -> list[VersionInfo]:
        """Recorded versions, oldest first."""

    @abstractmethod
    def referenced_objects(self) -> dict[str, str]:
        """Every object key the catalog names, with the SHA-256 its bytes must have."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


_metadata = sa.MetaData()

_meta = sa.Table(
    "assay_meta",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_datasets = sa.Table(
    "datasets",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_columns", sa.JSON, nullable=False),
    sa.Column("label_column", sa.String(200)),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_deltas = sa.Table(
    "deltas",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("delta_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("op", sa.String(10), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("object_sha256", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("added_columns", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("label_counts", sa.JSON),
    sa.UniqueConstraint("dataset_id", "number", name="uq_delta_number"),
    sa.UniqueConstraint("dataset_id", "delta_id", name="uq_delta_content"),
    sa.UniqueConstraint("dataset_id", "name", name="uq_delta_name"),
)

_versions = sa.Table(
    "versions",
    _metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("recipe", sa.JSON, nullable=False),
    sa.Column("delta_ids", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


class SqlCatalog(Catalog):
    """A catalog in any database SQLAlchemy 2 reaches (SQLite, PostgreSQL)."""

    def __init__(self, url: str, *, create: bool = False):
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as e:
            raise UsageError(f"catalog URL {url!r} is not usable: {e}") from None
        except ModuleNotFoundError as e:
            from assay.errors import MissingDependency

            raise MissingDependency(
                f"catalog URL {url!r} needs the {e.name} driver. "
                "Install it with: pip install 'assay[postgres]'"
            ) from None
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        if create:
            _metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                found = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.key == "format")
                ).scalar()
                if found is None:
                    conn.execute(_meta.insert().values(key="format", value=str(CATALOG_FORMAT)))
        self._check_format()

    def close(self) -> None:
        self.engine.dispose()

    def _check_format(self) -> None:
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.key == "format")
                ).scalar()
        except sa_exc.OperationalError as e:
            raise UsageError(
                f"catalog {self.url} cannot be read ({e.orig}); is it an assay store? "
                "Create one with `assay init`"
            ) from None
        if found is None or int(found) > CATALOG_FORMAT:
            raise UsageError(
                f"catalog {self.url} has format {found}, this assay reads format "
                f"{CATALOG_FORMAT}; upgrade assay"
            )

    # datasets -----------------------------------------------------------------

    def create_dataset(self, name: str, key: Sequence[str], label: str | None) -> DatasetInfo:
        info = DatasetInfo(name=name, key=tuple(key), label=label, created_at=_now())
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _datasets.insert().values(
                        name=name,
                        key_columns=list(info.key),
                        label_column=label,
                        schema=[],
                        created_at=info.created_at,
                    )
                )
        except sa_exc.IntegrityError:
            raise UsageError(
                f"dataset {name!r} already exists; add data with `assay data add {name} FILE`"
            ) from None
        return info

    def get_dataset(self, name: str) -> DatasetInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_datasets).where(_datasets.c.name == name)).first()
            if row is None:
                names = [r.name for r in conn.execute(sa.select(_datasets.c.name))]
        if row is None:
            known = ", ".join(sorted(names)) or "none yet"
            raise DatasetNotFound(
                f"no dataset {name!r} in this store (datasets: {known}); "
                f"create it with `assay data create {name} --key COLUMN`"
            )
        return _dataset_info(row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_datasets).order_by(_datasets.c.name)).all()
        return [_dataset_info(r) for r in rows]

    # deltas ---------------------------------------------------------------------

    def _dataset_id(self, conn: sa.Connection, name: str) -> int:
        found = conn.execute(sa.select(_datasets.c.id).where(_datasets.c.name == name)).scalar()
        if found is None:
            self.get_dataset(name)  # raises with the helpful message
            raise DatasetNotFound(f"dataset {name!r} vanished while being read; retry")
        return int(found)

    def list_deltas(self, dataset: str) -> list[DeltaInfo]:
        with self.engine.connect() as conn:
            ds_id = self._dataset_id(conn, dataset)
            rows = conn.execute(
                sa.select(_deltas).where(_deltas.c.dataset_id == ds_id).order_by(_deltas.c.number)
            ).all()
        return [_delta_info(dataset, r) for r in rows]

    def commit_delta(self, delta: DeltaInfo, schema: Sequence[tuple[str, str]]) -> DeltaInfo:
        try:
            with self.engine.begin() as conn:
                ds_id = self._dataset_id(conn, delta.dataset)
                conn.execute(
                    _deltas.insert().values(
                        dataset_id=ds_id,
                        number=delta.number,
                        delta_id=delta.delta_id,
                        name=delta.name,
                        op=delta.op,
                        row_count=delta.row_count,
                        object_key=delta.object_key,
                        object_sha256=delta.object_sha256,
                        message=delta.message,
                        author=delta.author,
                        created_at=delta.created_at,
                        tags=list(delta.tags),
                        added_columns=list(delta.added_columns),
                        stats=delta.stats,
                        label_counts=delta.label_counts,
                    )
                )
                conn.execute(
                    _datasets.update()
                    .where(_datasets.c.id == ds_id)
                    .values(schema=[list(c) for c in schema])
                )
        except sa_exc.IntegrityError as e:
            raise self._conflict(delta, e) from None
        return delta

    def _conflict(self, delta: DeltaInfo, error: sa_exc.IntegrityError) -> Exception:
        text = str(error.orig)
        existing = {d.number: d for d in self.list_deltas(delta.dataset)}
        if any(d.name == delta.name for d in existing.values()):
            return UsageError(
                f"dataset {delta.dataset!r} already has a delta named {delta.name!r}; "
                "choose another --name"
            )
        if any(d.delta_id == delta.delta_id for d in existing.values()):
            return ConcurrentWriteError(
                f"the same content was just committed to {delta.dataset!r} by another writer"
            )
        if delta.number in existing or "number" in text:
            return ConcurrentWriteError(
                f"another writer committed to dataset {delta.dataset!r} at the same time; "
                "retry the command"
            )
        return UsageError(f"cannot record delta {delta.name!r}: {text}")

    # versions ---------------------------------------------------------------------

    def record_version(self, version: VersionInfo) -> VersionInfo:
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(_versions.c.fingerprint).where(
                    _versions.c.fingerprint == version.fingerprint
                )
            ).scalar()
            if found is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            _versions.insert().values(
                                fingerprint=version.fingerprint,
                                dataset_id=self._dataset_id(conn, version.dataset),
                                recipe=version.recipe,
                                delta_ids=list(version.delta_ids),
                                summary=version.summary,
                                created_at=version.created_at or _now(),
                            )
                        )
                except sa_exc.IntegrityError:
                    pass  # recorded concurrently by another process: same content
        return self.get_version(version.fingerprint)

    def get_version(self, fingerprint: str) -> VersionInfo:
        prefix = fingerprint.strip().lower()
        if len(prefix) < 6:
            raise UsageError(
                f"fingerprint {fingerprint!r} is too short; give at least 6 characters"
            )
        query = (
            sa.select(_versions, _datasets.c.name)
            .join(_datasets, _datasets.c.id == _versions.c.dataset_id)
            .where(_versions.c.fingerprint.startswith(prefix, autoescape=True))
            .limit(2)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise VersionNotFound(
                f"no dataset version {fingerprint!r} is recorded in this store; "
                "list them with `assay data versions`"
            )
        if len(rows) > 1:
            raise UsageError(f"fingerprint prefix {fingerprint!r} is ambiguous; give more of it")
        return _version_info(rows[0])

    def list_versions(self, dataset: str | None = None) -> list[VersionInfo]:
        query = sa.select(_versions, _datasets.c.name).join(
            _datasets, _datasets.c.id == _versions.c.dataset_id
        )
        if dataset is not None:
            query = query.where(_datasets.c.name == dataset)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(_versions.c.created_at)).all()
        return [_version_info(r) for r in rows]

    def referenced_objects(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_deltas.c.object_key, _deltas.c.object_sha256)).all()
        return {r.object_key: r.object_sha256 for r in rows}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers go on while a writer commits; the busy timeout makes
    # concurrent writers wait for each other instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _dataset_info(row: sa.Row[Any]) -> DatasetInfo:
    return DatasetInfo(
        name=row.name,
        key=tuple(row.key_columns),
        label=row.label_column,
        schema=tuple((c[0], c[1]) for c in row.schema),
        created_at=row.created_at,
    )


def _delta_info(dataset: str, row: sa.Row[Any]) -> DeltaInfo:
    return DeltaInfo(
        dataset=dataset,
        number=row.number,
        delta_id=row.delta_id,
        name=row.name,
        op=row.op,
        row_count=row.row_count,
        object_key=row.object_key,
        object_sha256=row.object_sha256,
        message=row.message,
        author=row.author,
        created_at=row.created_at,
        tags=tuple(row.tags),
        added_columns=tuple(row.added_columns),
        stats=row.stats,
        label_counts=row.label_counts,
    )


def _version_info(row: sa.Row[Any]) -> VersionInfo:
    return VersionInfo(
        fingerprint=row.fingerprint,
        dataset=row.name,
        recipe=row.recipe,
        delta_ids=tuple(row.delta_ids),
        summary=row.summary,
        created_at=row.created_at,
    )


def open_catalog(url: str, *, create: bool = False) -> Catalog:
    """The catalog at ``url`` (any SQLAlchemy URL); ``create`` makes its tables."""
    return SqlCatalog(url, create=create)
