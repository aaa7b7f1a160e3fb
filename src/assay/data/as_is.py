"""Deltas stored as given: an insert's Parquet file kept byte for byte (issue 13).

A canonical delta is rewritten at ingest: every row decoded, sorted by key, hashed value
by value, counted and encoded again, which takes minutes for a 1 GiB file. A Parquet
file whose columns already have assay's canonical types can instead be stored as it
is (``add_delta(as_is=True)``, decision 81): ingest hashes its bytes, reads only its key
(and label) columns, takes counts, nulls, minima and maxima from its footer, and copies
it. Its rows are composed in the file's order; readers compute their key hashes from
the key columns (``row_hashes``) where a canonical object has them stored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.data.hashing import key_hash
from assay.data.schema import (
    SUPPORTED_SUFFIXES,
    check_names,
    fit_to_schema,
    normal_type,
    type_name,
)
from assay.errors import InputFileError, SchemaError, UsageError
from assay.store import DatasetInfo

__all__ = [
    "MAX_ROW_GROUP",
    "GivenFile",
    "footer_stats",
    "jsonable",
    "open_given",
    "row_hashes",
]

#: The most rows a row group of a file stored as given may hold: compose reads a row
#: group at a time, so this bounds its memory (pyarrow writes 1Mi-row groups by default).
MAX_ROW_GROUP = 1 << 20
_DROP = "drop --as-is to have assay rewrite it"


@dataclass(frozen=True)
class GivenFile:
    """A Parquet file checked to be storable as given, and what ingest needs of it."""

    path: str
    rows: int
    schema: list[tuple[str, str]]  # the dataset's schema, with the file's new columns
    added: list[str]
    read: list[str]  # the key columns (and the label column, where the dataset has one)
    stats: dict[str, Any]

    def read_keys(self) -> pa.Table:
        """The file's key (and label) columns, its row groups decoded on every core."""
        return _read_columns(self.path, pq.ParquetFile(self.path), self.read)


def open_given(path: str, info: DatasetInfo, source: str) -> GivenFile:
    """Check from its footer that the Parquet file at ``path`` can join ``info`` as it
    is (``read_keys`` then reads its keys). ``UsageError``/``SchemaError`` name what
    stands in the way (a CSV file, a type assay would convert, a huge row group)."""
    if Path(path).is_dir():
        raise InputFileError(f"{str(path)!r} is a folder; give a Parquet file")
    kind = SUPPORTED_SUFFIXES.get(Path(path).suffix.lower())
    if kind != "parquet":
        raise UsageError(f"{source}: --as-is stores Parquet files as they are; {_DROP}")
    try:
        # ParquetFile, unlike read_table, does not import pandas for a file pandas
        # wrote (0.3 s).
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        file_schema = parquet.schema_arrow.remove_metadata()
    except FileNotFoundError:
        raise InputFileError(f"file {path!r} does not exist; check the path") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise InputFileError(f"{source} is not a readable Parquet file ({e})") from None
    check_names(file_schema.names, Path(path))
    for f in file_schema:
        if f.name.startswith("_assay_"):
            raise SchemaError(f"{source}: column names starting with '_assay_' are reserved")
        if pa.types.is_null(f.type) or not f.type.equals(normal_type(f.name, f.type)):
            wanted = "a type" if pa.types.is_null(f.type) else normal_type(f.name, f.type)
            raise SchemaError(
                f"{source}: column {f.name!r} is {f.type}, which assay stores as {wanted}; "
                f"write the file with that type, or {_DROP}"
            )
    missing = [k for k in info.key if k not in file_schema.names]
    if missing:
        raise SchemaError(
            f"{source} lacks key column(s) {', '.join(map(repr, missing))} of dataset "
            f"{info.name!r}; rename the column or check --key of the dataset"
        )
    if info.label and info.label not in file_schema.names:
        raise SchemaError(
            f"{source} lacks the label column {info.label!r} of dataset {info.name!r}"
        )
    # Schema.empty_table() imports pandas (pyarrow checks whether it has a pandas
    # object in hand): 0.3-0.6 s of a commit. An empty table of batches does not.
    empty = pa.Table.from_batches([], schema=file_schema)
    fitted, schema, added = fit_to_schema(empty, info.schema, source=source)
    if not fitted.schema.equals(file_schema):
        changed = next(
            f.name for f, g in zip(file_schema, fitted.schema, strict=True) if f.type != g.type
        )
        raise SchemaError(
            f"{source}: column {changed!r} would be converted to the dataset's "
            f"{dict(info.schema)[changed]}; {_DROP}"
        )
    if meta.num_rows == 0:
        raise UsageError(f"{source} has no rows; nothing to add")
    largest = max(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    if largest > MAX_ROW_GROUP:
        raise UsageError(
            f"{source} has a row group of {largest:,} rows, more than the {MAX_ROW_GROUP:,} "
            f"compose reads at once; write it with row_group_size={MAX_ROW_GROUP} or {_DROP}"
        )
    read = list(info.key) + ([info.label] if info.label and info.label not in info.key else [])
    return GivenFile(
        path=path,
        rows=meta.num_rows,
        schema=schema,
        added=added,
        read=read,
        stats=footer_stats(meta, file_schema),
    )


def _read_columns(path: str, parquet: pq.ParquetFile, columns: list[str]) -> pa.Table:
    """``columns`` of the file, its row groups decoded on every core, each thread with
    its own reader (4x faster here for 33M keys than ``ParquetFile.read``, whose
    threads split the columns, not the rows)."""
    groups = parquet.metadata.num_row_groups
    workers = min(os.cpu_count() or 1, groups)
    if workers < 2:
        return parquet.read(columns=columns, use_threads=False)
    spans = np.array_split(np.arange(groups), workers)

    def read(span: np.ndarray) -> pa.Table:
        reader = pq.ParquetFile(path)
        return reader.read_row_groups(span.tolist(), columns=columns, use_threads=False)

    with ThreadPoolExecutor(workers, thread_name_prefix="assay-keys") as pool:
        return pa.concat_tables(pool.map(read, spans))


def footer_stats(meta: pq.FileMetaData, schema: pa.Schema) -> dict[str, Any]:
    """Each column's type, count and nulls, and min and max of numbers and times, from
    the Parquet footer's statistics. A canonical delta's statistics also give distinct
    counts, means and standard deviations; readers compute those when they need them.
    Min and max are left out where a row group with values has no statistics."""
    out: dict[str, Any] = {}
    groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
    for i, f in enumerate(schema):
        stats = [(rg.num_rows, rg.column(i).statistics) for rg in groups]
        stat: dict[str, Any] = {"type": type_name(f.type)}
        out[f.name] = stat
        if any(s is None or not s.has_null_count for _, s in stats):
            continue  # a writer that kept no counts: readers count for themselves
        nulls = sum(s.null_count for _, s in stats)
        stat |= {"count": meta.num_rows - nulls, "nulls": nulls}
        t = f.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)):
            continue
        filled = [s for n, s in stats if s.null_count < n]
        if filled and all(s.has_min_max for s in filled):
            stat["min"] = jsonable(min(s.min for s in filled))
            stat["max"] = jsonable(max(s.max for s in filled))
    return out


def jsonable(value: Any) -> Any:
    """A statistic as JSON holds it: infinities and NaN as text, times in ISO 8601."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def row_hashes(rows: pa.Table | pa.RecordBatch, key: Sequence[str]) -> np.ndarray:
    """The key hash of each row of ``rows`` computed from its key columns (a canonical
    delta has them stored; one stored as given does not)."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
    return key_hash(table, key)
