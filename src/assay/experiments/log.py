"""The prediction log: one row per answer, appended in batches to Parquet in the store.

Every live request leaves exactly one ``live`` row; every shadow prediction of it leaves
one ``shadow`` row with the same ``request_id``. Rows are queued by the request path
(never blocking it) and written by a background thread as immutable objects

    experiments/<experiment>/log/<worker>/<sequence>-<writer tag>.parquet

each worker (one server process) under its own folder, so any number of servers write
without coordinating and a reader sees all of them by listing the folder (the tag keeps
two writers given one worker name, a restarted server, from overwriting each other). A file is
written whole or not at all; what a crash loses is the rows still queued (at most
``flush_rows`` rows or ``flush_seconds`` of traffic; ``close`` writes them).

The schema (``LOG_SCHEMA``; documented in docs/serving.md, read by the analysis and
by the drift diagnostics):

| column | type | what |
| --- | --- | --- |
| request_id | string | unique per request (32 hex digits) |
| time | timestamp[ms, UTC] | when the request arrived |
| experiment, endpoint | string | from the config |
| role | string | ``live`` (answered the caller) or ``shadow`` (a copy, never returned) |
| sticky_key | string, null | the request's sticky key; null when it had none |
| arm | string | the arm the request was assigned to (shadow rows: the live row's arm) |
| model | string | the model version that produced ``outputs``, as ``NAME@VERSION`` |
| inputs | string | the records, JSON (a list, even for one record) |
| outputs | string, null | the predictions, JSON (a list, one per record); null on error |
| latency_ms | float64 | time spent predicting |
| status | string | ``ok``, ``fallback`` (the arm's model failed; control answered), ``error``, ``timeout``, ``dropped`` |
| error | string, null | the failure, one line |
| weights | string | the arm shares in force when it was assigned, JSON |
| worker | string | the server process that wrote it |
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.store import Store

__all__ = [
    "LOG_SCHEMA",
    "ROLES",
    "STATUSES",
    "LogWriter",
    "dumps",
    "log_prefix",
    "read_log",
    "worker_id",
]

LOG_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("experiment", pa.string(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("sticky_key", pa.string()),
        pa.field("arm", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("inputs", pa.string(), nullable=False),
        pa.field("outputs", pa.string()),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("weights", pa.string(), nullable=False),
        pa.field("worker", pa.string(), nullable=False),
    ]
)
ROLES = ("live", "shadow")
_WRITTEN = "_assay_written"  # a row's position in the workers' files, while reading
STATUSES = ("ok", "fallback", "error", "timeout", "dropped")


def log_prefix(experiment: str) -> str:
    """The folder of an experiment's log objects in the store."""
    return f"experiments/{experiment}/log/"


