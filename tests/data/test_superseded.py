"""Which rows a version drops: those another delta's row replaces, or a delete removes.

Compose finds them without reading any insert when every delta up to the last one
selected is selected, and asks the key index only for the keys that the deltas left
out touch; in a batch it finds them by key (a bitmap of the touched keys, or a search
where they are sparse) or by hash. Every path must give the rows of a row-by-row
replay, on random histories whose keys are deleted, re-inserted and upserted across
gaps in the selection.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
import assay.data.deltas as deltas_module
from assay.data._replay import DELETE
from assay.data.compose import _compact, _key_bitmap, _Scratch, _sorted_matches
from assay.data.deltas import Touched, touched_keys
from assay.data.keyindex import KeyIndex, among, replay_selected
from assay.store import DeltaInfo
from tests_helpers import compose_by_hand

# Key kinds: dense integers (the bitmap), integers spread over all of int64 (the
# search), dates on both sides of 1970 (the bitmap, over days), strings (the hashes),
# and dense integers with some inserts stored as given (rows in their file's order,
# found by hash).
KINDS = ["dense", "sparse", "date", "text", "as-is"]


def key_of(kind: str, i: int) -> Any:
    if kind == "sparse":
        return (i * 0x9E3779B97F4A7C15 % (1 << 64)) - (1 << 63)  # spread, negative too
    if kind == "date":
        return dt.date(1969, 12, 1) + dt.timedelta(days=i)
    if kind == "text":
        return f"k{i:05d}"
    return 1_000 + i


def history(seed: int, kind: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """A random history: inserts of new keys (a key once held is never inserted again),
    upserts of live, deleted and new keys, deletes of live keys; each row carries its
    delta's number and a random value."""
    rng = random.Random(seed)
    live: set[int] = set()
    dead: set[int] = set()
    fresh = iter(range(10**6))
    out = []
    for number in range(12):
        op = "insert" if number == 0 else rng.choice(["insert", "insert", "upsert", "delete"])
        if op == "delete" and not live:
            op = "insert"
        if op == "insert":
            ids = [next(fresh) for _ in range(rng.randint(1, 40))]
        elif op == "upsert":
            ids = rng.sample(sorted(live), min(len(live), rng.randint(1, 15)))
            ids += rng.sample(sorted(dead), min(len(dead), rng.randint(0, 4)))
            ids += [next(fresh) for _ in range(rng.randint(0, 4))]
        else:
            ids = rng.sample(sorted(live), min(len(live), rng.randint(1, 12)))
        ids = list(dict.fromkeys(ids))
        rng.shuffle(ids)  # a file stored as given keeps this order
        for i in ids:
            (dead if op == "delete" else live).add(i)
            (live if op == "delete" else dead).discard(i)
        rows = [{"id": key_of(kind, i), "v": rng.randint(0, 10**6), "d": number} for i in ids]
        out.append((op, rows))
    return out


def selections(rng: random.Random, n: int) -> list[list[int]]:
    """Everything, a prefix (a version as of a delta), and subsets with gaps."""
    gapped = [sorted(rng.sample(range(n), rng.randint(2, n - 1))) for _ in range(3)]
    return [list(range(n)), list(range(rng.randint(2, n - 1))), *gapped]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_versions_keep_exactly_the_rows_a_replay_keeps(
    tmp_path: Path, kind: str, seed: int
) -> None:
    deltas = history(seed, kind)
    key_type = {"text": pa.string(), "date": pa.date32()}.get(kind, pa.int64())
    schema = pa.schema([("id", key_type), ("v", pa.int64()), ("d", pa.int64())])
    as_is: set[int] = set()
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "h", ["id"])
        for number, (op, rows) in enumerate(deltas):
            table = pa.Table.from_pylist(rows, schema=schema)
            if op == "delete":
                table = table.select(["id"])
            if kind == "as-is" and op == "insert" and number % 2:
                path = tmp_path / f"d{number}.parquet"
                pq.write_table(table, path)
                assay.add_delta(store, "h", path, as_is=True, name=f"d{number}")
                as_is.add(number)
            else:
                assay.add_delta(store, "h", table, op=op, name=f"d{number}")
        rng = random.Random(seed)
        for chosen in selections(rng, len(deltas)):
            recipe = {"dataset": "h", "deltas": {"include": [f"d{i}" for i in chosen]}}
            got = assay.compose(recipe, store=store, record=False).to_pandas()
            frames = [(op, pd.DataFrame(rows)) for op, rows in deltas]
            want = compose_by_hand(frames, set(chosen), as_is)
            for column in ["id", "v", "d"]:
                assert got[column].tolist() == want[column].tolist(), (chosen, column)


@pytest.mark.parametrize("seed", [5, 6])
def test_the_replay_reads_no_selected_insert_and_no_index(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``touched_keys`` reads the upserts and deletes and the deltas left out, nothing
    else, and says of every selected row what a replay of the key index's events does."""
    deltas = history(seed, "dense")
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "h", ["id"])
        for number, (op, rows) in enumerate(deltas):
            table = pa.Table.from_pylist(rows).select(["id"] if op == "delete" else ["id", "v"])
            assay.add_delta(store, "h", table, op=op, name=f"d{number}")
        listed = store.catalog.list_deltas("h")
        index = KeyIndex.load(store, listed)
        for key in list(store.objects.list("index/")):
            store.objects.delete(key)
        read: list[DeltaInfo] = []
        real = deltas_module.delta_key_hashes

        def spy(store: assay.Store, d: DeltaInfo, verifier: Any = None) -> Any:
            read.append(d)
            return real(store, d, verifier)

        monkeypatch.setattr(deltas_module, "delta_key_hashes", spy)
        for chosen in selections(random.Random(seed), len(listed)):
            picked = [listed[i] for i in chosen]
            read.clear()
            touched = touched_keys(store, picked)
            assert not any(d.op == "insert" and d in picked for d in read)
            # The reference: every event of every key, from the index, replayed.
            events = among(index.events(touched.hashes), picked)
            winners, _ = replay_selected(events, picked)
            rows = events.k != DELETE  # a delete holds no row
            h, n = events.h[rows], events.n[rows]
            loses = n != winners.get(h, default=-1)
            until = touched.until[np.searchsorted(touched.hashes, h)]
            assert (n < until).tolist() == loses.tolist(), chosen
        assert not list(store.objects.list("index/"))


