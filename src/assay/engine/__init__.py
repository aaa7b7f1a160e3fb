"""The engine: where table work runs, through Ibis (DuckDB embedded by default).

assay expresses filters, projections and aggregates as Ibis expressions so the same
code can run on another backend later; what must agree across engines (key hashes,
splits, op replay) is computed by assay itself, never by the engine.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from assay.errors import MissingDependency

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
        # Extensions cannot be downloaded here (nor on many locked-down hosts); remote
        # objects are read through fsspec instead of DuckDB's httpfs.
        self.con.raw_sql("SET autoinstall_known_extensions = false")
        self.con.raw_sql("SET autoload_known_extensions = false")
        self._registered: dict[str, str] = {}

    def read_parquet(self, objects: ObjectStore, keys: list[str]) -> ibis.Table:
        """An Ibis table over stored Parquet objects, read where they lie."""
        paths = [self._readable(objects, k) for k in keys]
        return self.read_parquet_files(paths)

    @staticmethod
    def quiet() -> AbstractContextManager[None]:
        """A block in which Ibis may use the DuckDB call DuckDB 2 deprecates, silently."""
        return _quiet()

    def read_parquet_files(self, paths: list[str], *, row_numbers: bool = False) -> ibis.Table:
        """An Ibis table over Parquet files; ``row_numbers`` adds ``file_row_number``."""
        with _quiet():
            return self.con.read_parquet(
                paths if len(paths) > 1 else paths[0], file_row_number=row_numbers
            )

    def _readable(self, objects: ObjectStore, key: str) -> str:
        local = objects.local_path(key)
        if local is not None:
            return local
        # DuckDB cannot download its httpfs extension here (and Ibis asks for it on
        # any s3:// path), so remote objects are read through fsspec, registered
        # with DuckDB under a protocol name of assay's own.
        protocol = self._registered.get(objects.url)
        if protocol is None:
            from fsspec.implementations.dirfs import DirFileSystem

            protocol = f"assay{len(self._registered)}"
            fs_class = type("AssayObjects", (DirFileSystem,), {"protocol": protocol})
            fs = getattr(objects, "fs", None)
            root = getattr(objects, "root", None)
            if fs is None or root is None:
                raise MissingDependency(
                    f"objects at {objects.url} cannot be read by the engine; use an fsspec URL"
                )
            self.con.con.register_filesystem(fs_class(path=root, fs=fs))
            self._registered[objects.url] = protocol
        return f"{protocol}://{key}"

    def table(self, data: pa.Table) -> ibis.Table:
        """An Ibis table over an in-memory Arrow table (no copy on DuckDB)."""
        return ibis.memtable(data)

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        """Run ``expr`` and return its result as one Arrow table."""
        with _quiet():
            return self.con.to_pyarrow(expr)

    def batches(self, expr: ibis.Table, chunk_size: int = 1 << 20) -> pa.RecordBatchReader:
        """Run ``expr`` and stream its rows, in the engine's output order."""
        # Ibis 12's own to_pyarrow_batches calls a cursor method DuckDB 2 removed;
        # a DuckDB relation streams Arrow batches directly.
        with _quiet():
            return self.con._to_duckdb_relation(expr).to_arrow_reader(chunk_size)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the one deprecation DuckDB 2 raises inside Ibis 12 (its own use of
    ``fetch_arrow_table``): nothing a user can act on, and it breaks test suites run
    with ``filterwarnings = error``. Every other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning
        )
        yield


_local = threading.local()


def default_engine() -> Engine:
    """This thread's embedded DuckDB engine, created on first use."""
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = Engine()
    return engine
