"""One run of a pipeline at a time, per store: a lock its holder's crash releases.

The lock lives where the processes that share a store meet, the catalog's database,
and is one the operating system or the server drops when its holder dies (``kill -9``
included), so a crash never leaves it held:

* a SQLite catalog: ``flock`` on ``locks/pipeline-NAME.lock`` beside the database file
  (the kernel releases it when the file's last descriptor closes, at exit or crash);
* a PostgreSQL catalog: a session advisory lock (``pg_advisory_lock``) on a connection
  of its own (the server releases it when the connection ends).

The holder names itself (process, host, since when) in the lock file, or as its
connection's ``application_name``, so that a waiter can say whom it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from assay.errors import PipelineLocked
from assay.store import Store

__all__ = ["pipeline_lock"]


def pipeline_lock(
    store: Store,
    pipeline: str,
    *,
    wait: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of ``pipeline`` in ``store`` for the ``with`` block.

    Held by another process (or thread), it waits, saying whom for, when ``wait``;
    otherwise it raises ``PipelineLocked`` naming the holder.
    """
    me = f"pid {os.getpid()} on {socket.gethostname()} since {_now()}"
    if store.catalog.engine.dialect.name == "postgresql":
        return _advisory(store.catalog.engine, pipeline, me, wait, say)
    database = store.catalog.engine.url.database
    if not database or database == ":memory:":  # one process only: nothing to share
        return contextlib.nullcontext()
    path = Path(database).resolve().parent / "locks" / f"pipeline-{pipeline}.lock"
    return _flock(path, pipeline, me, wait, say)


@contextlib.contextmanager
def _flock(
    path: Path, pipeline: str, me: str, wait: bool, say: Callable[[str], None]
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: the holder's line stays readable while we ask.
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            _busy(pipeline, f.read().strip(), wait, say)
            fcntl.flock(f, fcntl.LOCK_EX)  # blocks until the holder ends or dies
        f.seek(0)
        f.truncate()
        f.write(me + "\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)  # released: no stale name for the next waiter to quote
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory(
    engine: sa.Engine, pipeline: str, me: str, wait: bool, say: Callable[[str], None]
) -> Iterator[None]:
    key = int.from_bytes(
        hashlib.sha256(f"assay-pipeline:{pipeline}".encode()).digest()[:8], "big", signed=True
    )
    with engine.connect() as conn:
        # autocommit: the lock belongs to the session, not to a transaction.
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("SELECT set_config('application_name', :me, false)"), {"me": me[:63]})
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            holder = conn.execute(
                sa.text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.classid = :hi AND l.objid = :lo LIMIT 1"
                ),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            ).scalar()
            _busy(pipeline, str(holder or ""), wait, say)
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def _busy(pipeline: str, holder: str, wait: bool, say: Callable[[str], None]) -> None:
    who = holder or "another run"
    if not wait:
        raise PipelineLocked(
            f"pipeline {pipeline!r} is running already ({who}); wait for it to end, "
            "or run without --no-wait to wait"
        )
    say(f"  … pipeline {pipeline!r} is running already ({who}): waiting for it to end")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
