"""Annotations: several annotators' labels in long format, read and encoded once.

Every label test reads the same shape, one row per vote: an item, an annotator, a
label and optionally a time. ``read_annotations`` takes it from a frame, a data file
(``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``), a recipe (``recipe.yaml[:split]``) or a
recorded version's fingerprint (``3f9a1c2b[:split]``), and encodes items, annotators
and labels as dense integer codes (sorted values) that the aggregators index with.

Rows without a label are votes not cast and are left out; a row without an item or an
annotator is an error. With ``time``, an annotator who labelled an item more than once
counts with their latest label only (a relabel replaces the label it corrects);
without it, every row is one vote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.data.frames import as_table, is_frame
from assay.data.sources import read_source
from assay.errors import UsageError, shorten
from assay.store import Store

__all__ = ["FORMS", "Annotations", "read_annotations"]

FORMS = (
    "a .csv/.tsv/.parquet/.jsonl file, a recipe (recipes/labels.yaml[:split]) or a "
    "version fingerprint or prefix ([:split])"
)


@dataclass(frozen=True)
class Annotations:
    """Votes as integer codes: vote ``v`` is annotator ``annotator[v]``'s label
    ``labels[label[v]]`` for item ``items[item[v]]``.

    ``items``, ``annotators`` and ``labels`` hold the distinct values, sorted; the code
    arrays index into them.
    """

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    items: np.ndarray
    annotators: np.ndarray
    labels: np.ndarray

    @property
    def n_votes(self) -> int:
        """How many votes (rows) there are."""
        return int(self.item.size)

    @property
    def n_items(self) -> int:
        return int(self.items.size)

    @property
    def n_annotators(self) -> int:
        return int(self.annotators.size)

    @property
    def n_classes(self) -> int:
        return int(self.labels.size)

    def counts(self) -> np.ndarray:
        """Votes per item and label, an ``(n_items, n_classes)`` matrix."""
        flat = self.item * self.n_classes + self.label
        return np.bincount(flat, minlength=self.n_items * self.n_classes).reshape(
            self.n_items, self.n_classes
        )

    @classmethod
    def from_arrays(cls, item: Any, annotator: Any, label: Any) -> Annotations:
        """Encode three equally long sequences of values (one vote per position): numpy
        or Arrow arrays, or lists."""
        items, item_codes = _encode(item, "item")
        annotators, annotator_codes = _encode(annotator, "annotator")
        labels, label_codes = _encode(label, "label")
        return cls(item_codes, annotator_codes, label_codes, items, annotators, labels)


def _encode(values: Any, role: str) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values and each value's index among them."""
    try:
        array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise UsageError(
            f"the {role} column mixes types (e.g. numbers and text); give it one type"
        ) from None
    # Hashing, not sorting, the votes: only the distinct values are sorted.
    distinct = pc.drop_null(pc.unique(array))
    distinct = distinct.take(pc.sort_indices(distinct))
    codes = pc.index_in(array, value_set=distinct)
    if codes.null_count:
        raise UsageError(f"{codes.null_count:,} votes have no {role}; fill them in or drop them")
    return (
        distinct.to_numpy(zero_copy_only=False),
        codes.to_numpy(zero_copy_only=False).astype(np.int64),
    )


def read_annotations(
    source: Any,
    *,
    item: str,
    annotator: str,
    label: str,
    time: str | None = None,
    store: Store | None = None,
) -> Annotations:
    """The votes in ``source`` (a frame or one of ``FORMS``), encoded.

    Raises ``UsageError`` naming the column or the input when a column is missing, an
    item or annotator is null, or no vote is left.
    """
    if not (is_frame(source) or isinstance(source, str | os.PathLike)):
        raise UsageError(
            f"annotations of type {type(source).__name__}: give a frame (pyarrow, pandas, "
            f"Polars) or {FORMS}"
        )
    name = "the annotations" if is_frame(source) else shorten(str(source), quote="'")
    table = (
        as_table(source, what="the annotations") if is_frame(source) else _read(str(source), store)
    )
    columns = [item, annotator, label] + ([time] if time is not None else [])
    for column, option in zip(
        columns, ("--item", "--annotator", "--label", "--time"), strict=False
    ):
        if column not in table.column_names:
            known = shorten(", ".join(table.column_names))
            raise UsageError(f"{option} {column!r} is not a column of {name} (columns: {known})")
    table = table.select(columns)
    for column in (item, annotator):
        nulls = table[column].null_count
        if nulls:
            raise UsageError(
                f"{nulls:,} rows of {name} have no {column!r}; fill them in or drop those rows"
            )
    table = table.filter(pc.is_valid(table[label]))
    if time is not None:
        table = _latest(table, item, annotator, time)
    if table.num_rows == 0:
        raise UsageError(f"{name} holds no labelled rows; check --label")
    return Annotations.from_arrays(*(table[c] for c in (item, annotator, label)))


def _latest(table: pa.Table, item: str, annotator: str, time: str) -> pa.Table:
    """Each (item, annotator)'s row with the latest ``time`` (the last one on a tie)."""
    order = pc.sort_indices(table, sort_keys=[(time, "ascending")])
    table = table.take(order).append_column("_row", pa.array(np.arange(table.num_rows)))
    last = table.group_by([item, annotator], use_threads=False).aggregate([("_row", "max")])
    return table.take(last["_row_max"]).drop_columns(["_row"])


def _read(text: str, store: Store | None) -> pa.Table:
    """The rows a data file, a recipe[:split] or a fingerprint[:split] names."""
    table = read_source(text, store)
    if table is None:
        given = shorten(text.strip(), quote="'")
        raise UsageError(f"{given} names no annotations; give {FORMS}")
    return table
