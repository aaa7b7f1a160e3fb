"""The datasets area: datasets, their deltas, and the dataset versions composed of them.

Concurrent writers are serialised by a unique constraint rather than a lock: each
delta takes the next ``number`` of its dataset, and a writer that lost the race gets
``ConcurrentWriteError`` and may retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    UsageError,
    VersionNotFound,
    shorten,
)
from assay.store.catalog._base import CatalogBase, insert_once, metadata, now
from assay.store.catalog.records import DEFAULT_DOMAIN, DatasetInfo, DeltaInfo, VersionInfo
from assay.store.objects import crash_point

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_columns", sa.JSON, nullable=False),
    sa.Column("label_column", sa.String(200)),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("domain", sa.String(200), nullable=False, server_default=DEFAULT_DOMAIN),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
)

deltas = sa.Table(
    "deltas",
    metadata,
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
    sa.Column("layout", sa.String(16), nullable=False, server_default="canonical"),
    sa.UniqueConstraint("dataset_id", "number", name="uq_delta_number"),
    sa.UniqueConstraint("dataset_id", "delta_id", name="uq_delta_content"),
    sa.UniqueConstraint("dataset_id", "name", name="uq_delta_name"),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("recipe", sa.JSON, nullable=False),
    sa.Column("delta_ids", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


class DatasetsArea(CatalogBase):
    """Datasets, deltas and dataset versions."""

    def create_dataset(
        self,
        name: str,
        key: Sequence[str],
        label: str | None,
        *,
        owner: str | None = None,
        domain: str = DEFAULT_DOMAIN,
        description: str = "",
    ) -> DatasetInfo:
        info = DatasetInfo(
            name=name,
            key=tuple(key),
            label=label,
            created_at=now(),
            owner=owner,
            domain=domain,
            description=description,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    datasets.insert().values(
                        name=name,
                        key_columns=list(info.key),
                        label_column=label,
                        schema=[],
                        created_at=info.created_at,
                        owner=owner,
                        domain=domain,
                        description=description,
                    )
                )
        except sa_exc.IntegrityError:
            raise UsageError(
                f"dataset {name!r} already exists; add data with `assay data add {name} FILE`"
            ) from None
        return info

    def get_dataset(self, name: str) -> DatasetInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(datasets).where(datasets.c.name == name)).first()
            if row is None:
                names = [r.name for r in conn.execute(sa.select(datasets.c.name))]
        if row is None:
            known = ", ".join(sorted(names)) or "none yet"
            if len(name) > 128:  # no such name can be created: do not suggest it
                shown = shorten(name, quote="'")
                raise DatasetNotFound(f"no dataset {shown} in this store (datasets: {known})")
            raise DatasetNotFound(
                f"no dataset {name!r} in this store (datasets: {known}); "
                f"create it with `assay data create {name} --key COLUMN`"
            )
        return _dataset_info(row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(datasets).order_by(datasets.c.name)).all()
        return [_dataset_info(r) for r in rows]

    # deltas ---------------------------------------------------------------------

    def _dataset_id(self, conn: sa.Connection, name: str) -> int:
        found = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if found is None:
            self.get_dataset(name)  # raises with the helpful message
            raise DatasetNotFound(f"dataset {name!r} vanished while being read; retry")
        return int(found)

    def list_deltas(self, dataset: str) -> list[DeltaInfo]:
        with self.engine.connect() as conn:
            ds_id = self._dataset_id(conn, dataset)
            rows = conn.execute(
                sa.select(deltas).where(deltas.c.dataset_id == ds_id).order_by(deltas.c.number)
            ).all()
        return [_delta_info(dataset, r) for r in rows]

    def commit_delta(self, delta: DeltaInfo, schema: Sequence[tuple[str, str]]) -> DeltaInfo:
        try:
            with self.engine.begin() as conn:
                ds_id = self._dataset_id(conn, delta.dataset)
                conn.execute(
                    deltas.insert().values(
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
                        layout=delta.layout,
                    )
                )
                conn.execute(
                    datasets.update()
                    .where(datasets.c.id == ds_id)
                    .values(schema=[list(c) for c in schema])
                )
                crash_point("in-transaction")  # test hook: die before COMMIT
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
                sa.select(versions.c.fingerprint).where(
                    versions.c.fingerprint == version.fingerprint
                )
            ).scalar()
            if found is None:
                # Recorded concurrently by another process is the same content: keep it.
                insert_once(
                    conn,
                    versions,
                    fingerprint=version.fingerprint,
                    dataset_id=self._dataset_id(conn, version.dataset),
                    recipe=version.recipe,
                    delta_ids=list(version.delta_ids),
                    summary=version.summary,
                    created_at=version.created_at or now(),
                )
        return self.get_version(version.fingerprint)

    def get_version(self, fingerprint: str) -> VersionInfo:
        prefix = fingerprint.strip().lower()
        if len(prefix) < 6:
            raise UsageError(
                f"fingerprint {fingerprint!r} is too short; give at least 6 characters"
            )
        query = (
            sa.select(versions, datasets.c.name)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(versions.c.fingerprint.startswith(prefix, autoescape=True))
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
        query = sa.select(versions, datasets.c.name).join(
            datasets, datasets.c.id == versions.c.dataset_id
        )
        if dataset is not None:
            query = query.where(datasets.c.name == dataset)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(versions.c.created_at)).all()
        return [_version_info(r) for r in rows]

    def referenced_objects(self) -> dict[str, str]:
        found = super().referenced_objects()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deltas.c.object_key, deltas.c.object_sha256)).all()
        found.update({r.object_key: r.object_sha256 for r in rows})
        return found


def _dataset_info(row: sa.Row[Any]) -> DatasetInfo:
    return DatasetInfo(
        name=row.name,
        key=tuple(row.key_columns),
        label=row.label_column,
        schema=tuple((c[0], c[1]) for c in row.schema),
        created_at=row.created_at,
        owner=row.owner,
        domain=row.domain,
        description=row.description,
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
        layout=row.layout,
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
