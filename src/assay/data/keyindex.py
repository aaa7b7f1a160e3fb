"""The key index: every key event of a dataset, in a few immutable sorted runs.

Ingest must know, for each incoming key, whether an earlier delta held it and whether
it is live; compose must know, for the keys that upserts and deletes touch, which delta
wins each. Both are questions about key *events* — (key hash, delta number, kind) —
which the index keeps sorted by hash in runs, each covering a contiguous range of the
dataset's deltas. A question is a binary search per run: no read, sort or probe of the
whole history.

Runs of similar size are merged as deltas arrive (size-tiered compaction, as an LSM
tree does), so a dataset of n deltas has O(log n) runs and each event is rewritten
O(log n) times. Which runs exist is a pure function of the catalog's delta list
(``plan``), and each run's object key names the deltas it covers (ids and object
hashes): a run is derived data. A reader that finds one missing or damaged (its
checksums disagree) rebuilds it from the deltas and stores it again; ``assay verify``
re-derives every run from the deltas and compares; ``assay gc`` removes runs that no
current plan names (those a merge replaced). A crash leaves at most a run missing —
the next reader rebuilds it — or one that nothing names.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.data._replay import CREATE, DELETE, UPDATE, HashIndex, replay
from assay.data.hashing import key_bytes, key_integers, mix64
from assay.errors import AssayError, UsageError
from assay.store import Store
from assay.store.catalog import Catalog, DeltaInfo
from assay.store.verified import Verifier

__all__ = [
    "FORMAT",
    "HASH_COLUMN",
    "UPD_COLUMN",
    "Events",
    "KeyIndex",
    "check_hash",
    "delta_events",
    "delta_key_hashes",
    "is_checked",
    "live_index_keys",
    "plan",
    "read_delta_events",
    "replay_selected",
    "run_key",
    "search",
    "verify_runs",
]

HASH_COLUMN = "_assay_key_hash"  # stable key hash, stored at ingest (docs/identities.md)
UPD_COLUMN = "_assay_upd"  # upserts: the key was live when the delta was committed
FORMAT = "assay-keyindex-v3"
PREFIX = "index"
_SCHEMA = pa.schema([("h", pa.int64()), ("n", pa.int32()), ("k", pa.int8())])
_CHECKED_SCHEMA = _SCHEMA.append(pa.field("c", pa.int64()))


@dataclass(frozen=True)
class Events:
    """Key events sorted by (hash, delta number): ``h`` hash, ``n`` delta, ``k`` kind;
    ``c`` the key's check hash, for keys whose hash is not a bijection (``check_hash``)."""

    h: np.ndarray
    n: np.ndarray
    k: np.ndarray
    c: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.h)

    @staticmethod
    def empty() -> Events:
        return Events(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int8))

    @staticmethod
    def merge(parts: Sequence[Events]) -> Events:
        """One sorted run from runs of increasing, disjoint delta ranges."""
        parts = [p for p in parts if len(p)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return Events.empty()
        h = np.concatenate([p.h for p in parts])
        # A stable sort of sorted pieces is a merge (timsort finds the runs); pieces come
        # in delta order, so equal hashes stay in delta order.
        order = np.argsort(h, kind="stable")
        checks = [p.c for p in parts if p.c is not None]
        return Events(
            h[order],
            np.concatenate([p.n for p in parts])[order],
            np.concatenate([p.k for p in parts])[order],
            np.concatenate(checks)[order] if len(checks) == len(parts) else None,
        )

    def select(self, mask: np.ndarray) -> Events:
        c = None if self.c is None else self.c[mask]
        return Events(self.h[mask], self.n[mask], self.k[mask], c)

    def equals(self, other: Events) -> bool:
        return (
            np.array_equal(self.h, other.h)
            and np.array_equal(self.n, other.n)
            and np.array_equal(self.k, other.k)
            and (
                self.c is other.c is None
                or (self.c is not None and other.c is not None and np.array_equal(self.c, other.c))
            )
        )


def is_checked(key: Sequence[str], types: Mapping[str, str]) -> bool:
    """Whether equal key hashes may come from different keys, so that runs keep a second,
    independent hash to tell them apart: every key but one int64 column (whose hash,
    ``mix64``, is a bijection). ``types`` maps columns to the dataset's type names."""
    return not (len(key) == 1 and types.get(key[0]) == "int64")


_CHECK_MULT = np.uint64(0xA0761D6478BD642F)  # odd constants of the check hash
_CHECK_SEED = np.uint64(0xE7037ED1A0B428DB)


def check_hash(table: pa.Table, key: Sequence[str]) -> np.ndarray:
    """A second 64-bit hash of each row's key, independent of ``key_hash``: a polynomial
    hash of each value's bytes (not FNV), combined over the columns with other constants.
    Two keys with equal key hashes and equal check hashes are taken to be equal (a
    chance of 2^-64 per colliding pair, itself a 2^-64 event). Derived data, not an
    identity: a change here only rebuilds the index (bump ``FORMAT``)."""
    c = np.full(table.num_rows, _CHECK_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in key:
            arr = table.column(name).combine_chunks()
            t = arr.type
            if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
                data, offsets = key_bytes(arr)
                v = _poly64(data, offsets) ^ (offsets[1:] - offsets[:-1]).astype(np.uint64)
            else:  # integers, dates and timestamps: their 64-bit values
                v = key_integers(arr)
            c = mix64((c ^ v) * _CHECK_MULT + _CHECK_SEED)
    return c.view(np.int64)


def _poly64(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """sum(byte_i * M^(len-1-i)) mod 2^64 of each byte string, vectorised by position."""
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    h = np.zeros(len(starts), dtype=np.uint64)
    longest = int(lengths.max()) if len(lengths) else 0
    with np.errstate(over="ignore"):
        for pos in range(longest):
            active = np.nonzero(lengths > pos)[0]
            h[active] = h[active] * _CHECK_MULT + data[starts[active] + pos].astype(np.uint64) + 1
    return h


def delta_key_hashes(
    store: Store, delta: DeltaInfo, verifier: Verifier | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The stored key hashes of a delta, and its upsert flags (None unless upsert).

    Read only from an object whose hash ``verifier`` (a fresh one by default) confirms.
    """
    cols = [HASH_COLUMN] + ([UPD_COLUMN] if delta.op == "upsert" else [])
    verifier = verifier or Verifier(store.objects)
    # A local path lets Arrow memory-map and read column chunks in parallel.
    t = verifier.read(delta, lambda path: pq.read_table(path, columns=cols))
    h = t.column(HASH_COLUMN).to_numpy()
    upd = t.column(UPD_COLUMN).to_numpy(zero_copy_only=False) if delta.op == "upsert" else None
    return h, upd


def delta_events(
    delta: DeltaInfo,
    hashes: np.ndarray,
    upd: np.ndarray | None = None,
    ordered: np.ndarray | None = None,
    checks: np.ndarray | None = None,
) -> Events:
    """The key events of one delta, sorted by hash (``ordered``: ``hashes`` sorted, where
    the caller has it; ``checks``: the rows' check hashes, where the dataset keeps them).

    An inserted row creates its key; an upserted row updates it if the key was live when
    the delta was committed (``upd``), else creates it; a delete deletes it.
    """
    if delta.op == "delete":
        kinds = np.full(len(hashes), DELETE, dtype=np.int8)
    elif delta.op == "upsert":
        assert upd is not None  # stored with every upsert
        kinds = np.where(upd, UPDATE, CREATE).astype(np.int8)
    else:
        kinds = np.full(len(hashes), CREATE, dtype=np.int8)
    if delta.op != "upsert" and checks is None:  # one kind per row: a sort, no permutation
        h = np.sort(hashes.astype(np.int64, copy=False)) if ordered is None else ordered
        return Events(h, np.full(len(h), delta.number, dtype=np.int32), kinds)
    order = np.argsort(hashes, kind="stable")
    return Events(
        np.ascontiguousarray(hashes[order], dtype=np.int64),
        np.full(len(hashes), delta.number, dtype=np.int32),
        kinds[order],
        None if checks is None else np.ascontiguousarray(checks[order], dtype=np.int64),
    )


def read_delta_events(
    store: Store, delta: DeltaInfo, key: Sequence[str] | None, verifier: Verifier
) -> Events:
    """A delta's events from its (verified) object; with ``key``, the check hashes too."""
    cols = [HASH_COLUMN, *([UPD_COLUMN] if delta.op == "upsert" else []), *(key or [])]
    t = verifier.read(delta, lambda path: pq.read_table(path, columns=cols))
    upd = t.column(UPD_COLUMN).to_numpy(zero_copy_only=False) if delta.op == "upsert" else None
    checks = check_hash(t, key) if key else None
    return delta_events(delta, t.column(HASH_COLUMN).to_numpy(), upd, checks=checks)


def plan(deltas: Sequence[DeltaInfo]) -> list[tuple[int, int]]:
    """The runs that index ``deltas``: half-open position ranges, oldest first.

    Each delta starts a run of its own; while the run below the newest holds at most
    twice its events, the two merge. Each run then holds more than twice the events of
    the run above it, so there are at most log2(rows) + 1 runs whatever the deltas'
    sizes, each event is rewritten O(log rows) times, and the layout depends on the
    deltas alone.
    """
    stack: list[list[int]] = []  # [start, end, events]
    for i, d in enumerate(deltas):
        stack.append([i, i + 1, max(d.row_count, 1)])
        while len(stack) >= 2 and stack[-2][2] <= 2 * stack[-1][2]:
            top = stack.pop()
            stack[-1][1] = top[1]
            stack[-1][2] += top[2]
    return [(start, end) for start, end, _ in stack]


def run_key(deltas: Sequence[DeltaInfo]) -> str:
    """The object key of the run over ``deltas``: it names their ids and object hashes,
    so a run is never reused for other bytes (an upsert's flags live in its object)."""
    digest = hashlib.sha256(FORMAT.encode())
    for d in deltas:
        digest.update(f"\n{d.number} {d.delta_id} {d.object_sha256}".encode())
    first, last = deltas[0], deltas[-1]
    return f"{PREFIX}/{first.dataset}/{first.number:06d}-{last.number:06d}.{digest.hexdigest()[:32]}.arrow"


def live_index_keys(catalog: Catalog) -> set[str]:
    """The run keys of every dataset's current plan (``gc`` keeps them)."""
    keys: set[str] = set()
    for info in catalog.list_datasets():
        deltas = catalog.list_deltas(info.name)
        keys.update(run_key(deltas[a:b]) for a, b in plan(deltas))
    return keys


class KeyIndex:
    """The runs of one dataset's deltas, ready to answer questions about keys.

    ``load`` reads the runs of ``plan(deltas)``, building (and storing) any that are
    missing or damaged; ``runs`` are then memory-mapped where the store is local.
    """

    def __init__(
        self,
        store: Store,
        deltas: Sequence[DeltaInfo],
        runs: list[Events],
        key: Sequence[str] | None = None,
    ):
        self.store = store
        self.deltas = tuple(deltas)
        self.runs = runs
        self.key = key  # the key columns, where runs keep check hashes (``is_checked``)

    @classmethod
    def load(
        cls,
        store: Store,
        deltas: Sequence[DeltaInfo],
        *,
        verifier: Verifier | None = None,
        known: dict[str, Events] | None = None,
    ) -> KeyIndex:
        """The index of ``deltas`` (one dataset's, numbered 1..n in order).

        ``known`` caches runs by object key across calls (committed runs never change).
        """
        known = {} if known is None else known
        columns = _checked_key(store, deltas)
        runs = []
        for a, b in plan(deltas):
            key = run_key(deltas[a:b])
            if key not in known:
                found = _read_run(store, key)
                if found is None:
                    verifier = verifier or Verifier(store.objects)
                    found = _build(store, deltas[a:b], known, verifier, columns)
                    # Stored for the next reader; a reader that may not write (a
                    # read-only store) still has its answer.
                    with contextlib.suppress(OSError, AssayError):
                        _write_run(store, key, found)
                known[key] = found
            runs.append(known[key])
        return cls(store, deltas, runs, columns)

    def extend(
        self, delta: DeltaInfo, events: Events, known: dict[str, Events] | None = None
    ) -> KeyIndex:
        """The index with ``delta`` (the next one) added: its run stored, and the runs
        that the new plan merges, merged from the runs in hand."""
        known = {} if known is None else known
        deltas = (*self.deltas, delta)
        for (a, b), run in zip(plan(self.deltas), self.runs, strict=True):
            known.setdefault(run_key(self.deltas[a:b]), run)
        known.setdefault(run_key([delta]), events)
        runs = []
        for a, b in plan(deltas):
            key = run_key(deltas[a:b])
            if key not in known:
                verifier = Verifier(self.store.objects)
                known[key] = _build(self.store, deltas[a:b], known, verifier, self.key)
                _write_run(self.store, key, known[key])
            elif key == run_key([delta]):
                _write_run(self.store, key, known[key])
            runs.append(known[key])
        # The runs the merges replaced: a reader that still wants one finds it missing
        # and rebuilds it; one left by a crash here is `assay gc`'s.
        current = {run_key(deltas[a:b]) for a, b in plan(deltas)}
        for a, b in plan(self.deltas):
            if (key := run_key(self.deltas[a:b])) not in current:
                self.store.objects.delete(key)
        return KeyIndex(self.store, deltas, runs, self.key)

    def events(self, hashes: np.ndarray, ordered: np.ndarray | None = None) -> Events:
        """Every event of the keys in ``hashes`` (sorted by hash, then delta);
        ``ordered`` is ``hashes`` sorted, where the caller has it."""
        probes = np.sort(hashes.astype(np.int64, copy=False)) if ordered is None else ordered
        found = list(_pool().map(lambda run: _events_of(run, probes), self.runs))
        return Events.merge(found)

    def history(
        self, hashes: np.ndarray, ordered: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, Events]:
        """For each key hash: whether any delta held it, whether it is live after the
        last delta; and the events found. ``ordered``: as for ``events``."""
        ev = self.events(hashes, ordered)
        # ev.h is sorted: its distinct values are where it changes.
        seen = HashIndex(ev.h[np.r_[True, ev.h[1:] != ev.h[:-1]]] if len(ev) else ev.h)
        in_seen = seen.contains(hashes)
        winner = replay(ev.h, ev.n.astype(np.int64), ev.k).get(hashes, default=-1)
        return in_seen, winner >= 0, ev

    def touched(
        self, selected: Sequence[DeltaInfo], touched: np.ndarray
    ) -> tuple[HashIndex, set[int]]:
        """Replay the events of ``touched`` keys among the ``selected`` deltas only: the
        winning delta per key (-1: gone), and the deltas that hold a row of one."""
        return replay_selected(self.events(touched), selected)


def replay_selected(ev: Events, selected: Sequence[DeltaInfo]) -> tuple[HashIndex, set[int]]:
    """Replay the events ``ev`` of some keys among the ``selected`` deltas only: the
    winning delta per key (-1: gone), and the deltas that hold a row of one."""
    numbers = np.array(sorted(d.number for d in selected), dtype=np.int32)
    ev = ev.select(np.isin(ev.n, numbers))
    deleting = {d.number for d in selected if d.op == "delete"}
    holders = {int(n) for n in np.unique(ev.n)} - deleting
    return replay(ev.h, ev.n.astype(np.int64), ev.k), holders


def search(
    store: Store,
    deltas: Sequence[DeltaInfo],
    probes: np.ndarray,
    *,
    verifier: Verifier | None = None,
) -> Events:
    """``KeyIndex.load(store, deltas).events(probes)`` (``probes``: sorted key hashes)
    without holding the runs: each stored run is read a block at a time, checked and
    searched, so memory grows with the probes and their events, not with the history.

    A run missing or damaged is rebuilt and stored, as ``KeyIndex.load`` does.
    """
    found = []
    try:
        for a, b in plan(deltas):
            found.append(_search_file(_local_run(store, run_key(deltas[a:b])), probes))
    except (OSError, pa.ArrowInvalid, KeyError, ValueError):
        return KeyIndex.load(store, deltas, verifier=verifier).events(probes)
    return Events.merge(found)


def _positions(values: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """Every position of the sorted ``values`` that holds one of the sorted ``probes``,
    ascending."""
    if not len(values) or not len(probes):
        return np.zeros(0, np.int64)
    probes = probes[
        np.searchsorted(probes, values[0], "left") : np.searchsorted(probes, values[-1], "right")
    ]
    lo = np.searchsorted(values, probes, "left")  # < len(values): probes <= values[-1]
    hit = values[lo] == probes
    starts = lo[hit]
    counts = np.searchsorted(values, probes[hit], "right") - starts
    # Every position in [start, start + count) of each hit, in order.
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return (offsets + np.arange(int(counts.sum()))).astype(np.int64, copy=False)


def _events_of(run: Events, probes: np.ndarray) -> Events:
    """The events of ``run`` whose hash is among the sorted ``probes``."""
    pos = _positions(run.h, probes)
    if not len(pos):
        return Events.empty()
    return Events(run.h[pos], run.n[pos], run.k[pos], None if run.c is None else run.c[pos])


def _search_file(path: str, probes: np.ndarray) -> Events:
    """``_events_of`` the run stored at ``path``; ValueError if it fails its checksums.

    The file is read with plain reads, a checksum block at a time, on the pool's
    threads: its pages stay in the page cache, not in this process's memory (a mapped
    run's pages stay resident until unmapped, and a search touches nearly all of them).
    """
    with pa.memory_map(path) as source:  # the layout only: no data page is touched
        reader = pa.ipc.open_file(source)
        meta = reader.schema.metadata or {}
        if reader.num_record_batches != 1 or not int(meta.get(b"rows", b"0")):
            run = _load(path)  # an empty run: nothing to stream
            if run is None:
                raise ValueError(f"{path}: damaged")
            return _events_of(run, probes)
        if meta.get(b"format") != FORMAT.encode() or reader.schema.remove_metadata() not in (
            _SCHEMA,
            _CHECKED_SCHEMA,
        ):
            raise ValueError(f"{path}: not a run of {FORMAT}")
        batch = reader.get_batch(0)
        source.seek(0)
        base = source.read_buffer(1).address
        columns = [
            (c.buffers()[1].address - base, np.dtype(c.type.to_pandas_dtype()))
            for c in batch.columns
        ]
        rows = batch.num_rows
    crcs = iter(json.loads(meta[b"crc32"]))
    if int(meta[b"rows"]) != rows:
        raise ValueError(f"{path}: damaged")
    # (first row, file offset, bytes, expected CRC) of each block, column after column
    blocks = []
    for offset, dtype in columns:
        size = rows * dtype.itemsize
        blocks.append(
            [
                (i // dtype.itemsize, offset + i, min(_BLOCK, size - i), next(crcs))
                for i in range(0, size, _BLOCK)
            ]
        )
    with pa.OSFile(path) as file:  # read_at: positioned reads, safe across threads

        def read(block: tuple[int, int, int, int], dtype: np.dtype) -> np.ndarray:
            data = file.read_at(block[2], block[1])
            if zlib.crc32(data) != block[3]:
                raise ValueError(f"{path}: fails its checksums")
            return np.frombuffer(data, dtype)

        def find(block: tuple[int, int, int, int]) -> np.ndarray:
            return block[0] + _positions(read(block, np.dtype(np.int64)), probes)

        pos = np.concatenate(list(_pool().map(find, blocks[0])))

        def gather(block: tuple[int, int, int, int], dtype: np.dtype) -> np.ndarray:
            values, first = read(block, dtype), block[0]
            inside = pos[np.searchsorted(pos, first) : np.searchsorted(pos, first + len(values))]
            return values[inside - first]

        out = [
            np.concatenate(list(_pool().map(functools.partial(gather, dtype=dtype), column)))
            for (_, dtype), column in zip(columns, blocks, strict=True)
        ]
    return Events(*out)


def _checked_key(store: Store, deltas: Sequence[DeltaInfo]) -> list[str] | None:
    """The key columns of ``deltas``' dataset if its runs keep check hashes, else None."""
    if not deltas:
        return None
    info = store.catalog.get_dataset(deltas[0].dataset)
    return list(info.key) if is_checked(info.key, dict(info.schema)) else None


def _build(
    store: Store,
    deltas: Sequence[DeltaInfo],
    known: dict[str, Events],
    verifier: Verifier,
    columns: Sequence[str] | None,
) -> Events:
    """The run over ``deltas``: merged from runs in hand that tile it, else read from the
    deltas' (verified) objects (with check hashes of the key ``columns``, if given)."""
    parts: list[Events] = []
    i = 0
    while i < len(deltas):
        for j in range(len(deltas), i, -1):
            key = run_key(deltas[i:j])
            if key in known and (i, j) != (0, len(deltas)):
                parts.append(known[key])
                i = j
                break
        else:
            parts.append(read_delta_events(store, deltas[i], columns, verifier))
            i += 1
    return Events.merge(parts)


def _columns(run: Events) -> list[np.ndarray]:
    return [run.h, run.n, run.k, *([] if run.c is None else [run.c])]


_BLOCK = 1 << 23  # bytes a CRC-32 covers: blocks are checked in parallel
_POOL: list[ThreadPoolExecutor] = []
os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has no pool threads


def _pool() -> ThreadPoolExecutor:
    """Threads for checksums and probes: zlib and numpy's searches release the GIL."""
    if not _POOL:
        _POOL.append(
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="assay-index")
        )
    return _POOL[0]


def _checksums(run: Events) -> list[int]:
    """The CRC-32 of each 8 MiB block of each column, in order, computed in parallel."""
    blocks: list[memoryview] = []
    for column in _columns(run):
        data = np.ascontiguousarray(column).data.cast("B")
        blocks.extend(data[i : i + _BLOCK] for i in range(0, max(len(data), 1), _BLOCK))
    return list(_pool().map(zlib.crc32, blocks))


def _write_run(store: Store, key: str, run: Events) -> None:
    """Store ``run`` as an Arrow IPC file (uncompressed: memory-mapped, zero-copy); a
    remote store's run is kept in the local cache too."""
    meta = {"format": FORMAT, "rows": str(len(run)), "crc32": json.dumps(_checksums(run))}
    schema = _SCHEMA if run.c is None else _CHECKED_SCHEMA
    table = pa.table([pa.array(a) for a in _columns(run)], schema=schema.with_metadata(meta))
    with tempfile.TemporaryDirectory(prefix="assay-") as tmp:
        local = Path(tmp) / "run.arrow"
        with pa.OSFile(str(local), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=max(len(run), 1))
        store.objects.put_file(key, local)
        if store.objects.local_path(key) is None:
            _cache(key, lambda target: os.replace(local, target))


def _read_run(store: Store, key: str) -> Events | None:
    """The run stored under ``key``; None if it is missing or fails its checksums.

    A remote store's run is read from the local cache, downloaded there on first use: a
    run's key names its content, so a cached copy never goes stale.
    """
    cached = store.objects.local_path(key) is None
    if cached:
        _cache_limit()  # a bad setting is one line, not a silently unused cache
    local = None
    try:
        local = _local_run(store, key)
        run = _load(local)
    except (OSError, pa.ArrowInvalid, KeyError, ValueError):
        run = None  # missing or damaged: derived data, rebuilt by the caller
    if run is None and cached and local is not None:
        with contextlib.suppress(OSError):
            os.unlink(local)  # a damaged cached copy is fetched again next time
    return run


def _local_run(store: Store, key: str) -> str:
    """A local path of the run stored under ``key``: the object itself, or a remote
    store's copy in the local cache (downloaded there on first use)."""
    local = store.objects.local_path(key)
    if local is None:
        _cache_limit()  # a bad setting is one line, not a silently unused cache
        local = str(_cache_dir() / key)
        if not os.path.exists(local):
            data = store.objects.get_bytes(key)
            _cache(key, lambda target: Path(target).write_bytes(data))
    return local


def _load(path: str) -> Events | None:
    """The run in the file at ``path``, memory-mapped; None if it fails its checksums."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    meta = table.schema.metadata or {}
    schema = table.schema.remove_metadata()
    if meta.get(b"format") != FORMAT.encode() or schema not in (_SCHEMA, _CHECKED_SCHEMA):
        return None
    table = table.combine_chunks()
    run = Events(*(_numpy(table.column(i)) for i in range(table.num_columns)))
    if int(meta[b"rows"]) != len(run) or json.loads(meta[b"crc32"]) != _checksums(run):
        return None
    return run


def _cache_dir() -> Path:
    """Where runs of remote stores are kept on this machine (safe to delete)."""
    configured = os.environ.get("ASSAY_CACHE_DIR")
    if configured:
        return Path(configured) / "keyindex"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "assay" / "keyindex"


def _cache_limit() -> int:
    """``ASSAY_CACHE_MAX_BYTES``: the bytes the local cache may hold (4 GiB by default)."""
    text = os.environ.get("ASSAY_CACHE_MAX_BYTES", "").strip()
    if not text:
        return 4 << 30
    if not text.isdigit():
        raise UsageError(
            f"ASSAY_CACHE_MAX_BYTES={text!r} is not a number of bytes; set it to e.g. "
            "4294967296 (4 GiB), or unset it"
        )
    return int(text)


def _cache(key: str, write: Callable[[str], object]) -> None:
    """Put a run into the local cache atomically (``write(path)`` makes the file), then
    trim the cache to ``ASSAY_CACHE_MAX_BYTES`` (4 GiB), the least recently read first."""
    target = _cache_dir() / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
    write(tmp)
    os.replace(tmp, target)
    limit = _cache_limit()
    files = [(f.stat().st_atime, f.stat().st_size, f) for f in _cache_dir().rglob("*.arrow")]
    total = sum(size for _, size, _ in files)
    for _, size, f in sorted(files):
        if total <= limit:
            break
        if f != target:
            with contextlib.suppress(OSError):
                f.unlink()
                total -= size


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if column.num_chunks == 0:
        return np.zeros(0, column.type.to_pandas_dtype())
    return column.chunk(0).to_numpy(zero_copy_only=True)


def verify_runs(store: Store, deltas: Sequence[DeltaInfo]) -> Iterable[tuple[str, str]]:
    """(run key, what is wrong) for each stored run of ``deltas``' plan that differs from
    the run rebuilt from the deltas (a missing run is fine: it is rebuilt when needed)."""
    verifier = Verifier(store.objects)
    columns = _checked_key(store, deltas)
    for a, b in plan(deltas):
        part = deltas[a:b]
        key = run_key(part)
        if not store.objects.exists(key):
            continue
        stored = _read_run(store, key)
        if stored is None:
            yield key, "fails its checksums"
        elif not stored.equals(_build(store, part, {}, verifier, columns)):
            yield key, f"does not hold the key events of deltas {part[0].number}–{part[-1].number}"
