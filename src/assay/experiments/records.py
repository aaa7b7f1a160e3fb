"""Experiments in the store: what was served, when the shares changed, and the outcomes.

``start_experiment`` records an experiment when a server starts it (again: a restart
with the same config changes nothing; a different config is kept in the history and
its weights take over). ``set_weights`` ramps an arm up or stops it at runtime, and
``weights_history`` tells the analysis when the shares changed.

``record_outcomes`` stores a file of business outcomes (conversions, revenue, …) keyed
by ``request_id`` or ``sticky_key``, the columns of the prediction log it joins on, as
an immutable content-addressed Parquet object

    experiments/<experiment>/outcomes/<sha256>.parquet

and a catalog row. An experiment may have several such files, all keyed by the same
column; ``read_outcomes`` merges them, and for a key that several files name, the row
of the file recorded last wins whole (its columns replace the earlier row's; a column
it lacks is null for that key).

The experiment's manifest (``manifests/experiments/<name>.json``: its record, history
and outcome files) is rewritten after each change, for ``assay recover``.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.data.frames import as_table, is_frame
from assay.data.schema import normalise_table, read_table_file, type_name
from assay.errors import UsageError
from assay.experiments.config import ExperimentConfig, load_config, normalise
from assay.store import Store
from assay.store.catalog import ExperimentChange, ExperimentInfo, OutcomesInfo, now
from assay.store.manifests import write_experiment_manifest
from assay.store.verified import read_verified

__all__ = [
    "JOIN_KEYS",
    "Outcomes",
    "experiment_config",
    "experiment_history",
    "get_experiment",
    "list_experiments",
    "outcomes_prefix",
    "read_outcomes",
    "record_outcomes",
    "set_weights",
    "start_experiment",
    "weights_history",
]

#: The prediction-log columns outcomes can be joined on.
JOIN_KEYS = ("request_id", "sticky_key")


def outcomes_prefix(experiment: str) -> str:
    """The folder of an experiment's outcome objects in the store."""
    return f"experiments/{experiment}/outcomes/"


def start_experiment(
    store: Store,
    config: ExperimentConfig | str | os.PathLike[str] | dict[str, Any],
    *,
    by: str | None = None,
) -> ExperimentInfo:
    """Record the experiment ``config`` serves, or its changed config; the record.

    ``UsageError`` if the experiment's name is recorded for another endpoint.
    """
    config = load_config(config)
    return _snapshot(
        store,
        store.catalog.put_experiment(
            config.experiment, config.endpoint, config.to_dict(), config.weights, by=by
        ),
    )


def set_weights(
    store: Store, experiment: str, weights: Mapping[str, float], *, by: str | None = None
) -> ExperimentInfo:
    """Put new arm shares in force (a ramp, or 0 for a kill switch); the record.

    ``weights`` names every arm of the experiment; they are normalised to sum to 1.
    """
    config = experiment_config(store, experiment)
    arms = [r.arm for r in config.routes]
    unknown = [a for a in weights if a not in arms]
    missing = [a for a in arms if a not in weights]
    if unknown or missing:
        wrong = f"has no arm {unknown[0]!r}" if unknown else f"needs a weight for {missing[0]!r}"
        raise UsageError(
            f"experiment {experiment!r} {wrong}; give a weight to each of its arms: "
            f"{', '.join(arms)}"
        )
    for arm in arms:
        if isinstance(weights[arm], bool) or not isinstance(weights[arm], int | float):
            raise UsageError(
                f"the weight of arm {arm!r} of experiment {experiment!r} is "
                f"{weights[arm]!r}; give a number from 0 up"
            )
    ordered = normalise({arm: float(weights[arm]) for arm in arms})  # route order
    return _snapshot(store, store.catalog.set_experiment_weights(experiment, ordered, by=by))


def get_experiment(store: Store, name: str) -> ExperimentInfo:
    """The record of experiment ``name``; ``ExperimentNotFound`` lists the ones there are."""
    return store.catalog.get_experiment(name)


