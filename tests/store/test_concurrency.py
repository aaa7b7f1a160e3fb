"""Writers in several processes add deltas to one dataset at once: every delta lands once.

Each worker process runs ``add_delta`` on its own files; the catalog's unique delta
number makes the losers of each race validate again and retry (``AddResult.retries``).
Afterwards the deltas are numbered 1..N without gaps, each one readable, and composing
the dataset gives exactly the union of the files' rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data import read_delta
from assay.integrity import verify

WORKERS, EACH, ROWS = 4, 20, 5
PG_EACH = 10  # PostgreSQL: the same race, shorter, to keep the suite fast

WORKER = """
import json, sys
import assay
store_url, worker, each = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
retries = 0
with assay.open_store(store_url) as store:
    for i in range(each):
        result = assay.add_delta(store, "d", f"{sys.argv[4]}/w{worker}-{i}.parquet")
        assert result.created
        retries += result.retries
print(json.dumps({"retries": retries}))
"""


def file_rows(worker: int, i: int) -> pa.Table:
    ids = np.arange(ROWS) + (worker * 1000 + i * 10)
    return pa.table({"id": ids, "worker": np.full(ROWS, worker), "i": np.full(ROWS, i)})


def race(store: assay.Store, url: str, files: Path, each: int = EACH) -> tuple[float, int]:
    """Run the writers; check every delta landed once; return (wall seconds, retries)."""
    assay.create_dataset(store, "d", ["id"])
    for w in range(WORKERS):
        for i in range(each):
            pq.write_table(file_rows(w, i), files / f"w{w}-{i}.parquet")
    env = {k: v for k, v in os.environ.items() if k not in ("ASSAY_STORE", "ASSAY_CRASH_AT")}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(w), str(each), str(files)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    retries = sum(json.loads(out)["retries"] for out, _ in outs)

    deltas = store.catalog.list_deltas("d")
    assert [d.number for d in deltas] == list(range(1, WORKERS * each + 1))
    assert sorted(d.name for d in deltas) == sorted(
        f"w{w}-{i}" for w in range(WORKERS) for i in range(each)
    )
    for d in deltas:  # each one whole, and holding its own file's rows
        w, i = (int(x) for x in d.name[1:].split("-"))
        assert read_delta(store, d).equals(file_rows(w, i))
    # Each worker's own deltas landed in the order it added them.
    for w in range(WORKERS):
        mine = [d.name for d in deltas if d.name.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(each)]
    composed = assay.compose({"dataset": "d"}, store=store).to_arrow()
    union = pa.concat_tables(file_rows(w, i) for w in range(WORKERS) for i in range(each))
    assert composed.num_rows == union.num_rows
    assert sorted(composed["id"].to_pylist()) == sorted(union["id"].to_pylist())
    assert verify(store).ok
    return wall, retries


def report(
    capsys: pytest.CaptureFixture[str], label: str, each: int, figures: tuple[float, int]
) -> None:
    with capsys.disabled():
        wall, retries = figures
        print(f"\n{label}: {WORKERS} processes x {each} deltas in {wall:.1f} s, {retries} retries")


def test_parallel_writers_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = tmp_path / ".assay"
    with assay.init_store(url) as store:
        report(capsys, "SQLite", EACH, race(store, str(url), tmp_path))


def test_parallel_writers_postgresql(
    pg_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = tmp_path / "store"
    with assay.init_store(url, catalog=pg_database) as store:
        report(capsys, "PostgreSQL", PG_EACH, race(store, str(url), tmp_path, PG_EACH))
