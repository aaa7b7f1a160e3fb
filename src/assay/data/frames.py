"""Frames: anything that exports Arrow data, read through one door.

A frame is an object that hands over its rows as Arrow: a pyarrow ``Table``,
``RecordBatch`` or ``RecordBatchReader``, or any object with the Arrow PyCapsule
stream protocol (``__arrow_c_stream__``): Polars and pandas (≥ 2.2) data frames,
DuckDB relations. pandas goes through ``pa.Table.from_pandas`` (any version), without
its index. Nothing here imports Polars, pandas or DuckDB: the protocol is the contract.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from assay.errors import UsageError

__all__ = ["as_reader", "as_table", "describe", "is_frame"]


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "iloc")


def is_frame(obj: Any) -> bool:
    """Whether ``obj`` exports Arrow data (see the module docstring)."""
    return (
        isinstance(obj, pa.Table | pa.RecordBatch | pa.RecordBatchReader)
        or hasattr(obj, "__arrow_c_stream__")
        or _is_pandas(obj)
    )


def as_reader(obj: Any, *, what: str = "a table") -> pa.RecordBatchReader:
    """``obj``'s rows as a stream of record batches; ``UsageError`` if it is no frame.

    ``what`` names the input in the error ("expected a table: …").
    """
    if isinstance(obj, pa.RecordBatchReader):
        return obj
    if isinstance(obj, pa.Table):
        return pa.RecordBatchReader.from_batches(obj.schema, obj.to_batches())
    if isinstance(obj, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(obj.schema, [obj])
    if _is_pandas(obj):
        # The index is pandas' row labels, not data: a filtered frame's index would
        # otherwise arrive as a column ``__index_level_0__``.
        table = pa.Table.from_pandas(obj, preserve_index=False)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    if hasattr(obj, "__arrow_c_stream__"):
        try:
            return pa.RecordBatchReader.from_stream(obj)
        except pa.ArrowInvalid:  # a stream of one column's values (a Series), not of rows
            raise UsageError(
                f"expected {what}: rows of named columns, got {type(obj).__name__}, one "
                "column; pass a frame of columns (e.g. series.to_frame())"
            ) from None
    raise UsageError(
        f"expected {what}: a pyarrow Table, or a Polars, pandas or DuckDB frame, got "
        f"{type(obj).__name__}; pass a pyarrow/polars/pandas frame"
    )


def as_table(obj: Any, *, what: str = "a table") -> pa.Table:
    """``obj``'s rows as one Arrow table (a table is returned as it is)."""
    if isinstance(obj, pa.Table):
        return obj
    with as_reader(obj, what=what) as reader:
        return reader.read_all()


def describe(obj: Any) -> str:
    """A frame named for messages: "Polars DataFrame", "DuckDB relation", "Arrow table"."""
    cls = type(obj)
    if isinstance(obj, pa.Table):
        return "Arrow table"
    if isinstance(obj, pa.RecordBatch):
        return "Arrow batch"
    if isinstance(obj, pa.RecordBatchReader):
        return "Arrow stream"
    library = {"polars": "Polars", "pandas": "pandas", "duckdb": "DuckDB", "_duckdb": "DuckDB"}
    owner = library.get(cls.__module__.split(".")[0], cls.__module__.split(".")[0])
    name = "relation" if owner == "DuckDB" else cls.__name__
    return f"{owner} {name}"