def experiment_config(store: Store, name: str) -> ExperimentConfig:
    """The config experiment ``name`` was last started with."""
    return load_config(get_experiment(store, name).config)


def list_experiments(store: Store) -> list[ExperimentInfo]:
    """Every recorded experiment, by name."""
    return store.catalog.list_experiments()


def experiment_history(store: Store, name: str) -> list[ExperimentChange]:
    """Every change of experiment ``name`` (start, config, weights), oldest first."""
    return store.catalog.experiment_changes(name)


def weights_history(store: Store, name: str) -> list[ExperimentChange]:
    """The changes that put new shares in force, oldest first: the start, then each new
    config or ``set_weights`` whose weights differ from those before it."""
    changes: list[ExperimentChange] = []
    for change in experiment_history(store, name):
        if not changes or change.weights != changes[-1].weights:
            changes.append(change)
    return changes


def _snapshot(store: Store, info: ExperimentInfo) -> ExperimentInfo:
    """Rewrite the manifest of ``info``'s experiment from the catalog (``assay recover``
    restores the experiment from it); ``info``."""
    catalog = store.catalog
    write_experiment_manifest(
        store.objects, info, catalog.experiment_changes(info.name), catalog.list_outcomes(info.name)
    )
    return info


# outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """An experiment's outcomes, merged: one row per ``by`` value, the key column first.

    With no outcome file recorded, ``by`` is None and ``table`` has no rows and no columns.
    """

    by: str | None  # request_id | sticky_key
    table: pa.Table
    files: tuple[OutcomesInfo, ...]

    @property
    def metrics(self) -> list[str]:
        """The numeric (and boolean) outcome columns: what an analysis can average."""
        return [f.name for f in self.table.schema if f.name != self.by and _is_metric(f.type)]


def record_outcomes(
    store: Store,
    experiment: str,
    source: str | os.PathLike[str] | pa.Table | Any,
    *,
    by: str = "request_id",
) -> OutcomesInfo:
    """Store a file (CSV, Parquet, JSONL) or table of outcomes for ``experiment``.

    The rows are keyed by ``by``: ``request_id``, or ``sticky_key`` (the column may also
    carry the name the config gives the sticky key, e.g. ``user_id``). Each key once;
    at least one numeric or boolean outcome column. Nothing is stored if any check fails.
    """
    if by not in JOIN_KEYS:
        raise UsageError(f"outcomes join on {by!r}: use request_id or sticky_key")
    config = experiment_config(store, experiment)
    label, table = _read_source(source)
    key = _key_column(table, by, config, label)
    table = _conform(table, key, by, label)
    _check_earlier(store, experiment, by, table, label)

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    object_key = f"{outcomes_prefix(experiment)}{sha}.parquet"
    # Objects first, then the catalog row; writing the same bytes again renews the
    # object for gc's grace period.
    store.objects.put_bytes(object_key, data)
    recorded = store.catalog.record_outcomes(
        OutcomesInfo(
            experiment=experiment,
            number=0,  # assigned by the catalog
            id=sha,
            by=by,
            columns=tuple((f.name, type_name(f.type)) for f in table.schema),
            rows=table.num_rows,
            object_key=object_key,
            sha256=sha,
            source=label,
            recorded_at=now(),
        )
    )
    _snapshot(store, get_experiment(store, experiment))
    return recorded


def read_outcomes(store: Store, experiment: str) -> Outcomes:
    """Every outcome file of ``experiment`` merged (the last recorded wins per key),
    ordered by the key; each object's bytes are checked against their SHA-256."""
    files = tuple(store.catalog.list_outcomes(experiment))
    if not files:
        return Outcomes(None, pa.table({}), ())
    by = files[0].by
    newest_first: list[pa.Table] = []
    seen: list[pa.Array] = []
    for info in reversed(files):
        what = f"outcomes file {info.number} ({info.source}) of experiment {experiment!r}"
        data = read_verified(store.objects, info.object_key, info.sha256, what)
        table = pq.read_table(pa.BufferReader(data))
        if seen:
            earlier = pa.concat_arrays(seen)
            table = table.filter(pc.invert(pc.is_in(table[by], value_set=earlier)))
        seen.extend(table[by].chunks)
        newest_first.append(table)
    merged = pa.concat_tables(newest_first[::-1], promote_options="permissive")
    return Outcomes(by, merged.sort_by(by), files)


