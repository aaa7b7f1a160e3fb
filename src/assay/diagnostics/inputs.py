"""Inputs: the rows a diagnostic reads, named the way the rest of assay names data.

``read_input`` accepts four forms (docs/diagnostics.md):

* a recipe file, optionally with a split: ``recipes/train.yaml`` or
  ``recipes/train.yaml:test`` (composed and recorded, as ``assay data compose`` does;
  the split column is dropped after filtering);
* a recorded version's fingerprint, or a unique prefix of at least 6 hex digits,
  optionally with a split: ``3f9a1c2b:test``;
* a data file: ``.csv``, ``.tsv``, ``.parquet`` or ``.jsonl`` (read as ``assay data add``
  reads it);
* ``log:EXPERIMENT`` or ``log:EXPERIMENT@SINCE``: the records that live requests to a
  served experiment carried, one row per record, optionally only those that arrived at
  or after ``SINCE`` (an ISO date or date-time; UTC unless it names its zone).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from assay.data.sources import read_source
from assay.errors import ExperimentNotFound, UsageError, shorten
from assay.experiments.log import log_prefix, read_log
from assay.store import Store, open_store

__all__ = ["FORMS", "read_input"]

FORMS = (
    "a recipe (recipes/train.yaml[:split]), a version fingerprint or prefix "
    "([:split]), a .csv/.tsv/.parquet/.jsonl file, or log:EXPERIMENT[@SINCE]"
)


def read_input(
    text: str, store: Store | None = None, *, columns: Sequence[str] | None = None
) -> pa.Table:
    """The rows that ``text`` names (see the module docstring), with ``columns`` only if given.

    Every wrong form is one ``UsageError`` (or ``NotFound``) naming what was given and
    the forms accepted; nothing is read before the form is known.
    """
    text = text.strip()
    if text.startswith("log:"):
        table = _read_log(text[4:], store)
    else:
        # Recipes, fingerprints and files: read as the label tests read them.
        found = read_source(text, store)
        if found is None:
            given = shorten(text, quote="'")
            raise UsageError(f"{given} names no data; give {FORMS}")
        table = found
    return _select(table, columns, text)


def _read_log(rest: str, store: Store | None) -> pa.Table:
    experiment, at, since_text = rest.partition("@")
    if not experiment:
        raise UsageError(f"'log:{rest}' names no experiment; write log:EXPERIMENT[@SINCE]")
    since = _since(since_text) if at else None
    store = store or open_store()
    if not any(True for _ in store.objects.list(log_prefix(experiment))):
        raise ExperimentNotFound(
            f"no prediction log for experiment {experiment!r} in this store; list the "
            "experiments with `assay serve log` or check the name"
        )
    log = read_log(store, experiment, role="live")
    if since is not None:
        log = log.filter(
            pc.greater_equal(log["time"], pa.scalar(since, log.schema.field("time").type))
        )
    records = [r for text in log["inputs"].to_pylist() for r in json.loads(text)]
    if not records:
        after = f" at or after {since.isoformat()}" if since is not None else ""
        raise UsageError(
            f"experiment {experiment!r} logged no live requests{after}; pick an earlier @SINCE"
        )
    try:
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        # Requests are checked against the models' signatures, so this takes a log
        # whose models changed their inputs' types: name it rather than guess.
        first = str(e).strip().splitlines()[0]
        raise UsageError(
            f"the records logged for experiment {experiment!r} do not share one type per "
            f"column ({shorten(first)}); pick a @SINCE after the change"
        ) from None


def _since(text: str) -> dt.datetime:
    try:
        since = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"@{text!r} is not an ISO date or date-time; write e.g. @2026-03-01 or "
            "@2026-03-01T12:00:00+00:00"
        ) from None
    return since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)


def _select(table: pa.Table, columns: Sequence[str] | None, text: str) -> pa.Table:
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        known = shorten(", ".join(table.column_names))
        raise UsageError(f"{missing[0]!r} is not a column of {text!r} (columns: {known})")
    return table.select(list(columns))
