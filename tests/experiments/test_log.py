"""The prediction log: every appended row is read back exactly once, from any number of
writers, across a store that fails for a while, in batches of the configured size.

No test waits a fixed time: each one that needs the background thread polls for what
it waits for, with a generous limit, so a loaded machine makes it slower, not flaky.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import assay
from assay.experiments.log import LOG_SCHEMA, LogWriter, dumps, log_prefix, read_log

EXPERIMENT = "exp"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def row(i: int, *, role: str = "live", **change: Any) -> dict[str, Any]:
    """A log row for request ``i`` (its time is ``i`` ms after T0)."""
    return {
        "request_id": f"r{i:06d}",
        "time": T0 + dt.timedelta(milliseconds=i),
        "experiment": EXPERIMENT,
        "endpoint": "employment",
        "role": role,
        "sticky_key": f"u{i % 7}",
        "arm": "control" if i % 10 else "treatment",
        "model": "employment@1" if role == "live" else "employment@3",
        "inputs": dumps([{"AGEP": 30 + i % 50}]),
        "outputs": dumps([i % 2]),
        "latency_ms": 0.25,
        "status": "ok",
        "error": None,
        "weights": dumps({"control": 0.9, "treatment": 0.1}),
        **change,
    }


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit}s for {what}")
        time.sleep(0.01)


def settled(writer: LogWriter) -> None:
    """Wait until the writer's thread has taken every queued row and finished with them."""
    wait_for(writer._queue.empty, "the queue to be drained")
    with writer._lock:  # the thread holds it while it handles what it took
        pass


def files(store: assay.Store) -> list[str]:
    return sorted(store.objects.list(log_prefix(EXPERIMENT)))


def rows_per_file(store: assay.Store) -> list[int]:
    sizes = []
    for key in files(store):
        with store.objects.open(key) as f:
            sizes.append(pq.read_metadata(f).num_rows)
    return sizes


@pytest.fixture
def never() -> dict[str, float]:
    """Batching that never writes on its own: only ``flush`` and ``close`` do."""
    return {"flush_rows": 10**9, "flush_seconds": 3600.0}