def _read_source(source: Any) -> tuple[str, pa.Table]:
    """What the outcomes are called in messages, and their rows with assay's types."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return f"outcomes file {str(path)!r}", read_table_file(path)
    if is_frame(source):
        return "outcomes table", normalise_table(as_table(source, what="outcomes"))
    raise UsageError(
        f"outcomes must be a CSV, Parquet or JSONL file or a table, not {type(source).__name__}; "
        "pass a path or a pyarrow Table"
    )


def _key_column(table: pa.Table, by: str, config: ExperimentConfig, label: str) -> str:
    """The column of ``table`` that holds the ``by`` key."""
    names = [by]
    if by == "sticky_key":
        if config.sticky_key is None:
            raise UsageError(
                f"experiment {config.experiment!r} has no sticky_key, so its log has none to "
                "join on; record the outcomes by request_id"
            )
        if config.sticky_key != by:
            names.insert(0, config.sticky_key)
    found = [n for n in names if n in table.column_names]
    if len(found) > 1:
        raise UsageError(
            f"{label} has both {found[0]!r} and {found[1]!r}; keep the one that holds the "
            "sticky key"
        )
    if not found:
        raise UsageError(
            f"{label} has no column {' or '.join(map(repr, names))} to join on (it has: "
            f"{', '.join(table.column_names) or 'none'}); rename the key column or pass "
            "the right `by`"
        )
    return found[0]


def _conform(table: pa.Table, key: str, by: str, label: str) -> pa.Table:
    """``table`` with its key column named ``by``, as text, first; every check done."""
    if table.num_rows == 0:
        raise UsageError(f"{label} holds no rows; record a file with outcomes in it")
    column = table[key]
    if not (pa.types.is_string(column.type) or pa.types.is_integer(column.type)):
        raise UsageError(
            f"{label}: column {key!r} holds {type_name(column.type)}, not the text or whole "
            "numbers of a key; convert it"
        )
    nulls = column.null_count
    if nulls:
        first = pc.index(pc.is_null(column), True).as_py()
        raise UsageError(
            f"{label}: {nulls} row(s) have no {key!r} (the first is row {first + 1}); "
            "fill them in or drop them"
        )
    column = column.cast(pa.string())  # the log's keys are text
    counts = pc.value_counts(column)
    twice = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    if len(twice):
        value, n = twice[0]["values"].as_py(), twice[0]["counts"].as_py()
        raise UsageError(
            f"{label}: {key} {value!r} appears {n} times; keep one row per {key} "
            f"({len(twice)} key(s) repeat)"
        )
    others = [n for n in table.column_names if n != key]
    if not any(_is_metric(table[n].type) for n in others):
        raise UsageError(
            f"{label} has no numeric or boolean outcome column (it has: "
            f"{', '.join(others) or 'only ' + repr(key)}); add one, e.g. converted as 0/1"
        )
    rest = table.select(others)
    return pa.Table.from_arrays([column, *rest.columns], names=[by, *others])


def _check_earlier(store: Store, experiment: str, by: str, table: pa.Table, label: str) -> None:
    """Refuse another join key, or a column whose type differs from an earlier file's."""
    earlier: dict[str, str] = {}
    for info in store.catalog.list_outcomes(experiment):
        if info.by != by:
            raise UsageError(
                f"experiment {experiment!r} has outcomes keyed by {info.by!r}; record these "
                f"by {info.by!r} too (one join key per experiment)"
            )
        earlier.update(dict(info.columns))
    for f in table.schema:
        before = earlier.get(f.name)
        now_ = type_name(f.type)
        if before is None or before == now_ or {before, now_} <= {"int64", "double"}:
            continue
        raise UsageError(
            f"{label}: column {f.name!r} holds {now_}, earlier outcomes of {experiment!r} "
            f"hold {before}; convert it or name it differently"
        )


def _is_metric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
