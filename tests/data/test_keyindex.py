"""The key index: ingest and compose answer from a few sorted runs, never the history.

Every answer is checked against an independent model: a plain Python replay of the
ops (a dict from key to value), and ``key_history``, which derives the same facts
from the deltas' objects alone. The index is derived data: a damaged run is rebuilt,
a wrong one is reported by ``verify``, and a missing one is built again.
"""

from __future__ import annotations

import itertools
import os
import random
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data import keyindex
from assay.data.deltas import key_history
from assay.data.hashing import key_hash
from assay.data.keyindex import Events, KeyIndex, plan, run_key, search
from assay.errors import KeyConflict, UsageError
from assay.integrity import verify
from assay.store.catalog import DeltaInfo

KEYS = 60  # a small key space, so that ops collide often


def _write(path: Path, rows: dict[int, float] | list[int]) -> Path:
    if isinstance(rows, dict):
        table = pa.table({"id": list(rows), "v": list(rows.values())})
    else:
        table = pa.table({"id": rows})
    pq.write_table(table, path)
    return path


def _random_history(
    store: assay.Store, tmp: Path, seed: int, steps: int
) -> tuple[dict[int, float], list[int]]:
    """Random inserts, upserts and deletes; the model's live rows, and every key seen."""
    rng = random.Random(seed)
    live: dict[int, float] = {}
    seen: set[int] = set()
    assay.create_dataset(store, "t", ["id"])
    for i in range(steps):
        op = rng.choice(["insert", "insert", "upsert", "delete"]) if live else "insert"
        if op == "insert":
            fresh = [k for k in range(KEYS) if k not in seen]
            if not fresh:
                op = "upsert"
            else:
                keys = rng.sample(fresh, min(len(fresh), rng.randint(1, 12)))
                rows = {k: float(rng.randint(0, 999)) for k in keys}
        if op == "upsert":
            keys = rng.sample(range(KEYS), rng.randint(1, 12))
            rows = {k: float(rng.randint(0, 999)) for k in keys}
        if op == "delete":
            keys = rng.sample(sorted(live), rng.randint(1, min(6, len(live))))
            assay.add_delta(store, "t", _write(tmp / f"{i}.parquet", keys), op=op, name=f"d{i}")
            for k in keys:
                del live[k]
            continue
        assay.add_delta(store, "t", _write(tmp / f"{i}.parquet", rows), op=op, name=f"d{i}")
        live.update(rows)
        seen.update(rows)
    return live, sorted(seen)


def _composed(store: assay.Store, **recipe: object) -> dict[int, float]:
    t = assay.compose({"dataset": "t", **recipe}, store=store, record=False).to_arrow()
    return dict(zip(t["id"].to_pylist(), t["v"].to_pylist(), strict=True))


@pytest.mark.parametrize("seed", [1, 2])
def test_index_answers_as_the_deltas_do(store: assay.Store, tmp_path: Path, seed: int) -> None:
    live, seen = _random_history(store, tmp_path, seed, steps=24)
    deltas = store.catalog.list_deltas("t")
    # The last delta stored its runs (merged while its object was written) under the
    # names its committed record gives them: none is left for a reader to rebuild.
    assert all(store.objects.exists(run_key(deltas[a:b])) for a, b in plan(deltas))
    assert _composed(store) == live  # compose's touched keys come from the index

    everything = np.array(sorted(set(range(KEYS + 10))), dtype=np.int64)
    hashes = key_hash(pa.table({"id": everything}), ["id"])
    index = KeyIndex.load(store, deltas)
    in_seen, is_live, _ = index.history(hashes)
    ref_seen, ref_live = key_history(store, deltas, hashes)
    assert in_seen.tolist() == ref_seen.tolist() == [int(k) in seen for k in everything]
    assert is_live.tolist() == ref_live.tolist() == [int(k) in live for k in everything]

    # The runs partition the deltas, hold one event per stored row, and are few.
    runs = plan(deltas)
    assert [a for a, _ in runs] == [0] + [b for _, b in runs[:-1]] and runs[-1][1] == len(deltas)
    assert sum(len(r) for r in index.runs) == sum(d.row_count for d in deltas)
    assert len(runs) <= 2 * np.log2(len(deltas)) + 1
    assert verify(store).ok and verify(store).unreferenced == 0


