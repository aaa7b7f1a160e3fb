"""Frames in: anything that exports Arrow is read through one door (data/frames.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data import read_delta
from assay.data.frames import as_table, describe
from assay.data.schema import FileOptions
from assay.errors import UsageError
from tests_helpers import year


@pytest.fixture(scope="module")
def rows(acs: pa.Table) -> pa.Table:
    """2,000 real rows of 2016: integers, doubles and text."""
    table = year(acs, 2016).slice(0, 2000)
    return table.append_column("note", pa.array([f"n{i % 7}" for i in range(len(table))]))


def _frames(table: pa.Table) -> dict[str, Any]:
    """The same rows in every form the door takes."""
    filtered = table.to_pandas()
    # A filtered pandas frame keeps its row labels; they are not data.
    filtered.index = filtered.index + 10
    return {
        "pyarrow": table,
        "batch": table.combine_chunks().to_batches()[0],
        "stream": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(300)),
        "pandas": filtered,
        "polars": pl.from_arrow(table),
        "duckdb": duckdb.connect().from_arrow(table),
    }


def test_every_frame_reads_as_the_same_table(rows: pa.Table) -> None:
    for kind, frame in _frames(rows).items():
        got = as_table(frame)
        # Polars hands text over as string views: the same values, another layout.
        got = got.cast(pa.schema([(f.name, rows.schema.field(f.name).type) for f in got.schema]))
        assert got.column_names == rows.column_names, kind
        assert got.equals(rows), kind
    assert describe(pl.DataFrame()) == "Polars DataFrame"
    assert describe(duckdb.sql("SELECT 1")) == "DuckDB relation"
    assert describe(pd.DataFrame()) == "pandas DataFrame"


@pytest.mark.parametrize(
    ("thing", "message"),
    [
        ([1, 2], "expected a table: a pyarrow Table, or a Polars, pandas or DuckDB frame, got "
         "list; pass a pyarrow/polars/pandas frame"),
        (pl.Series("x", [1]), "expected a table: rows of named columns, got Series, one column; "
         "pass a frame of columns (e.g. series.to_frame())"),
    ],
)  # fmt: skip
def test_anything_else_is_refused_naming_its_type(thing: Any, message: str) -> None:
    with pytest.raises(UsageError) as e:
        as_table(thing)
    assert str(e.value) == message


def test_a_frame_is_the_same_delta_as_its_parquet_file(
    store: assay.Store, rows: pa.Table, tmp_path: Path
) -> None:
    path = tmp_path / "y2016.parquet"
    pq.write_table(rows, path)
    assay.create_dataset(store, "file", ["id"], label="employed")
    want = assay.add_delta(store, "file", path).delta
    for kind, frame in _frames(rows).items():
        assay.create_dataset(store, kind, ["id"], label="employed")
        added = assay.add_delta(store, kind, frame, name="y2016")
        assert added.created and added.delta.delta_id == want.delta_id, kind
        assert added.delta.row_count == len(rows)
        assert read_delta(store, added.delta).equals(read_delta(store, want))
    # Added again, the same content is a no-op, whichever form it comes in.
    again = assay.add_delta(store, "file", pl.from_arrow(rows), name="again")
    assert not again.created and again.delta.name == "y2016"


def test_a_frame_needs_a_name_and_no_file_options(store: assay.Store, rows: pa.Table) -> None:
    assay.create_dataset(store, "d", ["id"])
    with pytest.raises(UsageError, match=r"^a delta from a Polars DataFrame needs a name; pass"):
        assay.add_delta(store, "d", pl.from_arrow(rows))
    with pytest.raises(UsageError, match=r"got dict; pass a pyarrow/polars/pandas frame$"):
        assay.add_delta(store, "d", {"id": [1]}, name="x")
    with pytest.raises(UsageError, match=r"^file options \(encoding, renames, drops\) apply to"):
        assay.add_delta(store, "d", rows, name="x", options=FileOptions(encoding="cp1252"))
    assert store.catalog.list_deltas("d") == []
