"""The runs area: what a run read, its params, metrics, artifacts and how it ended."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import ConcurrentWriteError, NotFound, UsageError, VersionNotFound
from assay.retry import retry
from assay.store.catalog._base import CatalogBase, insert_once, metadata, now
from assay.store.catalog.datasets import versions
from assay.store.catalog.records import RUN_STATUSES, RunArtifact, RunInfo, RunInput

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40)),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("git_diff_sha256", sa.String(64)),
    sa.Column("git_root", sa.Text),
    sa.Column("git_note", sa.Text),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    # {"latest": {key: value}, "history": {key: [{"step", "value", "at"}, …]}}
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    # Bumped by every update. Params, metrics and the end are written by compare-and-set
    # on it, so concurrent writers to one run never lose each other's values.
    sa.Column("revision", sa.Integer, nullable=False),
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("fingerprint", sa.String(64), sa.ForeignKey("versions.fingerprint"), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("recipe_source", sa.Text),
    sa.Column("read_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "fingerprint", name="uq_run_input"),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "name", name="uq_run_artifact"),
)


class RunsArea(CatalogBase):
    """Runs with their inputs (dataset versions) and artifacts (stored objects)."""

    def referenced_objects(self) -> dict[str, str]:
        found = super().referenced_objects()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(run_artifacts.c.object_key, run_artifacts.c.sha256))
            found.update({r.object_key: r.sha256 for r in rows})
        return found

    def create_run(self, run: RunInfo) -> RunInfo:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    runs.insert().values(
                        id=run.id,
                        name=run.name,
                        status=run.status,
                        started_at=run.started_at or now(),
                        ended_at=run.ended_at,
                        exit_code=run.exit_code,
                        error=run.error,
                        git_commit=run.git_commit,
                        git_dirty=run.git_dirty,
                        git_diff_sha256=run.git_diff_sha256,
                        git_root=run.git_root,
                        git_note=run.git_note,
                        command=list(run.command),
                        params=dict(run.params),
                        metrics={"latest": dict(run.metrics), "history": run.metric_history},
                        environment=dict(run.environment),
                        revision=0,
                    )
                )
        except sa_exc.IntegrityError:
            raise UsageError(f"run id {run.id!r} is already taken; start the run again") from None
        return self.get_run(run.id)

    def restore_run(self, run: RunInfo) -> RunInfo:
        """Insert ``run`` exactly as given, inputs and artifacts included (``assay recover``)."""
        self.create_run(run)
        with self.engine.begin() as conn:
            for i in run.inputs:
                conn.execute(run_inputs.insert().values(run_id=run.id, **dataclasses.asdict(i)))
            for a in run.artifacts:
                conn.execute(run_artifacts.insert().values(run_id=run.id, **dataclasses.asdict(a)))
        return self.get_run(run.id)

    def get_run(self, run_id: str) -> RunInfo:
        prefix = run_id.strip().lower()
        if len(prefix) < 4:
            raise UsageError(f"run id {run_id!r} is too short; give at least 4 characters")
        query = sa.select(runs).where(runs.c.id.startswith(prefix, autoescape=True)).limit(2)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            exact = [r for r in rows if r.id == prefix]
            if len(rows) == 1 or exact:
                return self._run_infos(conn, exact or rows)[0]
        if not rows:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")
        raise UsageError(f"run id prefix {run_id!r} is ambiguous; give more of it")

    def list_runs(self) -> list[RunInfo]:
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc())
        with self.engine.connect() as conn:
            return self._run_infos(conn, conn.execute(query).all(), every=True)

    def _run_infos(
        self, conn: sa.Connection, rows: Sequence[sa.Row[Any]], *, every: bool = False
    ) -> list[RunInfo]:
        """Runs with their inputs and artifacts (``every``: the rows are all the runs)."""
        ids = [r.id for r in rows]
        inputs: dict[str, list[RunInput]] = {i: [] for i in ids}
        artifacts: dict[str, list[RunArtifact]] = {i: [] for i in ids}
        q_in = sa.select(run_inputs).order_by(run_inputs.c.id)
        q_art = sa.select(run_artifacts).order_by(run_artifacts.c.id)
        if not every:
            q_in = q_in.where(run_inputs.c.run_id.in_(ids))
            q_art = q_art.where(run_artifacts.c.run_id.in_(ids))
        for r in conn.execute(q_in):
            inputs[r.run_id].append(
                RunInput(
                    fingerprint=r.fingerprint,
                    dataset=r.dataset,
                    recipe_source=r.recipe_source,
                    read_at=r.read_at,
                )
            )
        for r in conn.execute(q_art):
            artifacts[r.run_id].append(
                RunArtifact(
                    name=r.name,
                    object_key=r.object_key,
                    sha256=r.sha256,
                    size=r.size,
                    created_at=r.created_at,
                )
            )
        return [_run_info(r, inputs[r.id], artifacts[r.id]) for r in rows]

    def _running(self, conn: sa.Connection, run_id: str) -> sa.Row[Any]:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")
        if row.status != "running":
            raise UsageError(
                f"run {run_id} has already ended ({row.status}); start a new run to record more"
            )
        return row

    def _update_run(
        self, run_id: str, change: Callable[[sa.Row[Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Set ``change(row)`` on a running run by compare-and-set on its revision.

        The read and the conditional write are separate statements, so no lock is held
        in between (SQLite would refuse to upgrade a stale read lock); a writer that lost
        the race reads again and re-applies its change on top of the winner's.
        """

        def attempt() -> dict[str, Any]:
            with self.engine.connect() as conn:
                row = self._running(conn, run_id)
            values = change(row)
            with self.engine.begin() as conn:
                done = conn.execute(
                    runs.update()
                    .where(runs.c.id == run_id, runs.c.revision == row.revision)
                    .values(**values, revision=row.revision + 1)
                ).rowcount
            if done != 1:
                raise ConcurrentWriteError(f"run {run_id} changed at revision {row.revision}")
            return values

        return retry(
            attempt, on=(ConcurrentWriteError,), what=f"run {run_id} is busy with other writers"
        )

    def log_run_params(self, run_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        def change(row: sa.Row[Any]) -> dict[str, Any]:
            merged = dict(row.params)
            for key, value in params.items():
                if key in merged and merged[key] != value:
                    raise UsageError(
                        f"param {key!r} of run {run_id} is already {merged[key]!r}, not "
                        f"{value!r}; params do not change within a run — start a new run"
                    )
                merged[key] = value
            return {"params": merged}

        return dict(self._update_run(run_id, change)["params"])

    def log_run_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> dict[str, float]:
        def change(row: sa.Row[Any]) -> dict[str, Any]:
            doc = row.metrics or {}
            latest = dict(doc.get("latest", {}))
            history = {k: list(v) for k, v in doc.get("history", {}).items()}
            at = now()
            for key, value in metrics.items():
                past = history.setdefault(key, [])
                s = step if step is not None else (past[-1]["step"] + 1 if past else 0)
                past.append({"step": s, "value": value, "at": at})
                latest[key] = value
            return {"metrics": {"latest": latest, "history": history}}

        return dict(self._update_run(run_id, change)["metrics"]["latest"])

    def end_run(
        self, run_id: str, status: str, *, exit_code: int | None = None, error: str | None = None
    ) -> RunInfo:
        if status not in RUN_STATUSES[1:]:
            raise UsageError(f"a run ends 'finished' or 'failed', not {status!r}")
        values = {"status": status, "exit_code": exit_code, "error": error}
        self._update_run(run_id, lambda _row: {**values, "ended_at": now()})
        return self.get_run(run_id)

    def record_run_input(self, run_id: str, run_input: RunInput) -> None:
        with self.engine.begin() as conn:
            self._running(conn, run_id)
            recorded = conn.execute(
                sa.select(versions.c.fingerprint).where(
                    versions.c.fingerprint == run_input.fingerprint
                )
            ).scalar()
            if recorded is None:
                raise VersionNotFound(
                    f"dataset version {run_input.fingerprint[:12]} is not recorded in this "
                    "store; compose it in the run's store"
                )
            # Read before (perhaps at the same moment): the first read stands.
            insert_once(
                conn,
                run_inputs,
                run_id=run_id,
                fingerprint=run_input.fingerprint,
                dataset=run_input.dataset,
                recipe_source=run_input.recipe_source,
                read_at=run_input.read_at or now(),
            )

    def record_run_artifact(self, run_id: str, artifact: RunArtifact) -> RunArtifact:
        with self.engine.begin() as conn:
            self._running(conn, run_id)
            insert_once(
                conn,
                run_artifacts,
                run_id=run_id,
                name=artifact.name,
                object_key=artifact.object_key,
                sha256=artifact.sha256,
                size=artifact.size,
                created_at=artifact.created_at or now(),
            )
            row = conn.execute(
                sa.select(run_artifacts).where(
                    run_artifacts.c.run_id == run_id, run_artifacts.c.name == artifact.name
                )
            ).one()
        if row.sha256 != artifact.sha256:
            raise UsageError(
                f"run {run_id} already has an artifact named {artifact.name!r} with other "
                "content; log this one under another name"
            )
        return RunArtifact(
            name=row.name,
            object_key=row.object_key,
            sha256=row.sha256,
            size=row.size,
            created_at=row.created_at,
        )


def _run_info(
    row: sa.Row[Any], inputs: Sequence[RunInput], artifacts: Sequence[RunArtifact]
) -> RunInfo:
    metrics = row.metrics or {}
    return RunInfo(
        id=row.id,
        name=row.name,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        exit_code=row.exit_code,
        error=row.error,
        git_commit=row.git_commit,
        git_dirty=None if row.git_dirty is None else bool(row.git_dirty),
        git_diff_sha256=row.git_diff_sha256,
        git_root=row.git_root,
        git_note=row.git_note,
        command=tuple(row.command),
        params=dict(row.params),
        metrics=dict(metrics.get("latest", {})),
        metric_history={k: list(v) for k, v in metrics.get("history", {}).items()},
        environment=dict(row.environment),
        inputs=tuple(inputs),
        artifacts=tuple(artifacts),
    )
