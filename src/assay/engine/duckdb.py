"""The DuckDB engine: embedded, in process, the default."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, ClassVar

import ibis
import pyarrow as pa

from assay.engine.base import FILE_NUMBER_COLUMN, Engine
from assay.errors import MissingDependency
from assay.quiet import quiet

if TYPE_CHECKING:
    from assay.store.objects import ObjectStore

__all__ = ["DuckDBEngine", "default_engine"]


class DuckDBEngine(Engine):
    """An embedded DuckDB database (one per thread: a connection is not thread-safe)."""

    name: ClassVar[str] = "duckdb"
    #: DuckDB keeps row order through scans, filters and projections (with
    #: ``preserve_insertion_order``, its default), which lets compose produce its
    #: deterministic order without a sort.
    preserves_scan_order: ClassVar[bool] = True

    def __init__(self, threads: int | None = None):
        super().__init__()
        self.con = ibis.duckdb.connect()
        self.threads = threads or os.cpu_count() or 1
        self.con.raw_sql(f"SET threads = {int(self.threads)}")
        # Extensions cannot be downloaded here (nor on many locked-down hosts); remote
        # objects are read through fsspec instead of DuckDB's httpfs.
        self.con.raw_sql("SET autoinstall_known_extensions = false")
        self.con.raw_sql("SET autoload_known_extensions = false")
        self._filesystems: dict[str, str] = {}

    def _run(self, table: ibis.Table, chunk_size: int) -> pa.RecordBatchReader:
        # Ibis 12's own to_pyarrow_batches calls a cursor method DuckDB 2 removed; the
        # compiled SQL runs on the DuckDB connection, whose relations stream Arrow.
        sql = self.con.compile(table)
        return self.con.con.sql(sql).to_arrow_reader(chunk_size)

    def read_parquet_files(self, paths: Sequence[str], *, row_numbers: bool = False) -> ibis.Table:
        with _quiet():
            return self.con.read_parquet(
                list(paths) if len(paths) > 1 else paths[0], file_row_number=row_numbers
            )

    def read_parquet_in_order(self, paths: Sequence[str]) -> ibis.Table:
        # DuckDB numbers the files of one read in the order listed (its ``file_index``)
        # and, keeping insertion order, yields them in that order
        # (tests/engine/test_duckdb_order.py holds it to that).
        # A view, as Ibis's read_parquet makes (Ibis 12's ``sql`` calls a DuckDB method
        # DuckDB 2 removed).
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        name = ibis.util.gen_name("assay_read_parquet")
        self.con.raw_sql(
            f'CREATE TEMPORARY VIEW "{name}" AS SELECT *, file_index AS "{FILE_NUMBER_COLUMN}" '
            f"FROM read_parquet([{files}], union_by_name = true)"
        )
        with _quiet():
            return self.con.table(name)

    def create_view(self, expr: ibis.Table, name: str) -> ibis.Table:
        self._register_memtables(expr)
        with _quiet():
            return self.con.create_view(name, expr)

    def drop_view(self, name: str) -> None:
        # Ibis 12's drop_view emits invalid SQL here ("DROP VIEW IF EXISTS" alone);
        # callers pass generated identifiers, safe to quote.
        self.con.raw_sql(f'DROP VIEW IF EXISTS "{name}"')

    def quiet(self) -> AbstractContextManager[None]:
        """A block in which Ibis may use the DuckDB call DuckDB 2 deprecates, silently."""
        return _quiet()

    def _register(self, name: str, data: pa.Table) -> None:
        self.con.con.register(name, data)  # a view over the Arrow data: no copy

    def _unregister(self, name: str) -> None:
        self.con.con.unregister(name)

    def _remote_path(self, objects: ObjectStore, key: str) -> str:
        # DuckDB cannot download its httpfs extension here (and Ibis asks for it on
        # any s3:// path), so remote objects are read in place through fsspec,
        # registered with DuckDB under a protocol name of assay's own.
        protocol = self._filesystems.get(objects.url)
        if protocol is None:
            from fsspec.implementations.dirfs import DirFileSystem

            fs = getattr(objects, "fs", None)
            root = getattr(objects, "root", None)
            if fs is None or root is None:
                raise MissingDependency(
                    f"objects at {objects.url} cannot be read by the engine; use an fsspec URL"
                )
            protocol = f"assay{len(self._filesystems)}"
            fs_class = type("AssayObjects", (DirFileSystem,), {"protocol": protocol})
            self.con.con.register_filesystem(fs_class(path=root, fs=fs))
            self._filesystems[objects.url] = protocol
        return f"{protocol}://{key}"


def _quiet() -> AbstractContextManager[None]:
    """Silence the one deprecation DuckDB 2 raises inside Ibis 12 (its own use of
    ``fetch_arrow_table``): nothing a user can act on, and it breaks test suites run
    with ``filterwarnings = error``. Every other warning still shows."""
    return quiet(r"fetch_arrow_table\(\) is deprecated", DeprecationWarning)


_local = threading.local()


_inherited: list[threading.local] = []


def _forget_engines() -> None:
    # A forked child (a DataLoader worker) keeps the forking thread's engine but not
    # DuckDB's worker threads: a query on it would wait forever. It starts its own, and
    # keeps the parent's unclosed (closing it touches those threads: a crash).
    global _local
    _inherited.append(_local)
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_engines)


def default_engine() -> DuckDBEngine:
    """This thread's embedded DuckDB engine, created on first use."""
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = DuckDBEngine()
    return engine