def worker_id() -> str:
    """A name for this process's log folder: host, pid and a random tail (pids repeat)."""
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())
    return f"{host[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LogWriter:
    """Queues log rows and writes them in batches from a background thread.

    ``append`` never blocks and never raises for a store problem: a batch that cannot
    be written stays queued and is tried again at the next flush (``failures`` counts
    the attempts that failed). A row that does not fit ``LOG_SCHEMA`` is dropped when
    its batch is written (``rejected`` counts them, ``last_rejection`` says why): kept,
    it would fail every batch after it. ``close`` writes everything still queued.
    """

    def __init__(
        self,
        store: Store,
        experiment: str,
        *,
        worker: str | None = None,
        flush_rows: int = 1000,
        flush_seconds: float = 1.0,
    ):
        self.store = store
        self.experiment = experiment
        self.worker = worker or worker_id()
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.rows_written = 0
        self.files_written = 0
        self.failures = 0
        self.rejected = 0
        self.last_rejection: str | None = None
        self._failing = False  # the last write failed: wait for the timer, not the size
        # Two writers given the same ``worker`` (a restarted server) must not overwrite
        # each other's files: each names its files with a tag of its own too.
        self._tag = uuid.uuid4().hex[:8]
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._pending: list[dict[str, Any]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()  # one flush at a time (the thread's or close's)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-log", daemon=True)
        self._thread.start()

    def append(self, row: Mapping[str, Any]) -> None:
        """Queue one row (``LOG_SCHEMA``'s columns; ``worker`` is filled in)."""
        self._queue.put({**row, "worker": self.worker})

    def flush(self) -> None:
        """Write every queued row now (blocking)."""
        with self._lock:
            self._drain()
            if self._pending:
                self._write()

    @property
    def alive(self) -> bool:
        """Whether the background thread is running (false once closed)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._queue.put(_WAKE)  # the thread may wait for a row up to flush_seconds
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_seconds
        while not self._stop.is_set():
            try:
                row = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                row = None
            with self._lock:
                if row is not None and row is not _WAKE:
                    self._pending.append(row)
                self._drain()
                due = time.monotonic() >= deadline
                full = len(self._pending) >= self.flush_rows and not self._failing
                if self._pending and (full or due):
                    self._write()
            if due:
                deadline = time.monotonic() + self.flush_seconds

    def _drain(self) -> None:
        while True:
            try:
                row = self._queue.get_nowait()
            except queue.Empty:
                return
            if row is not _WAKE:
                self._pending.append(row)

    def _write(self) -> None:
        (rows, table), self._pending = self._fitting(self._pending), []
        if table is None:
            return
        sequence = next(self._sequence)
        key = f"{log_prefix(self.experiment)}{self.worker}/{sequence:08d}-{self._tag}.parquet"
        try:
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            self.store.objects.put_bytes(key, sink.getvalue())
        except Exception:
            # Keep the rows for the next flush: a store that is briefly unreachable
            # must not lose answered requests. The sequence number is not reused.
            self.failures += 1
            self._failing = True
            self._pending = rows + self._pending
            return
        self._failing = False
        self.rows_written += len(rows)
        self.files_written += 1

    def _fitting(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], pa.Table | None]:
        """The ``rows`` that fit ``LOG_SCHEMA`` and their table (None if none fits); the
        others are counted as rejected."""
        try:
            return rows, _fitted(rows)
        except _MISFIT:
            pass
        kept = []
        for row in rows:  # rare: find the rows at fault, one at a time
            try:
                _fitted([row])
            except _MISFIT as e:
                self.rejected += 1
                self.last_rejection = str(e).splitlines()[0] if str(e) else type(e).__name__
            else:
                kept.append(row)
        return kept, _fitted(kept) if kept else None


_WAKE: dict[str, Any] = {}  # what close() queues to wake the thread: no row
_MISFIT = (pa.ArrowException, TypeError, ValueError)  # what a row that does not fit raises


def _fitted(rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as a ``LOG_SCHEMA`` table; ``ValueError`` for a null where none may be."""
    table = pa.Table.from_pylist(rows, schema=LOG_SCHEMA)
    for f in LOG_SCHEMA:
        if not f.nullable and table[f.name].null_count:
            raise ValueError(f"column {f.name!r} is missing or null; the log needs it")
    return table


def read_log(store: Store, experiment: str, *, role: str | None = None) -> pa.Table:
    """Every log row of ``experiment`` from every worker, ordered by time; rows of the
    same millisecond in the order their worker wrote them, each request's live row
    before its shadow rows."""
    from concurrent.futures import ThreadPoolExecutor

    keys = sorted(k for k in store.objects.list(log_prefix(experiment)) if k.endswith(".parquet"))

    def read(key: str) -> pa.Table:
        with store.objects.open(key) as f:
            return pq.read_table(f, schema=LOG_SCHEMA)

    # A busy experiment leaves thousands of small files (one per flush per worker): on a
    # local store Arrow's dataset reader takes them all in one call, in their order; on
    # S3 each file is a round trip, so they are read side by side.
    local = [store.objects.local_path(k) for k in keys]
    if keys and all(local):
        import pyarrow.dataset as pads

        table = pads.dataset(local, schema=LOG_SCHEMA, format="parquet").to_table()
    else:
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(keys)))) as pool:
            tables = list(pool.map(read, keys))
        table = pa.concat_tables(tables) if tables else LOG_SCHEMA.empty_table()
    # Where each row was written: a worker's files sort in sequence order and its rows
    # in append order, so this is the order the worker answered in.
    table = table.append_column(_WRITTEN, pa.array(np.arange(table.num_rows), pa.int64()))
    first = table.group_by("request_id").aggregate([(_WRITTEN, "min")])
    table = table.join(first, "request_id", join_type="left outer", use_threads=False)
    table = table.sort_by(
        [("time", "ascending"), (f"{_WRITTEN}_min", "ascending"), (_WRITTEN, "ascending")]
    ).select(LOG_SCHEMA.names)
    table = table.cast(LOG_SCHEMA)  # the join forgets which columns are never null
    if role is not None:
        table = table.filter(pc.equal(table["role"], role))
    return table


def dumps(value: Any) -> str:
    """JSON as the log stores it (compact; numpy scalars and arrays as plain numbers;
    NaN and infinities as null, which strict JSON readers accept and ``NaN`` is not)."""
    try:
        return json.dumps(value, separators=(",", ":"), default=_plain, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: rare, so only then walk the value
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _finite(value: Any) -> Any:
    """``value`` as plain JSON data with every NaN or infinity replaced by None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