def test_two_workers_rows_are_read_back_exactly_once(store: assay.Store) -> None:
    writers = [LogWriter(store, EXPERIMENT, flush_rows=50, flush_seconds=0.05) for _ in (0, 1)]
    assert writers[0].worker != writers[1].worker

    def serve(w: int) -> None:
        for i in range(w, 1000, 2):  # the two workers answer alternate requests
            writers[w].append(row(i))
            if i % 5 == 0:
                writers[w].append(row(i, role="shadow"))

    threads = [threading.Thread(target=serve, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()

    log = read_log(store, EXPERIMENT)
    assert log.schema == LOG_SCHEMA
    assert log.num_rows == 1000 + 200 == sum(w.rows_written for w in writers)
    live = read_log(store, EXPERIMENT, role="live")
    assert live["request_id"].to_pylist() == [f"r{i:06d}" for i in range(1000)]  # by time
    shadow = read_log(store, EXPERIMENT, role="shadow")
    assert shadow["request_id"].to_pylist() == [f"r{i:06d}" for i in range(0, 1000, 5)]
    assert set(shadow["model"].to_pylist()) == {"employment@3"}
    by_worker = {w.worker: set(range(k, 1000, 2)) for k, w in enumerate(writers)}
    for request_id, worker in zip(
        live["request_id"].to_pylist(), live["worker"].to_pylist(), strict=True
    ):
        assert int(request_id[1:]) in by_worker[worker]
    # Each worker's files are in its own folder.
    folders = {k.removeprefix(log_prefix(EXPERIMENT)).split("/")[0] for k in files(store)}
    assert folders == {w.worker for w in writers}


def test_close_writes_what_is_queued(store: assay.Store, never: dict[str, float]) -> None:
    writer = LogWriter(store, EXPERIMENT, worker="w1", **never)
    for i in range(7):
        writer.append(row(i))
    settled(writer)
    assert writer.files_written == 0 and read_log(store, EXPERIMENT).num_rows == 0
    writer.close()
    assert (writer.rows_written, writer.files_written, rows_per_file(store)) == (7, 1, [7])
    assert not writer.alive


def test_a_store_that_fails_keeps_the_rows_for_later(
    store: assay.Store, never: dict[str, float]
) -> None:
    # A file where the log's folder should be: every write into it fails (as root too).
    blocker = Path(store.url) / "objects" / log_prefix(EXPERIMENT).rstrip("/")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    writer = LogWriter(store, EXPERIMENT, worker="w1", **never)
    for i in range(5):
        writer.append(row(i))
    writer.flush()
    writer.flush()
    assert (writer.failures, writer.rows_written, writer.files_written) == (2, 0, 0)
    for i in range(5, 8):
        writer.append(row(i))
    blocker.unlink()  # the store is back
    writer.close()
    assert (writer.rows_written, writer.files_written) == (8, 1)
    assert read_log(store, EXPERIMENT)["request_id"].to_pylist() == [f"r{i:06d}" for i in range(8)]
    # The failed attempts' sequence numbers are not reused.
    assert [k.split("/")[-1].split("-")[0] for k in files(store)] == ["00000002"]


def test_a_failing_store_is_retried_on_the_timer_not_on_every_row(store: assay.Store) -> None:
    blocker = Path(store.url) / "objects" / log_prefix(EXPERIMENT).rstrip("/")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    writer = LogWriter(store, EXPERIMENT, worker="w1", flush_rows=5, flush_seconds=3600.0)
    for i in range(5):
        writer.append(row(i))
    wait_for(lambda: writer.failures == 1, "the first write to fail")
    for i in range(5, 40):  # each of these would try again if size alone decided
        writer.append(row(i))
        settled(writer)
    assert writer.failures == 1
    blocker.unlink()
    writer.close()
    assert writer.rows_written == 40 and read_log(store, EXPERIMENT).num_rows == 40


def test_a_row_that_does_not_fit_is_dropped_not_retried_forever(
    store: assay.Store, never: dict[str, float]
) -> None:
    writer = LogWriter(store, EXPERIMENT, worker="w1", **never)
    writer.append(row(0))
    writer.append(row(1, latency_ms="slow"))  # a caller's bug
    writer.append({k: v for k, v in row(2).items() if k != "arm"})  # a required field missing
    writer.append(row(3))
    writer.flush()
    assert (writer.rows_written, writer.rejected, writer.failures) == (2, 2, 0)
    assert writer.last_rejection == "column 'arm' is missing or null; the log needs it"
    writer.append(row(4))
    writer.close()
    got = read_log(store, EXPERIMENT)["request_id"].to_pylist()
    assert got == ["r000000", "r000003", "r000004"]


def test_batches_are_cut_at_flush_rows(store: assay.Store) -> None:
    writer = LogWriter(store, EXPERIMENT, worker="w1", flush_rows=10, flush_seconds=3600.0)
    for i in range(10):
        writer.append(row(i))
    wait_for(lambda: writer.files_written == 1, "the first batch")
    for i in range(10, 20):
        writer.append(row(i))
    wait_for(lambda: writer.files_written == 2, "the second batch")
    for i in range(20, 25):
        writer.append(row(i))
    settled(writer)
    assert writer.files_written == 2  # 5 rows are fewer than flush_rows: they wait
    writer.close()
    assert rows_per_file(store) == [10, 10, 5]


def test_batches_are_cut_at_flush_seconds(store: assay.Store) -> None:
    writer = LogWriter(store, EXPERIMENT, worker="w1", flush_rows=10**9, flush_seconds=0.05)
    for i in range(3):
        writer.append(row(i))
    wait_for(lambda: writer.rows_written == 3, "the timer to write the rows")
    assert read_log(store, EXPERIMENT).num_rows == 3  # readable while the server runs
    writer.close()
    assert writer.files_written == 1


def test_two_writers_with_one_worker_name_do_not_overwrite_each_other(
    store: assay.Store, never: dict[str, float]
) -> None:
    """A restarted server that keeps its worker name starts its sequence at 0 again."""
    for start in (0, 100):
        writer = LogWriter(store, EXPERIMENT, worker="web-1", **never)
        for i in range(start, start + 3):
            writer.append(row(i))
        writer.close()
    assert len(files(store)) == 2
    assert read_log(store, EXPERIMENT).num_rows == 6


def test_inputs_and_outputs_round_trip_as_json(store: assay.Store, never: dict[str, float]) -> None:
    inputs = [
        {"AGEP": np.int64(41), "WKHP": np.float32(37.5), "SEX": "2", "note": "naïve ☃"},
        {"AGEP": 17, "WKHP": None, "vec": np.array([1, 2, 3])},
    ]
    outputs = [np.float64(0.25), np.array([0.1, 0.9])]
    assert json.loads(dumps(inputs)) == [
        {"AGEP": 41, "WKHP": 37.5, "SEX": "2", "note": "naïve ☃"},
        {"AGEP": 17, "WKHP": None, "vec": [1, 2, 3]},
    ]
    assert dumps({"a": 1, "b": [1, 2]}) == '{"a":1,"b":[1,2]}'  # compact
    # Strict JSON has no NaN or Infinity: a model's non-finite output is logged as null.
    assert dumps([np.array([0.5, np.nan]), {"x": float("inf")}, np.float64("-inf")]) == (
        '[[0.5,null],{"x":null},null]'
    )
    with pytest.raises(TypeError, match="object is not JSON"):
        dumps(object())
    writer = LogWriter(store, EXPERIMENT, worker="w1", **never)
    writer.append(row(0, inputs=dumps(inputs), outputs=dumps(outputs)))
    writer.append(row(1, outputs=None, status="error", error="ValueError: bad input"))
    writer.close()
    log = read_log(store, EXPERIMENT).to_pylist()
    assert json.loads(log[0]["inputs"])[1]["vec"] == [1, 2, 3]
    assert json.loads(log[0]["outputs"]) == [0.25, [0.1, 0.9]]
    assert (log[1]["outputs"], log[1]["status"], log[1]["error"]) == (
        None,
        "error",
        "ValueError: bad input",
    )
    assert log[0]["time"] == T0 and log[0]["time"].tzinfo is not None
    assert log[0]["worker"] == "w1"


def test_an_experiment_without_a_log_reads_as_an_empty_table(store: assay.Store) -> None:
    empty = read_log(store, "nothing-yet")
    assert empty.num_rows == 0 and empty.schema == LOG_SCHEMA


def test_rows_of_one_millisecond_read_back_in_the_order_they_were_answered(
    store: assay.Store, never: dict[str, float]
) -> None:
    """Request ids are random, so sorting ties by them shuffled a burst of requests
    (CI saw u9 before u8); each request's live row comes before its shadow rows."""
    writer = LogWriter(store, EXPERIMENT, worker="w1", **never)
    ids = [f"{(7 * i) % 40:032x}" for i in range(40)]  # not in sorted order
    shadowed = [i for i in range(len(ids)) if i % 3 == 0]
    for i, request_id in enumerate(ids):
        writer.append(row(i, request_id=request_id, time=T0))
        if i - 2 in shadowed:  # a shadow row comes later, after other requests' rows
            writer.append(row(i - 2, request_id=ids[i - 2], time=T0, role="shadow"))
        if i % 7 == 6:
            writer.flush()
    for i in (i for i in shadowed if i + 2 >= len(ids)):
        writer.append(row(i, request_id=ids[i], time=T0, role="shadow"))
    writer.close()
    assert len(files(store)) > 1  # the order holds across files too
    log = read_log(store, EXPERIMENT).to_pylist()
    live = [r["request_id"] for r in log if r["role"] == "live"]
    assert live == ids
    order = [(r["request_id"], r["role"]) for r in log]
    for i in shadowed:
        assert order.index((ids[i], "shadow")) == order.index((ids[i], "live")) + 1
    assert [r["request_id"] for r in read_log(store, EXPERIMENT, role="live").to_pylist()] == ids