def test_a_subset_recipe_replays_only_its_deltas(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    assay.add_delta(store, "t", _write(tmp_path / "a.parquet", {1: 1.0, 2: 2.0, 3: 3.0}), name="a")
    assay.add_delta(store, "t", _write(tmp_path / "b.parquet", {4: 4.0}), name="b")
    assay.add_delta(store, "t", _write(tmp_path / "u.parquet", {2: 20.0, 4: 40.0}), op="upsert")
    assay.add_delta(store, "t", _write(tmp_path / "x.parquet", [1, 4]), op="delete", name="x")
    assert _composed(store) == {2: 20.0, 3: 3.0}
    # Without b, the upsert's update of 4 has no row to replace: 4 stays absent.
    assert _composed(store, deltas={"exclude": ["b"]}) == {2: 20.0, 3: 3.0}
    assert _composed(store, deltas={"exclude": ["x"]}) == {1: 1.0, 2: 20.0, 3: 3.0, 4: 40.0}
    assert _composed(store, deltas={"exclude": ["u"]}) == {2: 2.0, 3: 3.0}


def test_an_add_reads_no_earlier_delta(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    base = assay.add_delta(store, "t", _write(tmp_path / "a.parquet", {1: 1.0, 2: 2.0}), name="a")
    # With the base's object gone, only the index can answer (the history was read before).
    path = Path(str(store.objects.local_path(base.delta.object_key)))
    saved = path.read_bytes()
    path.unlink()
    up = assay.add_delta(store, "t", _write(tmp_path / "u.parquet", {2: 9.0, 3: 3.0}), op="upsert")
    assert up.created
    with pytest.raises(KeyConflict, match="already exist"):
        assay.add_delta(store, "t", _write(tmp_path / "b.parquet", {1: 5.0}), name="b")
    path.write_bytes(saved)
    upd = pq.read_table(str(store.objects.local_path(up.delta.object_key)))
    assert dict(zip(upd["id"].to_pylist(), upd["_assay_upd"].to_pylist(), strict=True)) == {
        2: True,
        3: False,
    }
    assert _composed(store) == {1: 1.0, 2: 9.0, 3: 3.0}
    assert verify(store).ok


def test_a_damaged_run_is_rebuilt_not_trusted(store: assay.Store, tmp_path: Path) -> None:
    live, _ = _random_history(store, tmp_path, seed=3, steps=8)
    deltas = store.catalog.list_deltas("t")
    key = run_key(deltas[slice(*plan(deltas)[0])])
    path = Path(str(store.objects.local_path(key)))
    good = path.read_bytes()
    damaged = bytearray(good)
    hashes = KeyIndex.load(store, deltas).runs[0].h.copy()  # not a view of the file
    damaged[good.index(hashes[0].tobytes()) + 3] ^= 0x40  # a bit of the first key hash
    path.write_bytes(bytes(damaged))
    assert [p.reason.value for p in verify(store).problems] == ["index_mismatch"]
    assert _composed(store) == live  # compose of every delta reads no run
    # A reader that needs the damaged block (compose of a selection with gaps, an add)
    # finds it fails its checksum and rebuilds the run from the deltas.
    found = search(store, deltas, np.unique(hashes))
    assert np.array_equal(np.unique(found.h), np.unique(hashes))
    assert path.read_bytes() == good  # rebuilt and stored again
    assert verify(store).ok


def test_verify_reports_a_run_that_lies(store: assay.Store, tmp_path: Path) -> None:
    _random_history(store, tmp_path, seed=4, steps=8)
    deltas = store.catalog.list_deltas("t")
    a, b = plan(deltas)[0]
    key = run_key(deltas[a:b])
    run = KeyIndex.load(store, deltas).runs[0]
    # A run without its first event, with checksums that match: only verify can tell.
    from assay.data.keyindex import _write_run

    _write_run(store, key, Events(run.h[1:], run.n[1:], run.k[1:]))
    report = verify(store)
    assert [(p.reason.value, p.key) for p in report.problems] == [("index_mismatch", key)]
    assert "delete the object" in report.problems[0].message


def test_a_missing_index_is_built_from_the_deltas(store: assay.Store, tmp_path: Path) -> None:
    live, _ = _random_history(store, tmp_path, seed=5, steps=10)
    runs = sorted(store.objects.list("index/"))
    stored = {k: zlib.crc32(Path(str(store.objects.local_path(k))).read_bytes()) for k in runs}
    for k in runs:
        store.objects.delete(k)
    assert _composed(store) == live  # compose of every delta needs no run
    KeyIndex.load(store, store.catalog.list_deltas("t"))  # the next reader builds them
    assert {
        k: zlib.crc32(Path(str(store.objects.local_path(k))).read_bytes())
        for k in store.objects.list("index/")
    } == stored  # the same bytes, whichever writer built them


def test_plan_merges_runs_of_similar_size() -> None:
    def deltas(sizes: list[int]) -> list[DeltaInfo]:
        return [
            DeltaInfo("t", i + 1, f"{i:064x}", f"d{i}", "insert", n, "k", "s")
            for i, n in enumerate(sizes)
        ]

    # A big base stays alone while the small deltas above it merge.
    assert plan(deltas([1000, 10])) == [(0, 1), (1, 2)]
    assert plan(deltas([1000, 10, 10, 10])) == [(0, 1), (1, 4)]
    assert plan(deltas([1000, 10, 30, 10])) == [(0, 1), (1, 3), (3, 4)]
    # Whatever the sizes, each run holds more than twice the one above it.
    for sizes in ([100] * 1000, list(range(1000, 0, -1)), [1, 10**6] * 50):
        runs = plan(deltas(sizes))
        held = [sum(sizes[a:b]) for a, b in runs]
        assert all(below > 2 * above for below, above in itertools.pairwise(held))
        assert len(runs) <= np.log2(sum(sizes)) + 1 and runs[-1][1] == len(sizes)


def test_a_remote_store_reads_its_runs_from_the_local_cache(s3_bucket: str, tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    with assay.init_store(s3_bucket, catalog=catalog) as store:
        live, _ = _random_history(store, tmp_path, seed=6, steps=6)
        deltas = store.catalog.list_deltas("t")
        keys = [run_key(deltas[a:b]) for a, b in plan(deltas)]
        cache = Path(os.environ["ASSAY_CACHE_DIR"]) / "keyindex"
        assert all((cache / k).is_file() for k in keys)  # written there by the writer
        expected = [r.h.tolist() for r in KeyIndex.load(store, deltas).runs]
        # With the store's copies gone, the cached ones answer: nothing is rebuilt.
        for k in keys:
            store.objects.delete(k)
        assert [r.h.tolist() for r in KeyIndex.load(store, deltas).runs] == expected
        assert not any(store.objects.exists(k) for k in keys)
        # A damaged cached copy is not trusted: the run is rebuilt from the deltas.
        damaged = cache / keys[0]
        damaged.write_bytes(damaged.read_bytes()[:-8])
        assert [r.h.tolist() for r in KeyIndex.load(store, deltas).runs] == expected
        assert store.objects.exists(keys[0])
        assert _composed(store) == live
        os.environ["ASSAY_CACHE_MAX_BYTES"] = "4 GiB"
        try:
            with pytest.raises(UsageError, match="ASSAY_CACHE_MAX_BYTES='4 GiB' is not a number"):
                KeyIndex.load(store, deltas)
        finally:
            del os.environ["ASSAY_CACHE_MAX_BYTES"]


@pytest.mark.parametrize("key", [["name"], ["id", "name"]])
def test_keys_that_are_not_one_integer_keep_check_hashes(
    store: assay.Store, tmp_path: Path, key: list[str]
) -> None:
    def rows(ids: list[int], v: float) -> pa.Table:
        return pa.table(
            {"id": ids, "name": [f"k{i % 7}é{i}" for i in ids], "v": [v + i for i in ids]}
        )

    assay.create_dataset(store, "s", key)
    history = [
        ("insert", rows(list(range(40)), 0.0)),
        ("upsert", rows(list(range(30, 50)), 100.0)),
        ("delete", rows(list(range(0, 10)), 0.0).select(key)),
        ("insert", rows(list(range(60, 70)), 0.0)),
    ]
    for i, (op, table) in enumerate(history):
        pq.write_table(table, tmp_path / f"{i}.parquet")
        assay.add_delta(store, "s", tmp_path / f"{i}.parquet", op=op, name=f"d{i}")
    deltas = store.catalog.list_deltas("s")
    index = KeyIndex.load(store, deltas)
    assert index.key == key and all(r.c is not None for r in index.runs)
    probe = rows(list(range(80)), 0.0)
    hashes = key_hash(probe, key)
    in_seen, live, _ = index.history(hashes)
    ref_seen, ref_live = key_history(store, deltas, hashes)
    assert in_seen.tolist() == ref_seen.tolist() == [i < 50 or 60 <= i < 70 for i in range(80)]
    assert live.tolist() == ref_live.tolist() == [10 <= i < 50 or 60 <= i < 70 for i in range(80)]
    assert verify(store).ok

    # A run whose event for key 45 carries key 75's hash: to the index, 75 and 45 now
    # share a key hash but not a check hash. Adding 75 is refused as a collision.
    (a, b), run = plan(deltas)[0], index.runs[0]
    h45, h75 = key_hash(rows([45, 75], 0.0), key)
    h = np.where(run.h == h45, h75, run.h)
    order = np.argsort(h, kind="stable")
    from assay.data.keyindex import _write_run

    assert run.c is not None
    _write_run(
        store, run_key(deltas[a:b]), Events(h[order], run.n[order], run.k[order], run.c[order])
    )
    pq.write_table(rows([75], 9.0), tmp_path / "z.parquet")
    with pytest.raises(KeyConflict, match="share a 64-bit key hash"):
        assay.add_delta(store, "s", tmp_path / "z.parquet", op="upsert", name="z")
    assert [p.reason.value for p in verify(store).problems] == ["index_mismatch"]


@pytest.mark.parametrize("seed", [6, 7])
def test_search_streams_the_runs_and_finds_what_load_finds(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Checksum blocks of 64 bytes (8 hashes), so that every run spans many blocks and
    # the events of one key straddle block boundaries, as they do at scale.
    monkeypatch.setattr(keyindex, "_BLOCK", 64)
    _random_history(store, tmp_path, seed, steps=24)
    deltas = store.catalog.list_deltas("t")
    assert max(len(r) for r in KeyIndex.load(store, deltas).runs) > 8 * 4
    keys = np.arange(-5, KEYS + 10, dtype=np.int64)  # some never stored
    everything = np.sort(key_hash(pa.table({"id": keys}), ["id"]))
    rng = np.random.default_rng(seed)
    for probes in [everything, np.sort(rng.choice(everything, 7, replace=False)), everything[:1]]:
        expected = KeyIndex.load(store, deltas).events(probes)
        found = keyindex.search(store, deltas, probes)
        assert found.equals(expected) and len(found) > 0
        # Independently: the events are those of the probed keys, one per stored row.
        stored = sum(
            np.isin(
                key_hash(pq.read_table(store.objects.local_path(d.object_key)), ["id"]), probes
            ).sum()
            for d in deltas
        )
        assert len(found) == stored


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(section, blocks) of every block read of a stored run from now on, and
    ("lines of <section>", n) for every n lines of a section a mapped probe checks."""
    reads: list[tuple[str, int]] = []
    read, check = keyindex._RunFile.read, keyindex._RunFile._check

    def counted(self, fd, name, ids=None):  # type: ignore[no-untyped-def]
        blocks = -(-self.sections[name][1] // self.sections[name][2]) if ids is None else len(ids)
        reads.append((name, blocks))
        return read(self, fd, name, ids)

    def lines(self, ids):  # type: ignore[no-untyped-def]
        if len(ids):
            first = int(ids[0]) * 64
            name = next(n for n, (at, size, _) in self.sections.items() if at <= first < at + size)
            reads.append((f"lines of {name}", len(np.unique(ids))))
        return check(self, ids)

    monkeypatch.setattr(keyindex._RunFile, "read", counted)
    monkeypatch.setattr(keyindex._RunFile, "_check", lines)
    return reads


def test_the_filter_lets_every_stored_key_through_and_reads_few_blocks_for_new_ones(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hash blocks of 32 events, so that the runs span hundreds of blocks, read 4 blocks
    # (and 128 filter words) at a time.
    monkeypatch.setattr(keyindex, "_BLOCK", 256)
    monkeypatch.setattr(keyindex, "_READ", 1024)
    rng = np.random.default_rng(11)
    ids = rng.permutation(30_000)
    assay.create_dataset(store, "t", ["id"])
    steps = [("insert", ids[:12_000]), ("insert", ids[12_000:16_000])]
    steps += [("upsert", ids[10_000:18_000]), ("delete", ids[:500])]
    steps += [("insert", ids[18_000:20_000]), ("upsert", ids[:1_000])]
    for i, (op, keys) in enumerate(steps):
        rows = keys.tolist() if op == "delete" else {int(k): float(i) for k in keys}
        assay.add_delta(store, "t", _write(tmp_path / f"{i}.parquet", rows), op=op, name=f"d{i}")
    deltas = store.catalog.list_deltas("t")
    assert len(plan(deltas)) > 1

    # No false negative: every key ever stored, and some never stored, answer as the
    # deltas themselves say (key_history reads them; the index reads its filters).
    hashes = key_hash(pa.table({"id": np.arange(-100, 30_100)}), ["id"])
    in_seen, live, _ = KeyIndex.load(store, deltas).history(hashes)
    ref_seen, ref_live = key_history(store, deltas, hashes)
    assert in_seen.tolist() == ref_seen.tolist() and live.tolist() == ref_live.tolist()
    assert int(in_seen.sum()) == 20_000

    # New keys, from a memory map (ingest): each run's filter lines of the keys, then
    # the hash lines of the few keys it lets through (~0.5% false positives), each
    # with its neighbours; no whole block, and no line of another column.
    stored_lines = sum(-(-len(r) // 8) for r in KeyIndex.load(store, deltas).runs)
    fresh = key_hash(pa.table({"id": np.arange(10**6, 10**6 + 5_000)}), ["id"])
    index = KeyIndex.load(store, deltas)
    reads = _reads(monkeypatch)
    in_seen, _, events = index.history(fresh)
    assert not in_seen.any() and len(events) == 0
    runs = len(plan(deltas))
    assert {name for name, _ in reads} == {"lines of filter", "lines of h"}
    assert sum(n for name, n in reads if name == "lines of filter") <= len(fresh) * runs
    hash_lines = sum(n for name, n in reads if name == "lines of h")
    assert 0 < hash_lines <= 2 * 0.02 * len(fresh) * runs and hash_lines < stored_lines / 20

    # The same from positioned reads (compose): whole blocks, but only those of the
    # keys the filter lets through.
    stored_blocks = sum(-(-len(r) // 32) for r in KeyIndex.load(store, deltas).runs)
    reads.clear()
    assert len(search(store, deltas, np.sort(fresh))) == 0
    hash_blocks = sum(n for name, n in reads if name == "h")
    assert {name for name, _ in reads} <= {"fences", "filter", "h"}
    assert hash_blocks <= 0.02 * len(fresh) * runs and hash_blocks < stored_blocks / 4


@pytest.mark.parametrize("checked", [False, True])
def test_a_merge_split_by_hash_range_equals_one_stable_merge(
    monkeypatch: pytest.MonkeyPatch, checked: bool
) -> None:
    """Large merges run a hash range a thread; the run must be the one stable merge
    gives: sorted by hash, a key's events in delta order, also at the cuts."""
    monkeypatch.setattr(keyindex, "_MERGE_SPAN", 500)
    rng = np.random.default_rng(23)
    pool = rng.integers(-(2**63), 2**63 - 1, 3000, dtype=np.int64)
    parts = []
    for n, size in enumerate([2000, 700, 1, 0, 900, 1500], start=1):
        h = np.sort(rng.choice(pool, size, replace=False))  # keys recur across deltas
        c = mix(h) if checked else None
        parts.append(
            Events(h, np.full(size, n, np.int32), rng.integers(0, 3, size, dtype=np.int8), c)
        )
    merged = Events.merge(parts)
    h = np.concatenate([p.h for p in parts])
    order = np.argsort(h, kind="stable")
    assert np.array_equal(merged.h, h[order])
    assert np.array_equal(merged.n, np.concatenate([p.n for p in parts])[order])
    assert np.array_equal(merged.k, np.concatenate([p.k for p in parts])[order])
    if checked:
        assert merged.c is not None
        assert np.array_equal(merged.c, np.concatenate([p.c for p in parts])[order])  # type: ignore[misc]
    else:
        assert merged.c is None


def mix(h: np.ndarray) -> np.ndarray:
    return (h * np.int64(0x9E3779B97F4A7C15 - (1 << 64))) ^ np.int64(12345)


@pytest.mark.parametrize("span", [1000, 1 << 22])
def test_the_filter_built_on_threads_sets_each_hash_s_bits(
    monkeypatch: pytest.MonkeyPatch, span: int
) -> None:
    """Spans of the sorted hashes fill the filter on several threads; the words must be
    what one pass of ``np.bitwise_or.at`` sets, also where a key repeats across a cut."""
    monkeypatch.setattr(keyindex, "_THREAD_SPAN", span)
    rng = np.random.default_rng(17)
    h = rng.integers(-(2**63), 2**63 - 1, 20_000, dtype=np.int64)
    h = np.sort(np.concatenate([h, h[:3000], np.repeat(h[5], 2500)]))  # events of one key
    words = max(1, -(-len(h) * keyindex._FILTER_BITS // 64))
    expected = np.zeros(words, np.uint64)
    np.bitwise_or.at(expected, keyindex._filter_index(h, words), keyindex._filter_masks(h))
    got = keyindex._filter(h)
    assert got.dtype == np.uint64 and np.array_equal(got, expected)
    # Every hash finds its 4 bits, and most other values do not.
    probe = rng.integers(-(2**63), 2**63 - 1, 20_000, dtype=np.int64)
    for values, at_least, at_most in ((h, 1.0, 1.0), (probe, 0.0, 0.02)):
        masks = keyindex._filter_masks(values)
        hit = (got[keyindex._filter_index(values, words)] & masks) == masks
        assert at_least <= hit.mean() <= at_most


def test_a_damaged_block_is_found_when_read_and_its_run_rebuilt(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyindex, "_BLOCK", 64)  # 8 hashes a block
    _random_history(store, tmp_path, seed=8, steps=16)
    deltas = store.catalog.list_deltas("t")
    keys = np.arange(KEYS, dtype=np.int64)
    hashes = key_hash(pa.table({"id": keys}), ["id"])
    expected = key_history(store, deltas, hashes)
    (a, b), run = plan(deltas)[0], KeyIndex.load(store, deltas).runs[0]
    path = Path(str(store.objects.local_path(run_key(deltas[a:b]))))
    good = path.read_bytes()
    victim = run.h[len(run) // 2]  # a hash in a middle block
    damaged = bytearray(good)
    damaged[good.index(victim.tobytes()) + 2] ^= 0x08
    path.write_bytes(bytes(damaged))

    # Keys that sort two blocks below it never read its block: they do not notice, and
    # the run is left as it is.
    others = hashes < run.h[8 * (int(np.searchsorted(run.h, victim)) // 8 - 1)]
    assert others.sum() > 5
    in_seen, live, _ = KeyIndex.load(store, deltas).history(hashes[others])
    assert in_seen.tolist() == expected[0][others].tolist()
    assert path.read_bytes() == bytes(damaged)
    # The victim's key reads its block, which fails its CRC-32: the run is rebuilt from
    # the deltas, stored again, and the answer is the deltas' answer.
    in_seen, live, _ = KeyIndex.load(store, deltas).history(hashes)
    assert (in_seen.tolist(), live.tolist()) == (expected[0].tolist(), expected[1].tolist())
    assert path.read_bytes() == good

    # A file of another format (e.g. a run of an earlier FORMAT) is not read: rebuilt.
    path.write_bytes(b"ARROW1\0\0" + good[8:])
    assert KeyIndex.load(store, deltas).history(hashes)[0].tolist() == expected[0].tolist()
    assert path.read_bytes() == good


@pytest.mark.parametrize("section", ["h", "n", "k", "filter"])
@pytest.mark.parametrize("mapped", [True, False])
def test_a_damaged_line_of_any_section_is_found_by_the_probe_that_reads_it(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, mapped: bool
) -> None:
    # One byte changed in the middle of a section of the merged run: a probe of every
    # key reads that line (from the map, or in a block), finds it fails its checksum,
    # and the run is rebuilt from the deltas; the answer is the deltas' answer.
    monkeypatch.setattr(keyindex, "_BLOCK", 64)
    _random_history(store, tmp_path, seed=9, steps=16)
    deltas = store.catalog.list_deltas("t")
    hashes = np.sort(key_hash(pa.table({"id": np.arange(KEYS, dtype=np.int64)}), ["id"]))
    expected = keyindex._build(store, deltas, {}, keyindex.Verifier(store.objects), None)
    (a, b) = plan(deltas)[0]
    path = Path(str(store.objects.local_path(run_key(deltas[a:b]))))
    opened = keyindex._RunFile.open(str(path))
    assert section in opened.sections  # the merged run keeps every column
    at, size, _ = opened.sections[section]
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[opened.start + at + size // 2] ^= 0x10
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="fails its checksums"):
        keyindex._RunFile.open(str(path), mapped).events(hashes, keyindex._filter_masks(hashes))

    index = KeyIndex.load(store, deltas)
    found = index.events(hashes) if mapped else search(store, deltas, hashes)
    assert found.equals(expected.select(np.isin(expected.h, hashes)))
    assert path.read_bytes() == good


def test_a_run_keeps_a_column_of_one_value_as_the_value(store: assay.Store, tmp_path: Path) -> None:
    # One insert: every event is delta 1's CREATE, so the run stores the hashes alone
    # (a 33M-row insert writes 265 MB, not 430); a run whose kinds differ keeps its kind
    # column; each reads back (whole, and probed) as the events it was written from.
    assay.create_dataset(store, "t", ["id"])
    assay.add_delta(store, "t", _write(tmp_path / "a.parquet", {k: 1.0 for k in range(40)}))
    one = store.catalog.list_deltas("t")
    path = str(store.objects.local_path(run_key(one)))
    opened = keyindex._RunFile.open(path)
    assert opened.constants == {"n": 1, "k": int(keyindex.CREATE)}
    assert set(opened.sections) == {"h", "fences", "filter"}
    rebuilt = keyindex._build(store, one, {}, keyindex.Verifier(store.objects), None)
    assert opened.read_all().equals(rebuilt) and opened.read_all().n.tolist() == [1] * 40

    merged = Events.merge(
        [rebuilt, keyindex.delta_events(one[0], key_hash(pa.table({"id": [3, 5]}), ["id"]))]
    )
    keyindex._write_run(store, "index/t/merged.run", merged)
    both = keyindex._RunFile.open(str(store.objects.local_path("index/t/merged.run")))
    assert both.constants == {"n": 1, "k": 0} and both.read_all().equals(merged)
    mixed = Events(merged.h, merged.n, np.where(merged.h % 2 == 0, 0, 2).astype(np.int8))
    keyindex._write_run(store, "index/t/mixed.run", mixed)
    varied = keyindex._RunFile.open(str(store.objects.local_path("index/t/mixed.run")))
    assert varied.constants == {"n": 1} and "k" in varied.sections
    assert varied.read_all().equals(mixed)
    probes = np.sort(merged.h[::3])
    found = varied.events(probes, keyindex._filter_masks(probes))
    assert found.equals(mixed.select(np.isin(mixed.h, probes)))


@pytest.mark.parametrize("size", [1000, 3_000_001])
def test_sort_in_place_is_numpy_s_sort(size: int) -> None:
    # A large array is split around its median and its halves sorted on two threads;
    # repeats (a file's repeated keys) and the extremes straddle the split.
    rng = np.random.default_rng(size)
    h = rng.integers(-(2**63), 2**63 - 1, size, dtype=np.int64)
    h[rng.integers(0, size, size // 10)] = h[size // 2]
    h[:3] = [np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0]
    want = np.sort(h)
    keyindex.sort_in_place(h)
    assert np.array_equal(h, want)
