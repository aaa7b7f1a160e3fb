"""DuckDB's ordered scan of several files: compose relies on its order, so it is held
to it here, with more threads than files and several row groups per file. And its
connection's one caller at a time: nothing but the engine's own thread calls it."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.engine import FILE_NUMBER_COLUMN, DuckDBEngine


def test_files_come_out_in_the_order_listed(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    sizes = [30_000, 1, 45_000, 0, 12_345, 60_000, 7]
    paths, parts = [], []
    for i, n in enumerate(sizes):
        # Rows in no sorted order, so only a scan that keeps order gives them back.
        part = {"v": rng.permutation(n).astype(np.int64) + 1_000_000 * i}
        if i >= 3:  # a column the later files add: null in the earlier files' rows
            part["w"] = np.full(n, i, dtype=np.int64)
        path = tmp_path / f"{i}'s.parquet"  # a quote in the path too
        pq.write_table(pa.table(part), path, row_group_size=10_000)
        paths.append(str(path))
        parts.append(part)
    # Listed out of name order: the order given is the order out.
    order = [5, 0, 2, 6, 1, 3, 4]
    engine = DuckDBEngine(threads=4)
    got = engine.to_arrow(engine.read_parquet_in_order([paths[i] for i in order]))
    assert got["v"].to_numpy().tolist() == np.concatenate([parts[i]["v"] for i in order]).tolist()
    assert (
        got[FILE_NUMBER_COLUMN].to_numpy().tolist()
        == np.repeat(np.arange(len(order)), [sizes[i] for i in order]).tolist()
    )
    want_w = [[i] * sizes[i] if i >= 3 else [None] * sizes[i] for i in order]
    assert got["w"].to_pylist() == [w for ws in want_w for w in ws]


def test_a_dropped_in_memory_table_is_unregistered_on_the_engine_s_thread() -> None:
    # Ibis lets go of an in-memory table whenever the garbage collector runs, on any
    # thread; a DuckDB connection refuses a second caller while one is in a call (or
    # while a reader holds it). The unregistering waits for the engine's next query.
    engine = DuckDBEngine(threads=2)

    def views() -> set[str]:
        rows = engine.con.con.sql("SELECT view_name FROM duckdb_views() WHERE temporary")
        return {r[0] for r in rows.fetchall()}

    held = [engine.table(pa.table({"x": [1, 2, 3]}))]
    assert engine.to_arrow(held[0])["x"].to_pylist() == [1, 2, 3]
    (name,) = engine._memtables
    big = engine.table(pa.table({"y": np.arange(200_000)}))
    with engine.batches(big, chunk_size=1000) as reader:  # holds the connection
        first = reader.read_next_batch()
        worker = threading.Thread(target=lambda: (held.clear(), gc.collect()))
        worker.start()
        worker.join()
        rest = reader.read_all()
    assert first.num_rows + rest.num_rows == 200_000
    assert name in views()  # the finalizer did not touch the connection
    assert engine.to_arrow(big).num_rows == 200_000  # the next query unregisters it
    assert name not in views() and name not in engine._memtables