def test_touched_keys_of_a_history_without_upserts_or_deletes(tmp_path: Path) -> None:
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "h", ["id"])
        assay.add_delta(store, "h", pa.table({"id": [1, 2]}), name="a")
        touched = touched_keys(store, store.catalog.list_deltas("h"))
    assert len(touched.hashes) == len(touched.until) == 0
    assert np.iinfo(np.int64).max == Touched.NEVER


def test_sorted_matches_search_the_fewer_in_the_more() -> None:
    rng = np.random.default_rng(0)
    universe = np.sort(rng.choice(10**6, 30_000, replace=False)).astype(np.int64)
    for values_n, probes_n in [(100, 20_000), (20_000, 100), (5_000, 5_000), (1, 1)]:
        values = np.sort(rng.choice(universe, values_n, replace=False))
        probes = np.sort(rng.choice(universe, probes_n, replace=False))
        rows, at = _sorted_matches(values, probes)
        want = np.flatnonzero(np.isin(values, probes))
        assert rows.tolist() == want.tolist()
        assert (probes[at] == values[rows]).all()
    empty = np.zeros(0, np.int64)
    assert [len(x) for x in _sorted_matches(empty, universe)] == [0, 0]


def test_the_key_bitmap_holds_exactly_the_keys() -> None:
    keys = np.array([-70, -3, 0, 1, 63, 64, 200], dtype=np.int64)
    found = _key_bitmap(keys)
    assert found is not None
    base, bits = found
    probe = np.arange(-200, 400, dtype=np.int64)
    off = np.minimum(probe.view(np.uint64) - base, np.uint64(len(bits) * 64 - 1))
    word = bits[(off >> np.uint64(6)).view(np.intp)]
    hit = ((word >> (off & np.uint64(63))) & np.uint64(1)).astype(bool)
    assert probe[hit].tolist() == keys.tolist()
    # Keys too sparse for a bit each: searched instead.
    assert _key_bitmap(np.array([0, 1 << 40], dtype=np.int64)) is None


def test_compaction_keeps_the_rows_in_place_and_copies_what_it_must() -> None:
    keep = np.array([True, False, True, True, False, True])
    ints = pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()).slice(1, 6)  # an offset
    columns = [
        ints,
        pa.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]),
        pa.array([1, 2, 3, 4, 5, 6], pa.int8()),
        pa.array([1, 2, 3, 4, 5, 6], pa.int32()),
        pa.array([1, 2, 3, 4, 5, 6], pa.timestamp("us", tz="UTC")),
        pa.array([1, None, 3, 4, 5, None], pa.int64()),  # nulls: Arrow filters it
        pa.array(["a", "b", "c", "d", "e", "f"]),
        pa.array([True, False, True, False, True, False]),
    ]
    want = [c.filter(pa.array(keep)) for c in columns]
    before = columns[0].buffers()[1].address
    scratch = _Scratch()
    got = _compact(columns, keep, scratch)
    assert [g.to_pylist() for g in got] == [w.to_pylist() for w in want]
    assert got[0].buffers()[1].address == before  # compacted where it was
    # One buffer behind two columns: the second is copied, not compacted twice.
    shared = pa.array([10, 20, 30, 40, 50, 60], pa.int64())
    twice = _compact([shared, shared], keep, scratch)
    assert [t.to_pylist() for t in twice] == [[10, 30, 40, 60]] * 2


def test_the_compaction_scratch_is_reused_and_grows_when_it_must() -> None:
    scratch = _Scratch()
    rng = np.random.default_rng(3)
    big = rng.integers(-(1 << 62), 1 << 62, 1000)
    where = np.flatnonzero(rng.random(1000) < 0.9)
    first = scratch.take(big, where)
    assert first.tolist() == big[where].tolist()
    held = first.__array_interface__["data"][0]
    # A narrower type and fewer rows: the same memory, read as the new type.
    small = rng.integers(0, 100, 50).astype(np.int8)
    again = scratch.take(small, np.arange(0, 50, 3))
    assert again.dtype == np.int8 and again.tolist() == small[::3].tolist()
    assert again.__array_interface__["data"][0] == held
    # More bytes than it holds: a bigger buffer.
    bigger = np.arange(5000, dtype=np.int64)
    grown = scratch.take(bigger, np.arange(1, 5000, 2))
    assert grown.tolist() == bigger[1::2].tolist()
    # Each thread its own buffer: two takes in flight at once keep their own values.
    both = threading.Barrier(2, timeout=30)

    def take(value: int) -> list[int]:
        got = scratch.take(np.full(4000, value, np.int64), np.arange(4000))
        both.wait()  # the other thread has taken too
        return got.tolist()

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(take, [1, 2])) == [[1] * 4000, [2] * 4000]
