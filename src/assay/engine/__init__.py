"""The engine: where table work runs, through Ibis (DuckDB embedded by default).

assay expresses filters, projections and aggregates as Ibis expressions so the same
code can run on another backend later; what must agree across engines (key hashes,
splits, op replay) is computed by assay itself, never by the engine.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from assay.store import ObjectStore

__all__ = ["Engine", "default_engine"]


class Engine:
    """An Ibis connection plus the few conveniences assay needs around it."""

    #: DuckDB keeps row order through scans, filters and projections, which lets
    #: compose produce its deterministic order without a sort.
    preserves_scan_order = True

    def __init__(self, threads: int | None = None):
        self.con = ibis.duckdb.connect()
        self.threads = threads or os.cpu_count() or 1
        self.con.raw_sql(f"SET threads = {int(self.threads)}")
        self._registered: set[str] = set()

    def read_parquet(self, objects: ObjectStore, keys: list[str]) -> ibis.Table:
        """An Ibis table over stored Parquet objects, read where they lie."""
        paths = [self._readable(objects, k) for k in keys]
        return self.con.read_parquet(paths if len(paths) > 1 else paths[0])

    def _readable(self, objects: ObjectStore, key: str) -> str:
        local = objects.local_path(key)
        if local is not None:
            return local
        # DuckDB cannot download its httpfs extension here; hand it fsspec instead.
        fs = getattr(objects, "fs", None)
        if fs is not None and objects.url not in self._registered:
            self.con.con.register_filesystem(fs)
            self._registered.add(objects.url)
        return objects.uri(key)

    def table(self, data: pa.Table) -> ibis.Table:
        """An Ibis table over an in-memory Arrow table (no copy on DuckDB)."""
        return ibis.memtable(data)

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        """Run ``expr`` and return its result as one Arrow table."""
        return self.con.to_pyarrow(expr)

    def batches(self, expr: ibis.Table, chunk_size: int = 1 << 20) -> pa.RecordBatchReader:
        """Run ``expr`` and stream its rows, in the engine's output order."""
        # Ibis 12's own to_pyarrow_batches calls a cursor method DuckDB 2 removed;
        # a DuckDB relation streams Arrow batches directly.
        return self.con._to_duckdb_relation(expr).to_arrow_reader(chunk_size)


_local = threading.local()


def default_engine() -> Engine:
    """This thread's embedded DuckDB engine, created on first use."""
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = Engine()
    return engine
