"""The models area: registered model versions, their aliases and golden examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import ModelNotFound, NotFound
from assay.retry import retry
from assay.store.catalog._base import CatalogBase, metadata, now
from assay.store.catalog.records import DEFAULT_DOMAIN, GoldenRef, ModelVersion
from assay.store.catalog.runs import runs
from assay.store.objects import crash_point

# models: one row per registered version, aliases unique per (name, alias)
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(40), nullable=False),
    sa.Column("object_key", sa.String(300)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("signature", sa.JSON),
    # No foreign key (release 0.1.0 could create these before the run tables), so the
    # run is checked inside the registering transaction instead.
    sa.Column("run_id", sa.String(32)),
    sa.Column("source", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("golden_key", sa.String(300)),
    sa.Column("golden_sha256", sa.String(64)),
    sa.Column("golden_count", sa.Integer),
    sa.Column("golden_at", sa.String(40)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("domain", sa.String(200), nullable=False, server_default=DEFAULT_DOMAIN),
    sa.UniqueConstraint("name", "version", name="uq_model_version"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)


class ModelsArea(CatalogBase):
    """Model versions (numbered per name), aliases and golden examples."""

    def referenced_objects(self) -> dict[str, str]:
        found = super().referenced_objects()
        mv = model_versions.c
        with self.engine.connect() as conn:
            for r in conn.execute(
                sa.select(mv.object_key, mv.sha256, mv.golden_key, mv.golden_sha256)
            ):
                if r.object_key is not None:
                    found[r.object_key] = r.sha256
                if r.golden_key is not None:
                    found[r.golden_key] = r.golden_sha256
        return found

    def register_model_version(self, model: ModelVersion) -> ModelVersion:
        def attempt() -> int:
            # A racing writer that takes the same number (or alias) fails the whole
            # transaction with IntegrityError: count again.
            with self.engine.begin() as conn:
                if model.run_id is not None:
                    self._check_run_exists(conn, model.run_id)
                latest = conn.execute(
                    sa.select(sa.func.max(model_versions.c.version)).where(
                        model_versions.c.name == model.name
                    )
                ).scalar()
                number = int(latest or 0) + 1
                golden = model.golden
                conn.execute(
                    model_versions.insert().values(
                        name=model.name,
                        version=number,
                        flavor=model.flavor,
                        object_key=model.object_key,
                        sha256=model.sha256,
                        size=model.size,
                        options=dict(model.options),
                        signature=model.signature,
                        run_id=model.run_id,
                        source=dict(model.source),
                        description=model.description,
                        golden_key=golden.object_key if golden else None,
                        golden_sha256=golden.sha256 if golden else None,
                        golden_count=golden.count if golden else None,
                        golden_at=(golden.attached_at or now()) if golden else None,
                        created_at=model.created_at or now(),
                        owner=model.owner,
                        domain=model.domain,
                    )
                )
                for alias in model.aliases:
                    self._put_alias(conn, model.name, alias, number)
                crash_point("in-transaction")  # test hook: die before COMMIT
            return number

        number = retry(
            attempt,
            on=(sa_exc.IntegrityError,),
            what=f"model {model.name!r} is being registered by other writers",
        )
        return self.get_model_version(model.name, number)

    def _check_run_exists(self, conn: sa.Connection, run_id: str) -> None:
        if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")

    def _put_alias(self, conn: sa.Connection, name: str, alias: str, version: int) -> None:
        moved = conn.execute(
            model_aliases.update()
            .where(model_aliases.c.name == name, model_aliases.c.alias == alias)
            .values(version=version, updated_at=now())
        ).rowcount
        if moved == 0:  # a racing insert of the same alias fails the whole transaction
            conn.execute(
                model_aliases.insert().values(
                    name=name, alias=alias, version=version, updated_at=now()
                )
            )

    def get_model_version(self, name: str, version: int | None = None) -> ModelVersion:
        mv = model_versions.c
        query = sa.select(model_versions).where(mv.name == name)
        if version is None:
            query = query.order_by(mv.version.desc()).limit(1)
        else:
            query = query.where(mv.version == version)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            if row is not None:
                return self._model_infos(conn, [row])[0]
            known = conn.execute(sa.select(sa.func.max(mv.version)).where(mv.name == name)).scalar()
        if known is None:
            raise ModelNotFound(self._unknown_model(name))
        raise ModelNotFound(
            f"model {name!r} has no version {version} (versions 1–{known}); list them with "
            f"`assay models list {name}`"
        )

    def _unknown_model(self, name: str) -> str:
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(model_versions.c.name).distinct()).scalars().all()
        known = ", ".join(sorted(names)) or "none yet"
        return (
            f"no model {name!r} is registered in this store (models: {known}); register "
            f"one with `assay models register {name} PATH`"
        )

    def get_model_alias(self, name: str, alias: str) -> ModelVersion:
        ma = model_aliases.c
        with self.engine.connect() as conn:
            number = conn.execute(
                sa.select(ma.version).where(ma.name == name, ma.alias == alias)
            ).scalar()
            aliases = (
                conn.execute(sa.select(ma.alias).where(ma.name == name).order_by(ma.alias))
                .scalars()
                .all()
            )
        if number is None:
            self.get_model_version(name)  # an unknown name says so first
            known = ", ".join(aliases) or "none yet"
            raise ModelNotFound(
                f"model {name!r} has no alias {alias!r} (aliases: {known}); set it with "
                f"`assay models alias {name}@VERSION {alias}`"
            )
        return self.get_model_version(name, int(number))

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        mv = model_versions.c
        query = sa.select(model_versions).order_by(mv.name, mv.version)
        if name is not None:
            query = query.where(mv.name == name)
        with self.engine.connect() as conn:
            return self._model_infos(conn, conn.execute(query).all(), every=name is None)

    def _model_infos(
        self, conn: sa.Connection, rows: Sequence[sa.Row[Any]], *, every: bool = False
    ) -> list[ModelVersion]:
        ma = model_aliases.c
        query = sa.select(model_aliases).order_by(ma.alias)
        if not every:
            query = query.where(ma.name.in_({r.name for r in rows}))
        aliases: dict[tuple[str, int], list[str]] = {}
        for a in conn.execute(query):
            aliases.setdefault((a.name, a.version), []).append(a.alias)
        return [_model_version(r, aliases.get((r.name, r.version), [])) for r in rows]

    def set_model_alias(self, name: str, version: int, alias: str) -> ModelVersion:
        self.get_model_version(name, version)  # names the missing version clearly

        def attempt() -> None:
            with self.engine.begin() as conn:
                self._put_alias(conn, name, alias, version)

        # Two first settings of one alias race on its primary key.
        retry(
            attempt,
            on=(sa_exc.IntegrityError,),
            what=f"alias {name}@{alias} is being moved by other writers",
        )
        return self.get_model_version(name, version)

    def set_model_golden(self, name: str, version: int, golden: GoldenRef) -> ModelVersion:
        mv = model_versions.c
        with self.engine.begin() as conn:
            done = conn.execute(
                model_versions.update()
                .where(mv.name == name, mv.version == version)
                .values(
                    golden_key=golden.object_key,
                    golden_sha256=golden.sha256,
                    golden_count=golden.count,
                    golden_at=golden.attached_at or now(),
                )
            ).rowcount
        if done != 1:
            self.get_model_version(name, version)  # raises ModelNotFound
        return self.get_model_version(name, version)


def _model_version(row: sa.Row[Any], aliases: Sequence[str]) -> ModelVersion:
    golden = None
    if row.golden_key is not None:
        golden = GoldenRef(
            object_key=row.golden_key,
            sha256=row.golden_sha256,
            count=int(row.golden_count or 0),
            attached_at=row.golden_at or "",
        )
    return ModelVersion(
        name=row.name,
        version=int(row.version),
        flavor=row.flavor,
        object_key=row.object_key,
        sha256=row.sha256,
        size=int(row.size),
        options=dict(row.options or {}),
        signature=row.signature,
        run_id=row.run_id,
        source=dict(row.source or {}),
        description=row.description,
        aliases=tuple(aliases),
        golden=golden,
        created_at=row.created_at,
        owner=row.owner,
        domain=row.domain,
    )
