"""The data a suite runs on, whatever form it came in, as one Ibis table.

A dataset version (object, recipe or fingerprint), a file (Parquet, CSV, TSV, JSONL)
on disk or at an fsspec URL, any frame that exports Arrow (pyarrow, Polars, pandas,
DuckDB; ``data/frames.py``) or an Ibis table. Besides the table,
a source may know some answers without a scan ("metadata"): the row count, null
counts and numeric min/max from a Parquet footer, or from the delta statistics of a
version that only inserts rows.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa

from assay.engine.base import ROW_NUMBER_COLUMN
from assay.errors import UsageError
from assay.files import path_kind

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.data.expr import Expr
    from assay.engine import Engine
    from assay.store import Store

FILE_SUFFIXES = {".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson"}
_FINGERPRINT = re.compile(r"[0-9a-f]{6,64}")


@dataclass
class Source:
    """A table to check, with what is known about it before any scan."""

    description: str
    schema: dict[str, Any]  # column → Ibis dtype, in column order
    _table: Callable[[Engine], ibis.Table] = field(repr=False)
    key: list[str] = field(default_factory=list)
    slices: dict[str, Expr] = field(default_factory=dict)
    # Aggregates known without a scan: "count", "nonnull:COL", "min:COL", "max:COL".
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    dataset: str | None = None
    split: str | None = None
    version: DatasetVersion | None = None
    # A column of 0-based row positions, outside ``schema``: how samples name a failing
    # row when the data has no key.
    row_column: str | None = None
    _cached: ibis.Table | None = field(default=None, repr=False)
    # Whose engine runs the queries: a version's store's; for data from outside a
    # store, ASSAY_ENGINE's choice (DuckDB by default).
    store: Store | None = field(default=None, repr=False)

    @property
    def engine_name(self) -> str:
        """The name of ``engine``, without starting it."""
        from assay.engine import engine_name

        return self.store.engine_name if self.store is not None else engine_name()

    @property
    def engine(self) -> Engine:
        """The engine the checks run on (started on first use)."""
        from assay.engine import get_engine

        return self.store.engine if self.store is not None else get_engine()

    def table(self) -> ibis.Table:
        """The rows, as an Ibis table (read or materialised on first use)."""
        if self._cached is None:
            self._cached = self._table(self.engine)
        return self._cached


def _ibis_schema(schema: pa.Schema) -> dict[str, Any]:
    return dict(ibis.Schema.from_pyarrow(schema).items())


ROW_COLUMN = "__assay_row"


def _numbered(table: pa.Table) -> pa.Table:
    """``table`` with its 0-based row positions in ``ROW_COLUMN``."""
    return table.append_column(ROW_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def from_arrow(table: pa.Table, description: str) -> Source:
    def numbered(engine: Engine) -> ibis.Table:
        return engine.table(_numbered(table))

    return Source(description, _ibis_schema(table.schema), numbered, row_column=ROW_COLUMN)


def from_parquet(path: Path) -> Source:
    """A Parquet file, read where it lies; its footer answers counts and bounds."""
    import pyarrow.parquet as pq

    try:
        footer = pq.ParquetFile(path)  # one read of the footer: schema and statistics
        meta, schema = footer.metadata, footer.schema_arrow
    except (OSError, pa.ArrowInvalid) as e:
        raise UsageError(f"{path}: not a readable Parquet file ({e}); check the file") from None
    # The engine starts only if a query is needed: a footer may answer everything.
    return Source(
        f"file {path}",
        _ibis_schema(schema),
        lambda engine: engine.read_parquet_files([str(path)], row_numbers=True),
        metadata=_parquet_metadata(meta, schema),
        row_column=ROW_NUMBER_COLUMN,
    )


def _parquet_metadata(meta: Any, schema: pa.Schema) -> dict[str, Any]:
    known: dict[str, Any] = {"count": meta.num_rows}
    # Only top-level columns map one-to-one onto Parquet leaf columns.
    if any(pa.types.is_nested(f.type) for f in schema):
        return known
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for i, name in enumerate(names):
        if name not in schema.names:
            continue
        arrow_type = schema.field(name).type
        nulls, lo, hi, exact = 0, None, None, True
        for g in range(meta.num_row_groups):
            col = meta.row_group(g).column(i)
            stats = col.statistics
            if stats is None or not stats.has_null_count:
                exact = False
                break
            nulls += stats.null_count
            # Numbers only: text statistics may be truncated, and temporal ones need
            # the logical type's conversion to be trusted.
            if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
                if col.num_values - stats.null_count == 0:
                    continue
                if not stats.has_min_max:
                    lo = hi = float("nan")
                    continue
                lo = stats.min if lo is None else min(lo, stats.min)
                hi = stats.max if hi is None else max(hi, stats.max)
        if not exact:
            continue
        known[f"nonnull:{name}"] = meta.num_rows - nulls
        if lo is not None and lo == lo and hi == hi:  # NaN: a row group without bounds
            known[f"min:{name}"], known[f"max:{name}"] = lo, hi
    return known


def from_file(path: Path) -> Source:
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return from_parquet(path)
    from assay.data.schema import read_table_file

    return from_arrow(read_table_file(path), f"file {path}")


def from_version(version: DatasetVersion, split: str | None = None) -> Source:
    """A dataset version: rows materialised only if some expectation needs a scan."""
    from assay.data.compose import SPLIT_COLUMN
    from assay.data.schema import arrow_type

    recipe = version.recipe
    columns = [c for c in version.dataset.columns if recipe.columns is None or c in recipe.columns]
    arrow = pa.schema(
        [pa.field(c, arrow_type(t)) for c, t in version.dataset.schema if c in columns]
        + [pa.field(SPLIT_COLUMN, pa.string())]
    )
    if split is not None:
        names = [n for n, _ in recipe.split.ordered()]
        if split not in names:
            raise UsageError(
                f"version {version.short} has no split {split!r} (splits: {', '.join(names)})"
            )
    desc = f"version {version.short} of {version.dataset.name}"
    return Source(
        desc + (f" (split {split})" if split else ""),
        _ibis_schema(arrow),
        lambda engine: engine.table(_numbered(version.to_arrow(split=split))),
        key=list(version.dataset.key),
        slices=dict(recipe.slice_exprs()),
        metadata={} if split is not None else _delta_metadata(version, columns),
        fingerprint=version.fingerprint,
        dataset=version.dataset.name,
        split=split,
        version=version,
        row_column=ROW_COLUMN,
        store=version.store,
    )


def _delta_metadata(version: DatasetVersion, columns: list[str]) -> dict[str, Any]:
    """Counts and bounds summed from the deltas' statistics, when they add up.

    They do only when every delta inserts (an upsert or delete changes rows the
    statistics counted) and the recipe neither filters nor rebalances rows.
    """
    recipe = version.recipe
    if recipe.where is not None or recipe.balance is not None:
        return {}
    if any(d.op != "insert" for d in version.deltas):
        return {}
    total = sum(d.row_count for d in version.deltas)
    known: dict[str, Any] = {"count": total}
    types = dict(version.dataset.schema)
    for c in columns:
        nonnull: int | None = 0
        lo, hi, bounded = None, None, types.get(c, "").startswith(("int", "float"))
        for d in version.deltas:
            s = d.stats.get(c)
            if s is None:  # a column added later: null in this delta's rows
                continue
            if "count" not in s:  # a file stored as given whose writer kept no counts
                nonnull = None
                break
            nonnull += s["count"]
            if bounded and s.get("count"):
                if not isinstance(s.get("min"), int | float) or not isinstance(
                    s.get("max"), int | float
                ):
                    bounded = False
                    continue
                lo = s["min"] if lo is None else min(lo, s["min"])
                hi = s["max"] if hi is None else max(hi, s["max"])
        if nonnull is None:
            continue
        known[f"nonnull:{c}"] = nonnull
        if bounded and lo is not None:
            known[f"min:{c}"], known[f"max:{c}"] = lo, hi
    return known


def resolve(data: Any, *, store: Store | None = None, split: str | None = None) -> Source:
    """A ``Source`` for any supported kind of data (see the module docstring)."""
    # A version exists only once compose is imported; checking a file does not import
    # it (with the store and its catalog: 0.8 s of a 5 s check of 10M rows).
    compose = sys.modules.get("assay.data.compose")
    if compose is not None and isinstance(data, compose.DatasetVersion):
        return from_version(data, split)
    if split is not None and not _names_version(data):
        raise UsageError("--split applies to dataset versions (a recipe or a fingerprint) only")
    if isinstance(data, ibis.Table):  # before frames: an Ibis table also exports Arrow
        return Source("Ibis table", dict(data.schema().items()), lambda _: data)
    from assay.data import frames

    if frames.is_frame(data):  # Arrow, Polars, pandas, DuckDB: one door
        table = frames.as_table(data, what="data to check")
        return from_arrow(table, f"{frames.describe(data)} ({table.num_rows:,} rows)")
    if isinstance(data, str | os.PathLike):
        return _from_name(os.fspath(data), store=store, split=split)
    from assay.data.recipe import Recipe

    if isinstance(data, Recipe | dict):
        from assay.data.compose import resolve_version

        return from_version(resolve_version(data, store=store), split)
    raise UsageError(
        f"cannot check a {type(data).__name__}; give a dataset version, a recipe, a "
        "fingerprint, a file, a pandas/Polars DataFrame or an Arrow table"
    )


def _is_url(text: str) -> bool:
    """``is_url``, importing the store package (and its catalog: 0.5 s) only for text
    that may be a URL: checking a local file needs no store."""
    if "://" not in text and "::" not in text:
        return False
    from assay.store.urls import is_url

    return is_url(text)


def _names_version(data: Any) -> bool:
    from assay.data.recipe import Recipe

    if isinstance(data, Recipe | dict):
        return True
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        return path.suffix.lower() in {".yaml", ".yml"} or (
            path_kind(path) is None and bool(_FINGERPRINT.fullmatch(str(data)))
        )
    return False


def _from_name(text: str, *, store: Store | None, split: str | None) -> Source:
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        from assay.data.compose import resolve_version

        return from_version(resolve_version(text, store=store), split)
    if _is_url(text):
        from assay.store.urls import fetched

        if suffix not in FILE_SUFFIXES:
            raise UsageError(
                f"{text}: cannot tell what kind of file this is; give the URL of a .parquet, "
                ".csv, .tsv or .jsonl file"
            )
        # Read whole while the local copy exists: the copy is removed straight after.
        with fetched(text) as copy:
            from assay.data.schema import read_table_file

            return from_arrow(read_table_file(copy.path), f"file {text}")
    kind = path_kind(path)
    if kind == "file":
        if suffix not in FILE_SUFFIXES:
            raise UsageError(
                f"{text}: cannot tell what kind of file this is; give a .parquet, .csv, "
                ".tsv, .jsonl file or a recipe (.yaml)"
            )
        return from_file(path)
    if kind == "folder":
        raise UsageError(f"{text} is a folder; give a file, a recipe or a fingerprint")
    if _FINGERPRINT.fullmatch(text):
        from assay.data.compose import find_version

        return from_version(find_version(text, store=store), split)
    raise UsageError(
        f"{text}: no such file, and not a version fingerprint; give a recipe (.yaml), "
        "a fingerprint (6+ hex digits) or a data file"
    )
