"""The engine contract: what assay asks of a place where table work runs.

An engine holds an Ibis connection and answers one primitive, ``batches`` (an
expression's rows as a stream of Arrow record batches); everything else derives from
it or is a small, named capability. What must agree across engines (key hashes,
splits, op replay, balance caps) is computed by assay itself, never by the engine;
what an engine cannot do fails naming it ("spark does not support …").
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import ibis
import ibis.expr.operations as ops
import numpy as np
import pyarrow as pa

from assay.errors import EngineUnsupported, MissingDependency

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from assay.store.objects import ObjectStore

__all__ = ["FILE_NUMBER_COLUMN", "ROW_NUMBER_COLUMN", "Engine"]

#: The column ``read_parquet_files(..., row_numbers=True)`` adds: 0-based row positions.
ROW_NUMBER_COLUMN = "file_row_number"
#: The column ``read_parquet_in_order`` adds: each row's file, its 0-based position in
#: the paths given.
FILE_NUMBER_COLUMN = "_assay_file_number"
_MASK_ROW = "__assay_mask_row"


class Engine(ABC):
    """An Ibis connection plus the few things assay needs around it."""

    #: The engine's name, as ``--engine``, ``ASSAY_ENGINE`` and ``assay.json`` spell it.
    name: ClassVar[str]
    #: Rows come out of a scan, filter or projection in file order. Where this is
    #: False, assay adds an explicit ordering wherever order matters (compose).
    preserves_scan_order: ClassVar[bool] = False

    con: BaseBackend

    def __init__(self) -> None:
        self._memtables: set[str] = set()
        self._dropped: list[str] = []  # in-memory tables Ibis let go of, to unregister
        self._downloads: dict[tuple[str, str], str] = {}
        self._download_dir: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- the primitive ------------------------------------------------------------------

    def batches(self, expr: ibis.Expr, chunk_size: int = 1 << 20) -> pa.RecordBatchReader:
        """Run ``expr`` and stream its rows as Arrow batches, in the engine's output order.

        The batches are the caller's: no other object holds their memory, so the caller
        may change it in place (compose compacts superseded rows away so). Close the reader (or use it as a context manager) when stopping early: an
        open result may hold the engine's connection.
        """
        table = expr.as_table()
        self._register_memtables(table)
        reader = self._run(table, chunk_size)
        # Every engine answers in the expression's own (Ibis) types: DuckDB sums
        # integers to HUGEINT, Spark's timestamps carry a time zone.
        target = table.schema().to_pyarrow()
        if reader.schema.equals(target):
            return reader
        return pa.RecordBatchReader.from_batches(target, _cast_stream(reader, target))

    @abstractmethod
    def _run(self, table: ibis.Table, chunk_size: int) -> pa.RecordBatchReader:
        """Stream ``table``'s rows (its in-memory inputs are registered already)."""

    # -- derived helpers ------------------------------------------------------------------

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        """Run ``expr`` and return its result as one Arrow table."""
        with self.batches(expr) as reader:
            return reader.read_all()

    def table(self, data: pa.Table) -> ibis.Table:
        """An Ibis table over an in-memory Arrow table (registered when first run)."""
        return ibis.memtable(data)

    def mask(
        self, data: pa.Table, predicate: Callable[[ibis.Table], ibis.BooleanValue]
    ) -> np.ndarray:
        """Which rows of ``data`` satisfy ``predicate`` (null counts as no), in its order.

        ``predicate`` builds the condition on the Ibis table it is given.
        """
        rows = pa.array(np.arange(data.num_rows, dtype=np.int64))
        t = self.table(data.append_column(_MASK_ROW, rows))
        picked = t.select(_MASK_ROW, m=predicate(t).fill_null(False))
        if not self.preserves_scan_order:
            picked = picked.order_by(_MASK_ROW)
        got = self.to_arrow(picked).column("m")
        return np.asarray(got.to_numpy(zero_copy_only=False), dtype=bool)

    def read_parquet(self, objects: ObjectStore, keys: Sequence[str]) -> ibis.Table:
        """An Ibis table over stored Parquet objects."""
        return self.read_parquet_files([self._readable(objects, k) for k in keys])

    @abstractmethod
    def read_parquet_files(self, paths: Sequence[str], *, row_numbers: bool = False) -> ibis.Table:
        """An Ibis table over Parquet files; ``row_numbers`` adds ``file_row_number``."""

    def read_parquet_in_order(self, paths: Sequence[str]) -> ibis.Table:
        """One scan of several Parquet files whose rows come out file after file, each
        file's in its order, with ``FILE_NUMBER_COLUMN`` (which file). Columns are
        matched by name; a column a file lacks is null in its rows.

        One query instead of one per file. Only an engine that preserves scan order
        can offer it.
        """
        raise EngineUnsupported(self.name, "ordered scans of several files")

    def create_view(self, expr: ibis.Table, name: str) -> ibis.Table:
        """Name ``expr`` as a view (a named query, nothing stored) and return it."""
        raise EngineUnsupported(self.name, "named views")

    def drop_view(self, name: str) -> None:
        """Drop a view made by ``create_view`` or a table made by ``read_parquet_files``."""
        raise EngineUnsupported(self.name, "dropping views")

    def quiet(self) -> AbstractContextManager[None]:
        """A block in which the engine's known, unactionable warnings stay silent."""
        return nullcontext()

    def close(self) -> None:
        """Release what the engine holds on disk (downloaded objects)."""
        if self._download_dir is not None:
            shutil.rmtree(self._download_dir, ignore_errors=True)
            self._download_dir = None
            self._downloads.clear()

    # -- what implementations provide ------------------------------------------------------

    @abstractmethod
    def _register(self, name: str, data: pa.Table) -> None:
        """Make ``data`` queryable under ``name``."""

    @abstractmethod
    def _unregister(self, name: str) -> None:
        """Forget what ``_register`` made queryable under ``name``."""

    def _remote_path(self, objects: ObjectStore, key: str) -> str:
        """A path the engine can read a remote object at: by default a local copy.

        Stored objects are immutable (content-addressed), so one download per engine
        and key serves every later read.
        """
        cached = self._downloads.get((objects.url, key))
        if cached is not None:
            return cached
        if self._download_dir is None:
            self._download_dir = tempfile.mkdtemp(prefix=f"assay-{self.name}-")
            weakref.finalize(self, shutil.rmtree, self._download_dir, True)
        local = Path(self._download_dir, f"{len(self._downloads)}.parquet")
        with objects.open(key) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        self._downloads[(objects.url, key)] = str(local)
        return str(local)

    # -- shared plumbing ------------------------------------------------------------------

    def _readable(self, objects: ObjectStore, key: str) -> str:
        local = objects.local_path(key)
        if local is not None:
            return local
        if getattr(objects, "open", None) is None:
            raise MissingDependency(f"objects at {objects.url} cannot be read by {self.name}")
        return self._remote_path(objects, key)

    def _register_memtables(self, table: ibis.Table) -> None:
        """Register the expression's in-memory tables on this engine, once each; each is
        unregistered once Ibis drops the table (its node is garbage-collected), at the
        engine's next query."""
        self._unregister_dropped()
        for op in table.op().find(ops.InMemoryTable):
            if op.name in self._memtables:
                continue
            self._register(op.name, op.data.to_pyarrow(op.schema))
            self._memtables.add(op.name)
            weakref.finalize(op, self._dropped.append, op.name)

    def _unregister_dropped(self) -> None:
        """Unregister the in-memory tables dropped since the last query. Not in the
        finalizer itself: that runs on whichever thread the garbage collector does, and
        a DuckDB connection refuses a call while another thread is in one (a compose
        worker's collection then failed the main thread's query, now and then)."""
        while self._dropped:
            name = self._dropped.pop()
            if name in self._memtables:
                self._memtables.discard(name)
                with contextlib.suppress(Exception):
                    self._unregister(name)


def _cast_stream(reader: pa.RecordBatchReader, target: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``reader``'s batches in ``target``'s types; the source closes with the stream."""
    try:
        for batch in reader:
            yield batch.cast(target)
    finally:
        reader.close()
