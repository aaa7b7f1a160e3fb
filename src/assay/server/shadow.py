"""Shadow models: a copy of every live request, predicted off the request path.

Each shadow model has its own bounded queue and its own thread, so a slow shadow
slows only itself; the copies that queued while it predicted are predicted together in
one call (up to 256, gathered for at most 50 ms), so a shadow costs a fraction of the
live path and seldom competes with it for the interpreter. ``submit`` never waits: when a shadow's queue is full the copy is
dropped and logged as ``dropped``. A prediction that raises is logged as ``error``, one
that takes longer than the timeout as ``timeout`` (its answer discarded). A Python
thread cannot be interrupted, so a shadow stuck for good holds its thread while its
queue fills and the copies after it are dropped; the live path never notices.

Every copy leaves exactly one ``shadow`` row per shadow model in the prediction log,
with the live row's ``request_id``, ``time``, ``sticky_key``, ``arm`` and ``weights``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from assay.errors import AssayError
from assay.experiments.log import LogWriter, dumps
from assay.models import Model
from assay.server.threads import ModelThreads

__all__ = ["Shadows", "one_line"]

#: Called with (shadow model reference, status) for every row a shadow leaves.
OnResult = Callable[[str, str], None]
#: The most queued copies one shadow predicts in one call.
_BATCH = 256
#: How long a shadow waits for more copies before it predicts: each call holds the
#: interpreter's lock a while, so fewer, larger calls leave the live path's latency alone.
_LINGER_S = 0.05


class Shadows:
    """The shadow models of an endpoint, each fed by a bounded queue and a thread."""

    def __init__(
        self,
        models: Mapping[str, Model],
        log: LogWriter,
        *,
        queue_size: int,
        timeout_s: float,
        on_result: OnResult | None = None,
        threads: ModelThreads | None = None,
    ):
        self.models = dict(models)
        self._model_threads = threads or ModelThreads(1)
        self.log = log
        self.timeout_s = timeout_s
        self.results: Counter[tuple[str, str]] = Counter()  # (model, status) → rows
        self._on_result = on_result
        self._queues: dict[str, queue.Queue[tuple[dict[str, Any], list[Any]] | None]] = {
            ref: queue.Queue(maxsize=queue_size) for ref in self.models
        }
        self._lock = threading.Lock()  # submit and close agree on whether we are stopping
        self._stopping = False
        self._running: dict[str, tuple[list[dict[str, Any]], float]] = {}  # ref → (rows, start)
        self._threads = [
            threading.Thread(
                target=self._work, args=(ref,), name=f"assay-shadow-{ref}", daemon=True
            )
            for ref in self.models
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, live: Mapping[str, Any], records: list[Any]) -> None:
        """Queue a copy of a live request (its log row and records) for every shadow."""
        for ref, waiting in self._queues.items():
            with self._lock:
                if not self._stopping:
                    try:
                        waiting.put_nowait((dict(live), records))
                        continue
                    except queue.Full:
                        reason = (
                            f"the shadow queue of {ref} is full ({waiting.maxsize} requests, "
                            "limits.shadow_queue)"
                        )
                else:
                    reason = "the server was stopping"
            self._leave(ref, dict(live), "dropped", None, 0.0, reason)

    def alive(self) -> bool:
        """Whether every shadow's thread is running."""
        return all(t.is_alive() for t in self._threads)

    def close(self) -> None:
        """Stop: copies still queued are logged as dropped; a prediction under way gets
        up to the timeout to finish, else it is logged as a timeout now (its thread
        is left to finish alone, and its answer is discarded)."""
        with self._lock:
            self._stopping = True
        for ref, waiting in self._queues.items():
            self._drop_queued(ref, waiting)
            waiting.put(None)  # emptied above, and nothing is queued once stopping
        deadline = time.monotonic() + self.timeout_s + 1.0
        for ref, thread in zip(self.models, self._threads, strict=True):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            with self._lock:
                stuck = self._running.pop(ref, None)
            if stuck is not None:
                lives, started = stuck
                seconds = time.perf_counter() - started
                for live in lives:
                    self._leave(
                        ref,
                        live,
                        "timeout",
                        None,
                        seconds * 1000.0,
                        _late(ref, self.timeout_s, seconds),
                    )

    def _drop_queued(self, ref: str, waiting: queue.Queue[Any]) -> None:
        while True:
            try:
                item = waiting.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._leave(ref, item[0], "dropped", None, 0.0, "the server was stopping")

    def _work(self, ref: str) -> None:
        model = self.models[ref]
        waiting = self._queues[ref]
        stop = False
        while not stop and (item := waiting.get()) is not None:
            # Whatever queued up while the last batch ran goes into one predict call:
            # a model's cost per call dwarfs its cost per row, so under load a shadow
            # costs a fraction of the live path instead of as much again.
            batch = [item]
            until = time.monotonic() + _LINGER_S
            while len(batch) < _BATCH:
                try:
                    more = waiting.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            start = time.perf_counter()
            lives = [live for live, _ in batch]
            with self._lock:
                self._running[ref] = (lives, start)
            with self._model_threads.hold():
                results = _predict_batch(model, [records for _, records in batch])
            seconds = time.perf_counter() - start
            with self._lock:
                if self._running.pop(ref, None) is None:
                    continue  # close() gave up waiting and logged them as timeouts
            for live, (outputs, status, error) in zip(lives, results, strict=True):
                if status == "ok" and seconds > self.timeout_s:
                    outputs, status, error = None, "timeout", _late(ref, self.timeout_s, seconds)
                self._leave(ref, live, status, outputs, seconds * 1000.0, error, model)

    def _leave(
        self,
        ref: str,
        live: dict[str, Any],
        status: str,
        outputs: str | None,
        latency_ms: float,
        error: str | None,
        model: Model | None = None,
    ) -> None:
        """Log one shadow row for ``live`` and count it."""
        version = (model or self.models[ref]).info.ref
        live.update(
            role="shadow",
            model=version,
            outputs=outputs,
            latency_ms=latency_ms,
            status=status,
            error=error,
        )
        self.log.append(live)
        with self._lock:
            self.results[(version, status)] += 1
        if self._on_result is not None:
            self._on_result(version, status)


def _predict_batch(
    model: Model, requests: list[list[Any]]
) -> list[tuple[str | None, str, str | None]]:
    """(outputs as JSON, status, error) for each request's records, predicted in one call;
    if that call raises, each request alone, so one bad copy fails only itself."""
    if len(requests) > 1:
        try:
            outputs = list(
                model.predict([r for rs in requests for r in rs], source="a shadow copy")
            )
        except Exception:
            pass
        else:
            out: list[tuple[str | None, str, str | None]] = []
            at = 0
            for records in requests:
                out.append((dumps(outputs[at : at + len(records)]), "ok", None))
                at += len(records)
            return out
    results: list[tuple[str | None, str, str | None]] = []
    for records in requests:
        try:
            results.append((dumps(model.predict(records, source="a shadow copy")), "ok", None))
        except Exception as e:  # a shadow's failure is logged, never raised
            results.append((None, "error", one_line(e)))
    return results


def _late(ref: str, timeout_s: float, seconds: float) -> str:
    return (
        f"{ref} took {seconds:.3g} s or more, longer than limits.shadow_timeout_s "
        f"({timeout_s:g} s); its answer was discarded"
    )


def one_line(error: BaseException) -> str:
    """An exception as one line for the log and for HTTP bodies."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(error, AssayError):  # assay's own messages already say whose and what
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
