"""The experiments area: online experiments, the history of their configs and weights,
and the files of business outcomes recorded for them.

The prediction log is not here: servers write it as objects without the catalog
(``assay.experiments.log``). What is here changes rarely and must be kept: which config
was served when, and when the arms' shares changed, is what an analysis needs to know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import ConcurrentWriteError, ExperimentNotFound, UsageError
from assay.retry import retry
from assay.store.catalog._base import CatalogBase, metadata, now
from assay.store.catalog.records import ExperimentChange, ExperimentInfo, OutcomesInfo

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),
    # The number of the latest change: writers compare and set it.
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# One row per change (start, config, weights), numbered like the revision it made.
experiment_changes = sa.Table(
    "experiment_changes",
    metadata,
    sa.Column("experiment", sa.String(64), sa.ForeignKey("experiments.name"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("config", sa.JSON),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("by", sa.String(200)),
    sa.Column("at", sa.String(40), nullable=False),
)

experiment_outcomes = sa.Table(
    "experiment_outcomes",
    metadata,
    sa.Column("experiment", sa.String(64), sa.ForeignKey("experiments.name"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("by", sa.String(20), nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("experiment", "id", name="uq_outcomes_content"),
)


class ExperimentsArea(CatalogBase):
    """Experiments, their change history and their outcome files."""

    def referenced_objects(self) -> dict[str, str]:
        found = super().referenced_objects()
        o = experiment_outcomes.c
        with self.engine.connect() as conn:
            found.update(
                {r.object_key: r.sha256 for r in conn.execute(sa.select(o.object_key, o.sha256))}
            )
        return found

    def put_experiment(
        self,
        name: str,
        endpoint: str,
        config: Mapping[str, Any],
        weights: Mapping[str, float],
        *,
        by: str | None = None,
    ) -> ExperimentInfo:
        """Record experiment ``name``, or its new ``config`` if that differs.

        A new config's ``weights`` replace the ones in force; the same config again (a
        server restarting) changes nothing, so a ramp set at runtime survives it.
        ``UsageError`` if ``name`` is recorded for another endpoint.
        """
        config, weights = dict(config), dict(weights)

        def attempt() -> None:
            at = now()
            with self.engine.begin() as conn:
                row = self._experiment_row(conn, name)
                if row is None:  # a racing first start fails on the primary key: look again
                    conn.execute(
                        experiments.insert().values(
                            name=name,
                            endpoint=endpoint,
                            config=config,
                            weights=weights,
                            revision=1,
                            created_at=at,
                            updated_at=at,
                        )
                    )
                    self._add_change(conn, name, 1, "start", weights, config, by, at)
                    return
                if row.endpoint != endpoint:
                    raise UsageError(
                        f"experiment {name!r} is recorded for endpoint {row.endpoint!r}, not "
                        f"{endpoint!r}; give this config another experiment name"
                    )
                if dict(row.config) == config:
                    return
                self._set(conn, row, at, config=config, weights=weights)
                self._add_change(conn, name, row.revision + 1, "config", weights, config, by, at)

        self._retry(attempt, name)
        return self.get_experiment(name)

    def set_experiment_weights(
        self, name: str, weights: Mapping[str, float], *, by: str | None = None
    ) -> ExperimentInfo:
        """Put ``weights`` in force for ``name`` and add them to its history."""
        weights = dict(weights)

        def attempt() -> None:
            at = now()
            with self.engine.begin() as conn:
                row = self._experiment_row(conn, name)
                if row is None:
                    raise ExperimentNotFound(self._unknown_experiment(name))
                self._set(conn, row, at, weights=weights)
                self._add_change(conn, name, row.revision + 1, "weights", weights, None, by, at)

        self._retry(attempt, name)
        return self.get_experiment(name)

    def get_experiment(self, name: str) -> ExperimentInfo:
        with self.engine.connect() as conn:
            row = self._experiment_row(conn, name)
        if row is None:
            raise ExperimentNotFound(self._unknown_experiment(name))
        return _experiment_info(row)

    def list_experiments(self) -> list[ExperimentInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.name)).all()
        return [_experiment_info(r) for r in rows]

    def experiment_changes(self, name: str) -> list[ExperimentChange]:
        """Every change of ``name``, oldest first."""
        self.get_experiment(name)  # an unknown name says so
        c = experiment_changes.c
        query = sa.select(experiment_changes).where(c.experiment == name).order_by(c.number)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            ExperimentChange(
                experiment=r.experiment,
                number=int(r.number),
                kind=r.kind,
                at=r.at,
                weights=dict(r.weights),
                config=None if r.config is None else dict(r.config),
                by=r.by,
            )
            for r in rows
        ]

    def record_outcomes(self, info: OutcomesInfo) -> OutcomesInfo:
        """Record an outcome file stored at ``info.object_key`` (``number`` is assigned).

        The same content recorded again is the row already there. ``UsageError`` if
        the experiment's earlier files are keyed by another column than ``info.by``.
        """

        def attempt() -> int:
            o = experiment_outcomes.c
            with self.engine.begin() as conn:
                if self._experiment_row(conn, info.experiment) is None:
                    raise ExperimentNotFound(self._unknown_experiment(info.experiment))
                rows = conn.execute(
                    sa.select(o.number, o.id, o.by).where(o.experiment == info.experiment)
                ).all()
                same = [r.number for r in rows if r.id == info.id]
                if same:
                    return int(same[0])
                if rows and rows[0].by != info.by:
                    raise UsageError(
                        f"experiment {info.experiment!r} has outcomes keyed by {rows[0].by!r}; "
                        f"record these by {rows[0].by!r} too (one join key per experiment)"
                    )
                number = max((int(r.number) for r in rows), default=0) + 1
                # A racing writer that takes the same number fails on the primary key.
                conn.execute(
                    experiment_outcomes.insert().values(
                        experiment=info.experiment,
                        number=number,
                        id=info.id,
                        by=info.by,
                        columns=[list(c) for c in info.columns],
                        rows=info.rows,
                        object_key=info.object_key,
                        sha256=info.sha256,
                        source=info.source,
                        recorded_at=info.recorded_at or now(),
                    )
                )
                return number

        number = retry(
            attempt,
            on=(sa_exc.IntegrityError,),
            what=f"outcomes of experiment {info.experiment!r} are being recorded by other writers",
        )
        return next(i for i in self.list_outcomes(info.experiment) if i.number == number)

    def list_outcomes(self, name: str) -> list[OutcomesInfo]:
        """The outcome files of experiment ``name``, in the order they were recorded."""
        self.get_experiment(name)
        o = experiment_outcomes.c
        query = sa.select(experiment_outcomes).where(o.experiment == name).order_by(o.number)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            OutcomesInfo(
                experiment=r.experiment,
                number=int(r.number),
                id=r.id,
                by=r.by,
                columns=tuple((str(n), str(t)) for n, t in r.columns),
                rows=int(r.rows),
                object_key=r.object_key,
                sha256=r.sha256,
                source=r.source,
                recorded_at=r.recorded_at,
            )
            for r in rows
        ]

    def restore_experiment(
        self,
        info: ExperimentInfo,
        changes: Sequence[ExperimentChange],
        outcomes: Sequence[OutcomesInfo],
    ) -> None:
        """Insert an experiment with its history and outcome files exactly as they were
        (``assay recover``, from its manifest)."""
        with self.engine.begin() as conn:
            conn.execute(
                experiments.insert().values(
                    name=info.name,
                    endpoint=info.endpoint,
                    config=info.config,
                    weights=info.weights,
                    revision=info.revision,
                    created_at=info.created_at,
                    updated_at=info.updated_at,
                )
            )
            for c in changes:
                self._add_change(conn, info.name, c.number, c.kind, c.weights, c.config, c.by, c.at)
            for o in outcomes:
                conn.execute(
                    experiment_outcomes.insert().values(
                        experiment=info.name,
                        number=o.number,
                        id=o.id,
                        by=o.by,
                        columns=[list(c) for c in o.columns],
                        rows=o.rows,
                        object_key=o.object_key,
                        sha256=o.sha256,
                        source=o.source,
                        recorded_at=o.recorded_at,
                    )
                )

    def _experiment_row(self, conn: sa.Connection, name: str) -> sa.Row[Any] | None:
        return conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()

    def _set(self, conn: sa.Connection, row: sa.Row[Any], at: str, **values: Any) -> None:
        """Compare-and-set the experiment's row on its revision."""
        e = experiments.c
        done = conn.execute(
            experiments.update()
            .where(e.name == row.name, e.revision == row.revision)
            .values(**values, revision=row.revision + 1, updated_at=at)
        ).rowcount
        if done != 1:
            raise ConcurrentWriteError(f"experiment {row.name} changed at revision {row.revision}")

    def _add_change(
        self,
        conn: sa.Connection,
        name: str,
        number: int,
        kind: str,
        weights: dict[str, float],
        config: dict[str, Any] | None,
        by: str | None,
        at: str,
    ) -> None:
        conn.execute(
            experiment_changes.insert().values(
                experiment=name,
                number=number,
                kind=kind,
                config=config,
                weights=weights,
                by=by,
                at=at,
            )
        )

    def _retry(self, attempt: Callable[[], None], name: str) -> None:
        retry(
            attempt,
            on=(sa_exc.IntegrityError, ConcurrentWriteError),
            what=f"experiment {name!r} is being changed by other writers",
        )

    def _unknown_experiment(self, name: str) -> str:
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(experiments.c.name).order_by(experiments.c.name))
            known = ", ".join(names.scalars().all()) or "none yet"
        return (
            f"no experiment {name!r} in this store (experiments: {known}); check the name, "
            "or start it by serving its config with `assay serve CONFIG`"
        )


def _experiment_info(row: sa.Row[Any]) -> ExperimentInfo:
    return ExperimentInfo(
        name=row.name,
        endpoint=row.endpoint,
        config=dict(row.config),
        weights={str(k): float(v) for k, v in row.weights.items()},
        revision=int(row.revision),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
