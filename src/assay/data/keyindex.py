"""The key index: every key event of a dataset, in a few immutable sorted runs.

Ingest must know, for each incoming key, whether an earlier delta held it and whether
it is live; incremental checks, which delta of a version holds the row of each key an
upsert or delete touches. Both are questions about key *events* — (key hash, delta
number, kind) — which the index keeps sorted by hash in runs, each covering a
contiguous range of the dataset's deltas. (Compose needs no run: what ingest
guarantees lets it replay the touched keys from the upserts and deletes themselves,
``deltas.touched_keys``.) A question is a probe per run: no read, sort or probe of
the whole history. A stored run carries a Bloom filter of its hashes and a checksum per
64-byte line, so that a probe reads the filter, then only where the keys that the
filter lets through (nearly none of an insert's new keys) are, and checks only the
lines it reads: its cost follows the probes, not the size of the run (decision 98).

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
import hashlib
import itertools
import json
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.config import cache_dir
from assay.data._replay import CREATE, DELETE, UPDATE, HashIndex, replay
from assay.data.hashing import key_bytes, key_hash, key_integers, mix64
from assay.errors import AssayError, UsageError
from assay.store import Store
from assay.store.catalog import Catalog, DeltaInfo
from assay.store.verified import Verifier

__all__ = [
    "FORMAT",
    "HASH_COLUMN",
    "UPD_COLUMN",
    "Events",
    "Growth",
    "KeyIndex",
    "among",
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
    "sort_in_place",
    "verify_runs",
]

HASH_COLUMN = "_assay_key_hash"  # stable key hash, stored at ingest (docs/identities.md)
UPD_COLUMN = "_assay_upd"  # upserts: the key was live when the delta was committed
FORMAT = "assay-keyindex-v6"
PREFIX = "index"


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
        total = sum(len(p) for p in parts)
        spans = min(os.cpu_count() or 1, -(-total // _MERGE_SPAN))
        if spans < 2:
            return Events._merge(parts)
        # Hash ranges cut at the largest part's quantiles, merged on the pool's threads
        # (numpy's sorts and gathers release the GIL), then put end to end.
        largest = max(parts, key=len).h
        cuts = [largest[len(largest) * i // spans] for i in range(1, spans)]
        bounds = [np.searchsorted(p.h, cuts) for p in parts]  # per part, where each range ends

        def piece(i: int) -> Events:
            sliced = []
            for p, ends in zip(parts, bounds, strict=True):
                lo = 0 if i == 0 else int(ends[i - 1])
                hi = len(p) if i == spans - 1 else int(ends[i])
                sliced.append(p.slice(lo, hi))
            return Events._merge([p for p in sliced if len(p)])

        pieces = list(_pool().map(piece, range(spans)))
        checks = [p.c for p in pieces if p.c is not None]
        return Events(
            np.concatenate([p.h for p in pieces]),
            np.concatenate([p.n for p in pieces]),
            np.concatenate([p.k for p in pieces]),
            np.concatenate(checks) if len(checks) == len(pieces) else None,
        )

    @staticmethod
    def _merge(parts: Sequence[Events]) -> Events:
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

    def slice(self, lo: int, hi: int) -> Events:
        c = None if self.c is None else self.c[lo:hi]
        return Events(self.h[lo:hi], self.n[lo:hi], self.k[lo:hi], c)

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
    """The key hashes of a delta, and its upsert flags (None unless upsert): stored in
    a canonical object, computed from the key columns of one stored as given.

    Read only from an object whose hash ``verifier`` (a fresh one by default) confirms.
    """
    verifier = verifier or Verifier(store.objects)
    if delta.as_is:  # no stored hashes: the key columns give them (an insert: no flags)
        key = store.catalog.get_dataset(delta.dataset).key
        keys = verifier.read(delta, lambda path: pq.read_table(path, columns=list(key)))
        return key_hash(keys, key), None
    cols = [HASH_COLUMN] + ([UPD_COLUMN] if delta.op == "upsert" else [])
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
    kind = {"delete": DELETE, "insert": CREATE}.get(delta.op)
    if kind is not None and checks is None:  # one kind per row: a sort, no permutation
        h = np.sort(hashes.astype(np.int64, copy=False)) if ordered is None else ordered
        # One delta, one kind: constant columns, views of one value (a stored run keeps
        # such a column as the value, not as a section).
        return Events(
            h, _constant(delta.number, np.int32, len(h)), _constant(kind, np.int8, len(h))
        )
    if kind is not None:
        kinds = np.full(len(hashes), kind, dtype=np.int8)
    else:
        assert upd is not None  # stored with every upsert
        kinds = np.where(upd, UPDATE, CREATE).astype(np.int8)
    order = np.argsort(hashes, kind="stable")
    return Events(
        np.ascontiguousarray(hashes[order], dtype=np.int64),
        np.full(len(hashes), delta.number, dtype=np.int32),
        kinds[order],
        None if checks is None else np.ascontiguousarray(checks[order], dtype=np.int64),
    )


def _constant(value: int | np.integer, dtype: type[np.generic], rows: int) -> np.ndarray:
    """``rows`` copies of ``value``, as a read-only view of one (no memory per row)."""
    return np.broadcast_to(np.asarray(value, dtype=dtype), (rows,))


def read_delta_events(
    store: Store, delta: DeltaInfo, key: Sequence[str] | None, verifier: Verifier
) -> Events:
    """A delta's events from its (verified) object; with ``key``, the check hashes too."""
    if delta.as_is:  # an insert without stored hashes: its key columns give them
        columns = list(key or store.catalog.get_dataset(delta.dataset).key)
        keys = verifier.read(delta, lambda path: pq.read_table(path, columns=columns))
        checks = check_hash(keys, columns) if key else None
        return delta_events(delta, key_hash(keys, columns), None, checks=checks)
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
    return f"{PREFIX}/{first.dataset}/{first.number:06d}-{last.number:06d}.{digest.hexdigest()[:32]}{_SUFFIX}"


def live_index_keys(catalog: Catalog) -> set[str]:
    """The run keys of every dataset's current plan (``gc`` keeps them)."""
    keys: set[str] = set()
    for info in catalog.list_datasets():
        deltas = catalog.list_deltas(info.name)
        keys.update(run_key(deltas[a:b]) for a, b in plan(deltas))
    return keys


class KeyIndex:
    """The runs of one dataset's deltas, ready to answer questions about keys.

    ``load`` opens the stored runs of ``plan(deltas)`` (their layout, filter and checksums
    only), building (and storing) any that are missing; a probe reads the blocks it needs,
    and a run found damaged then is rebuilt. ``runs`` reads every run whole.
    """

    def __init__(
        self,
        store: Store,
        deltas: Sequence[DeltaInfo],
        runs: Sequence[Events | _RunFile],
        key: Sequence[str] | None = None,
    ):
        self.store = store
        self.deltas = tuple(deltas)
        self._runs = list(runs)
        self.key = key  # the key columns, where runs keep check hashes (``is_checked``)

    @property
    def runs(self) -> list[Events]:
        """Every run's events, read whole and checked (a damaged one rebuilt)."""
        whole: list[Events] = []
        for i, run in enumerate(self._runs):
            if isinstance(run, _RunFile):
                try:
                    run = run.read_all()
                except (OSError, ValueError):
                    run = self._rebuild(i)
                self._runs[i] = run
            whole.append(run)
        return whole

    def _rebuild(self, i: int) -> Events:
        """Run ``i`` built from the deltas, and stored again where the store allows."""
        a, b = plan(self.deltas)[i]
        part = self.deltas[a:b]
        run = _build(self.store, part, {}, Verifier(self.store.objects), self.key)
        with contextlib.suppress(OSError, AssayError):
            _write_run(self.store, run_key(part), run)
        return run

    @classmethod
    def load(
        cls,
        store: Store,
        deltas: Sequence[DeltaInfo],
        *,
        verifier: Verifier | None = None,
        known: dict[str, Events] | None = None,
        mapped: bool = True,
    ) -> KeyIndex:
        """The index of ``deltas`` (one dataset's, numbered 1..n in order).

        ``known`` caches runs by object key across calls (committed runs never change);
        ``mapped=False`` reads stored runs with positioned reads, not a memory map.
        """
        known = {} if known is None else known
        columns = _checked_key(store, deltas)
        if store.objects.local_path(PREFIX) is None:
            _cache_limit()  # a bad setting is one line, not a silently unused cache
        runs: list[Events | _RunFile] = []
        for a, b in plan(deltas):
            key = run_key(deltas[a:b])
            if key in known:
                runs.append(known[key])
                continue
            try:
                runs.append(_open_run(store, key, mapped))
            except (OSError, KeyError, ValueError):  # missing, or not a sound run of FORMAT
                verifier = verifier or Verifier(store.objects)
                known[key] = _build(store, deltas[a:b], known, verifier, columns)
                # Stored for the next reader; a reader that may not write (a
                # read-only store) still has its answer.
                with contextlib.suppress(OSError, AssayError):
                    _write_run(store, key, known[key])
                runs.append(known[key])
        return cls(store, deltas, runs, columns)

    def grow(self, delta: DeltaInfo, events: Events, known: Mapping[str, Events]) -> Growth:
        """The index with ``delta`` (the next one) added, first half: the runs of the
        next plan that ``delta`` is in, merged from the runs in hand (read whole here)
        and encoded, not yet stored (``Growth.store``). Of ``delta`` only its number,
        operation and row count are read, so this can run while its object is written,
        before the object's hash (which names the runs) is known."""
        deltas = (*self.deltas, delta)
        before = [run_key(self.deltas[a:b]) for a, b in plan(self.deltas)]
        after = [run_key(deltas[a:b]) for a, b in plan(deltas)]
        kept = dict(zip(before, self._runs, strict=True))
        read: dict[str, Events] = {}  # runs merged away: their events are needed
        for key, run in kept.items():
            if key not in after and key not in known:
                if isinstance(run, _RunFile):
                    with contextlib.suppress(OSError, ValueError):  # else: from the deltas
                        read[key] = run.read_all()
                else:
                    read[key] = run
        # Runs in hand by key, for this call: ``delta``'s may carry names it will not keep.
        scratch = {**known, **read, run_key([delta]): events}
        runs: list[Events | _RunFile] = []
        fresh: dict[int, tuple[bytes, list[np.ndarray]]] = {}
        for i, ((a, b), key) in enumerate(zip(plan(deltas), after, strict=True)):
            if key in kept:  # unchanged
                runs.append(kept[key])
                continue
            if key not in scratch:
                verifier = Verifier(self.store.objects)
                scratch[key] = _build(self.store, deltas[a:b], scratch, verifier, self.key)
            runs.append(scratch[key])
            fresh[i] = _encode(scratch[key])
        return Growth(self, runs, fresh, read)

    def drop_replaced(self, before: KeyIndex) -> None:
        """Remove the runs of ``before`` that this index's plan merged away (``grow``
        leaves them, so that it can run before the commit): a reader that still wants
        one finds it missing and rebuilds it; one left by a crash is ``assay gc``'s."""
        now = {run_key(self.deltas[a:b]) for a, b in plan(self.deltas)}
        for a, b in plan(before.deltas):
            key = run_key(before.deltas[a:b])
            if key not in now:
                self.store.objects.delete(key)

    def events(self, hashes: np.ndarray, ordered: np.ndarray | None = None) -> Events:
        """Every event of the keys in ``hashes`` (sorted by hash, then delta);
        ``ordered`` is ``hashes`` sorted, where the caller has it."""
        probes = np.sort(hashes.astype(np.int64, copy=False)) if ordered is None else ordered
        probes = np.ascontiguousarray(probes, dtype=np.int64)
        masks = _filter_masks(probes)  # the same in every run's filter
        found = []
        for i, run in enumerate(self._runs):
            if isinstance(run, _RunFile):
                try:
                    found.append(run.events(probes, masks))
                    continue
                except (OSError, ValueError):  # a block fails its checksum: rebuild the run
                    self._runs[i] = run = self._rebuild(i)
            found.append(_events_of(run, probes))
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
        winner = replay(ev.h, ev.n.astype(np.int64), ev.k, ordered=True).get(hashes, default=-1)
        return in_seen, winner >= 0, ev

    def touched(
        self, selected: Sequence[DeltaInfo], touched: np.ndarray
    ) -> tuple[HashIndex, set[int]]:
        """Replay the events of ``touched`` keys among the ``selected`` deltas only: the
        winning delta per key (-1: gone), and the deltas that hold a row of one."""
        return replay_selected(self.events(touched), selected)


@dataclass(frozen=True)
class Growth:
    """The next plan's runs for one more delta (``KeyIndex.grow``): the new ones merged
    and encoded, waiting for the delta's final record to name and store them."""

    index: KeyIndex  # the index grown from
    runs: list[Events | _RunFile]  # the next plan's, oldest first
    fresh: dict[int, tuple[bytes, list[np.ndarray]]]  # plan position → its encoded file
    read: dict[str, Events]  # runs of committed deltas read whole on the way

    def store(self, delta: DeltaInfo, known: dict[str, Events]) -> KeyIndex:
        """Store the new runs under the names ``delta`` gives them (the delta ``grow``
        was given, now with its object's hash); the grown index. ``known`` keeps the
        runs read or made, by key, for a retry."""
        deltas = (*self.index.deltas, delta)
        spans = plan(deltas)
        known.update(self.read)
        for i, encoded in self.fresh.items():
            a, b = spans[i]
            key = run_key(deltas[a:b])
            _write_encoded(self.index.store, key, *encoded)
            run = self.runs[i]
            assert isinstance(run, Events)
            known[key] = run
        return KeyIndex(self.index.store, deltas, self.runs, self.index.key)


def replay_selected(ev: Events, selected: Sequence[DeltaInfo]) -> tuple[HashIndex, set[int]]:
    """Replay the events ``ev`` of some keys among the ``selected`` deltas only: the
    winning delta per key (-1: gone), and the deltas that hold a row of one."""
    ev = among(ev, selected)
    deleting = {d.number for d in selected if d.op == "delete"}
    holders = {int(n) for n in np.unique(ev.n)} - deleting
    return replay(ev.h, ev.n.astype(np.int64), ev.k, ordered=True), holders


def among(ev: Events, selected: Sequence[DeltaInfo]) -> Events:
    """The events of the ``selected`` deltas."""
    numbers = np.array(sorted(d.number for d in selected), dtype=np.int32)
    return ev.select(np.isin(ev.n, numbers))


def search(
    store: Store,
    deltas: Sequence[DeltaInfo],
    probes: np.ndarray,
    *,
    verifier: Verifier | None = None,
) -> Events:
    """``KeyIndex.load(store, deltas).events(probes)`` (``probes``: sorted key hashes)
    without holding the runs: a stored run's filter and the blocks the probes need are
    read with positioned reads (through the page cache, not mapped), checked and
    searched, so memory grows with the probes and their events, not with the history.

    A run missing or damaged is rebuilt and stored, as ``KeyIndex.load`` does.
    """
    return KeyIndex.load(store, deltas, verifier=verifier, mapped=False).events(probes)


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
    return _spans(starts, _repeats(values, starts, probes[hit]))


def _repeats(values: np.ndarray, starts: np.ndarray, found: np.ndarray) -> np.ndarray:
    """How many times each of ``found`` occurs in the sorted ``values`` from its first
    position ``starts``. Most values occur once: repeats are stepped over, not searched."""
    counts = np.ones(len(starts), dtype=np.int64)
    more = np.arange(len(starts))
    while len(more):
        more = more[starts[more] + counts[more] < len(values)]
        more = more[values[starts[more] + counts[more]] == found[more]]
        counts[more] += 1
    return counts


def _spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Every position in [start, start + count) of each span, in order."""
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return (offsets + np.arange(int(counts.sum()))).astype(np.int64, copy=False)


def _events_of(run: Events, probes: np.ndarray) -> Events:
    """The events of ``run`` whose hash is among the sorted ``probes``."""
    pos = _positions(run.h, probes)
    if not len(pos):
        return Events.empty()
    return Events(run.h[pos], run.n[pos], run.k[pos], None if run.c is None else run.c[pos])


class _RunFile:
    """A stored run, opened: its header and block fences read and checked; the other
    sections read as a probe needs them, every 64-byte line read checked against its
    checksum (``_line_sums``; ``ValueError`` if one differs: the run is damaged).

    Mapped (ingest), a probe reads single values out of the memory map and checks only
    the lines that hold them and their neighbours, which prove where a key is and is
    not: its cost follows the probes, not the size of the run. Not mapped
    (``mapped=False``: compose, whose memory must not grow with the runs' pages), whole
    ``_BLOCK``-byte blocks are read with positioned reads, a window at a time, and every
    line of them is checked.
    """

    def __init__(
        self,
        path: str,
        start: int,
        sections: dict[str, list[int]],
        sums_at: int,
        mapped: mmap.mmap | None,
        rows: int,
        constants: dict[str, int],
    ):
        self.path = path
        self.start = start  # where the sections begin: the first line
        self.sections = sections  # name: [offset from start, bytes, block bytes]
        self.sums_at = sums_at  # offset of the lines' checksums: the bytes of the lines
        self.line0 = start // _LINE  # the file line of the first section's first line
        self.map = mapped
        self.rows = rows
        self.constants = constants  # columns with one value: kept as it, not as a section
        self.columns = [n for n in ("h", "n", "k", "c") if n in sections or n in constants]
        if mapped is not None:
            lines = sums_at // _LINE
            self._view = memoryview(mapped)
            self._lines = np.frombuffer(mapped, np.uint64, lines * _WORDS, start)
            self._lines = self._lines.reshape(lines, _WORDS)
            self._sums = np.frombuffer(mapped, np.uint64, lines, start + sums_at)
        with self._fd() as fd:
            self.fences = self.read(fd, "fences")  # each hash block's first hash

    @contextlib.contextmanager
    def _fd(self) -> Iterator[int]:
        """A file descriptor for positioned reads (-1 where the file is mapped)."""
        if self.map is not None:
            yield -1
        else:
            with open(self.path, "rb") as f:
                yield f.fileno()

    @classmethod
    def open(cls, path: str, mapped: bool = True) -> _RunFile:
        """The run in the file at ``path``; ``ValueError`` if it is not a sound run of
        ``FORMAT`` (another format, truncated, or its header fails its checksum)."""
        with open(path, "rb") as f:
            prefix = f.read(_PREFIX.size)
            if len(prefix) != _PREFIX.size:
                raise ValueError(f"{path}: not a key index run")
            magic, length, crc = _PREFIX.unpack(prefix)
            text = f.read(length)
            if magic != _MAGIC or len(text) != length or zlib.crc32(text) != crc:
                raise ValueError(f"{path}: not a run of {FORMAT}")
            header = json.loads(text)
            start = _aligned(_PREFIX.size + length)
            sums_at = header.get("sums", -1)
            whole = start + sums_at + sums_at // _LINE * 8
            if header.get("format") != FORMAT or os.fstat(f.fileno()).st_size != whole:
                raise ValueError(f"{path}: not a run of {FORMAT}")
            view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if mapped else None
        constants = header["constants"]
        return cls(path, start, header["sections"], sums_at, view, header["rows"], constants)

    def _array(self, name: str) -> np.ndarray:
        """Section ``name`` of a mapped run, as values (not checked: see ``_check``)."""
        offset, size, _ = self.sections[name]
        dtype = _DTYPES[name]
        return np.frombuffer(self._view, dtype, size // dtype.itemsize, self.start + offset)

    def _check(self, lines: np.ndarray) -> None:
        """Check the lines ``lines`` (ascending, perhaps repeated) of a mapped run."""
        if not len(lines):
            return
        ids = lines[np.r_[True, lines[1:] != lines[:-1]]]
        got = _line_sums(np.take(self._lines, ids, axis=0), ids + self.line0)
        if not np.array_equal(got, self._sums[ids]):
            raise ValueError(f"{self.path}: fails its checksums")

    def _check_span(self, fd: int, first: int, lines: np.ndarray) -> None:
        """Check ``lines`` (rows of 8 words), the run's lines ``first``, ``first + 1``, …"""
        ids = np.arange(first, first + len(lines), dtype=np.int64)
        if self.map is not None:
            expected = self._sums[first : first + len(lines)]
        else:
            raw = os.pread(fd, len(lines) * 8, self.start + self.sums_at + first * 8)
            expected = np.frombuffer(raw, np.uint64)
        if not np.array_equal(_line_sums(lines, ids + self.line0), expected):
            raise ValueError(f"{self.path}: fails its checksums")

    def read(self, fd: int, name: str, ids: np.ndarray | None = None) -> np.ndarray:
        """The values of section ``name``'s blocks ``ids`` (ascending; all by default),
        concatenated, every line checked (by the pool's threads, ``_GROUP`` blocks at a
        time): contiguous blocks of a mapped file are a view, else copied into place;
        a file not mapped is read with one call per contiguous range."""
        offset, size, block = self.sections[name]
        if ids is None:
            ids = np.arange(-(-size // block))
        if not len(ids):
            return np.zeros(0, _DTYPES[name])
        padded = _aligned(size)  # a section's last line is filled up with zeros
        cuts = np.flatnonzero(np.diff(ids) != 1) + 1
        starts, counts = ids[np.r_[0, cuts]], np.diff(np.r_[0, cuts, len(ids)])
        pieces = []  # (first byte, end byte, where in out), at most _GROUP blocks each
        dest = 0
        for first, count in zip(starts.tolist(), counts.tolist(), strict=True):
            for i in range(0, count, _GROUP):
                lo = (first + i) * block
                hi = min((first + i + min(_GROUP, count - i)) * block, padded)
                pieces.append((lo, hi, dest))
                dest += hi - lo
        base = self.start + offset
        direct = self.map is not None and len(starts) == 1  # one range, mapped: a view
        out = np.empty(0 if direct else dest, np.uint8)

        def load(batch: list[tuple[int, int, int]]) -> None:
            for lo, hi, at in batch:
                if self.map is not None:
                    data = np.frombuffer(self._view[base + lo : base + hi], np.uint8)
                    if not direct:
                        out[at : at + hi - lo] = data
                else:
                    data = out[at : at + hi - lo]
                    if os.preadv(fd, [out.data[at : at + hi - lo]], base + lo) != hi - lo:
                        raise ValueError(f"{self.path}: truncated")
                self._check_span(fd, (offset + lo) // _LINE, data.view(np.uint64).reshape(-1, 8))

        # Batches of about _GROUP blocks, so that a thread's work outweighs its dispatch.
        batches: list[list[tuple[int, int, int]]] = [[]]
        held = 0
        for piece in pieces:
            if held >= _GROUP * block:
                batches.append([])
                held = 0
            batches[-1].append(piece)
            held += piece[1] - piece[0]
        if len(batches) == 1:
            load(batches[0])
        else:
            list(_pool().map(load, batches))
        # Only the section's last block, last if read, holds the padding after its end.
        kept = dest - (padded - size if pieces[-1][1] == padded else 0)
        if direct:
            first = int(starts[0]) * block
            return np.frombuffer(self._view[base + first : base + first + kept], _DTYPES[name])
        return out[:kept].view(_DTYPES[name])

    def gather(self, fd: int, name: str, pos: np.ndarray) -> np.ndarray:
        """The values of section ``name`` at the element positions ``pos`` (ascending)."""
        if name in self.constants:
            return np.full(len(pos), self.constants[name], _DTYPES[name])
        if self.map is not None:  # the values, and a check of the lines that hold them
            self._check((self.sections[name][0] + pos * _DTYPES[name].itemsize) // _LINE)
            return self._array(name)[pos]
        per = self.sections[name][2] // _DTYPES[name].itemsize  # values a block holds
        which = pos // per
        ids = which[np.r_[True, which[1:] != which[:-1]]] if len(which) else which
        j = np.searchsorted(ids, which)
        # Every block read is whole but perhaps the section's last, which comes last.
        return self.read(fd, name, ids)[pos - (ids[j] - j) * per]

    def events(self, probes: np.ndarray, masks: np.ndarray) -> Events:
        """The events whose hash is among the sorted ``probes`` (``masks``: their
        ``_filter_masks``): the filter first, then where the keys it lets through
        are among the hashes, then the other columns of the events found."""
        if not len(probes) or not len(self.fences):
            return Events.empty()
        if self.map is not None:
            return self._events_mapped(probes, masks)
        found: list[Events] = []
        with self._fd() as fd:
            words = self.sections["filter"][1] // 8
            index = _filter_index(probes, words)
            maybe = np.zeros(len(probes), bool)
            for part in _windows(index, _READ // 8):
                maybe[part] = (self.gather(fd, "filter", index[part]) & masks[part]) == masks[part]
            candidates = probes[maybe]
            # The hash blocks that may hold each candidate: from the one before the
            # first fence >= it (equal hashes may straddle a fence) to the last <= it.
            lo = np.maximum(np.searchsorted(self.fences, candidates, "left") - 1, 0)
            hi = np.searchsorted(self.fences, candidates, "right") - 1
            lo, hi = lo[hi >= 0], hi[hi >= 0]
            span = hi - lo + 1
            needed = np.unique(
                np.repeat(lo - np.r_[0, np.cumsum(span)[:-1]], span) + np.arange(int(span.sum()))
            )
            block = self.sections["h"][2]
            per = block // 8
            # Every event lies in one block, read in one window: each is found once.
            for part in _windows(needed, max(_READ // block, 1)):
                ids = needed[part]
                values = self.read(fd, "h", ids)
                local = _positions(values, candidates)
                if len(local):
                    j = local // per
                    pos = local + (ids[j] - j) * per  # in the run
                    rest = [self.gather(fd, name, pos) for name in self.columns[1:]]
                    found.append(Events(values[local], *rest))
        return Events.merge(found)

    def _events_mapped(self, probes: np.ndarray, masks: np.ndarray) -> Events:
        """``events`` of a mapped run, reading and checking a few lines per probe."""
        words = self.sections["filter"][1] // 8
        index = _filter_index(probes, words)
        candidates = probes[(self.gather(-1, "filter", index) & masks) == masks]
        if not len(candidates):
            return Events.empty()
        h = self._array("h")
        n = len(h)
        lo = _lower_bound(h, candidates, self.fences, self.sections["h"][2] // 8)
        held = lo < n
        held[held] = h[lo[held]] == candidates[held]
        starts, found = lo[held], candidates[held]
        counts = _repeats(h, starts, found)
        pos = _spans(starts, counts)
        # A candidate lies between the value before its place and the first value after
        # its events. With the lines of those two and of the events checked, and those
        # values in order around it, the answer holds wherever else the run is damaged
        # (a damaged line the search passed through can only have moved it elsewhere).
        ends = lo.copy()
        ends[held] += counts
        before, after = lo[lo > 0] - 1, ends[ends < n]
        # The lines from the one before to the one after, per candidate: ascending
        # ranges (the candidates are sorted), nearly all of one or two lines.
        first = np.maximum(lo - 1, 0) // _WORDS
        span = np.minimum(ends, n - 1) // _WORDS - first + 1
        lines = np.repeat(first - np.r_[0, np.cumsum(span)[:-1]], span) + np.arange(span.sum())
        # Two candidates in one line give its range twice: keep each line once.
        lines = lines[np.r_[True, lines[1:] > np.maximum.accumulate(lines)[:-1]]]
        self._check(lines + self.sections["h"][0] // _LINE)
        in_order = bool((h[before] < candidates[lo > 0]).all()) and bool(
            (h[after] > candidates[ends < n]).all()
        )
        if not in_order:
            raise ValueError(f"{self.path}: fails its checksums (hashes out of order)")
        rest = [self.gather(-1, name, pos) for name in self.columns[1:]]
        return Events(h[pos], *rest)

    def read_all(self) -> Events:
        """Every event of the run, every line checked."""
        with self._fd() as fd:
            return Events(
                *(
                    np.full(self.rows, self.constants[name], _DTYPES[name])
                    if name in self.constants
                    else self.read(fd, name)
                    for name in self.columns
                )
            )


def _lower_bound(
    values: np.ndarray, probes: np.ndarray, fences: np.ndarray, per: int
) -> np.ndarray:
    """For each sorted probe, the first position of the sorted ``values`` holding a
    value >= it (``len(values)`` if none). ``fences`` (every ``per``-th value, ``per`` a
    power of two) give each probe's block, and a branchless binary search in it the
    rest: a gather of one value per probe per halving, whatever the size of ``values``
    (numpy's ``searchsorted`` over a large memory map costs more, and more with size)."""
    assert per & (per - 1) == 0, f"fences every {per} values: not a power of two"
    n = len(values)
    at = np.searchsorted(fences, probes, "left") - 1
    np.maximum(at, 0, out=at)
    at *= per
    step = per // 2
    while step:
        mid = np.minimum(at + (step - 1), n - 1)
        at += step * ((at + (step - 1) < n) & (values[mid] < probes))
        step //= 2
    at += (at < n) & (values[np.minimum(at, n - 1)] < probes)
    return at


def _windows(ascending: np.ndarray, size: int) -> Iterator[slice]:
    """Slices of ``ascending`` whose values share a window ``[k * size, (k + 1) * size)``."""
    window = ascending // size
    cuts = np.flatnonzero(window[1:] != window[:-1]) + 1
    bounds = np.r_[0, cuts, len(ascending)] if len(ascending) else []
    for a, b in itertools.pairwise(bounds):
        yield slice(int(a), int(b))


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _filter_index(h: np.ndarray, words: int) -> np.ndarray:
    """Each hash's word in a filter of ``words`` words, by its high 32 bits (the sign
    flipped, so that sorted hashes give ascending words)."""
    top = (h.view(np.uint64) ^ np.uint64(1 << 63)) >> np.uint64(32)
    return ((top * np.uint64(words)) >> np.uint64(32)).view(np.int64)


def _filter_masks(h: np.ndarray) -> np.ndarray:
    """Each hash's bits in its filter word: 4 of the 64, chosen by its low 24 bits
    (independent of the word; key hashes are ``mix64`` outputs, so every bit is
    uniform)."""
    u = h.view(np.uint64)
    masks = np.zeros(len(u), np.uint64)
    bit = np.empty(min(len(u), _STEP), np.uint64)
    for lo in range(0, len(u), _STEP):  # a cache-sized step at a time: 4x faster here
        part, out, b = u[lo : lo + _STEP], masks[lo : lo + _STEP], bit[: len(u) - lo]
        for shift in (0, 6, 12, 18):
            np.right_shift(part, np.uint64(shift), out=b)
            np.bitwise_and(b, np.uint64(63), out=b)
            np.left_shift(np.uint64(1), b, out=b)
            out |= b
    return masks


def _filter(h: np.ndarray) -> np.ndarray:
    """The blocked Bloom filter of the sorted hashes ``h``: ``_FILTER_BITS`` bits a hash,
    each hash's 4 bits in one 64-bit word (one read per probe; ~0.5% false positives)."""
    words = max(1, -(-len(h) * _FILTER_BITS // 64))
    bloom = np.zeros(words, np.uint64)

    def fill(lo: int, hi: int) -> None:
        for at in range(lo, hi, _STEP):
            part = h[at : min(at + _STEP, hi)]
            index = _filter_index(part, words)  # ascending: a word's hashes are adjacent
            starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
            bloom[index[starts]] |= np.bitwise_or.reduceat(_filter_masks(part), starts)

    # Spans on the pool's threads, each cut where the word changes, so that no two
    # threads write one word.
    cuts = [0]
    for cut in range(_THREAD_SPAN, len(h), _THREAD_SPAN):
        word = _filter_index(h[cut - 1 : cut], words)[0]
        while cut < len(h) and _filter_index(h[cut : cut + 1], words)[0] == word:
            cut += 1
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(len(h))
    list(_pool().map(fill, cuts[:-1], cuts[1:]))
    return bloom


def _line_sums(lines: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The checksum of each 64-byte line (a row of 8 little-endian words) at file line
    ``ids``: its words times 8 odd constants plus its line number times a ninth, modulo
    2**64. A change to one word always changes it (odd multipliers are invertible), a
    line moved within the file too; unlike a CRC it is a few vector operations for any
    set of lines, so that a probe checks just the lines it reads."""
    return lines @ _SUM_WEIGHTS + ids.astype(np.uint64) * _SUM_POSITION


def _section_sums(a: np.ndarray, first: int) -> np.ndarray:
    """The checksums of the lines of section array ``a`` (contiguous), starting at file
    line ``first``, its last line filled up with zeros, on the pool's threads."""
    data = a.data.cast("B")
    full = a.nbytes // _LINE
    lines = np.frombuffer(data, np.uint64, full * _WORDS).reshape(full, _WORDS)
    if a.nbytes % _LINE:
        tail = np.zeros(_LINE, np.uint8)
        tail[: a.nbytes % _LINE] = np.frombuffer(data, np.uint8, offset=full * _LINE)
        lines = np.concatenate([lines, tail.view(np.uint64).reshape(1, _WORDS)])
    out = np.empty(len(lines), np.uint64)
    step = _GROUP * _BLOCK // _LINE

    def fill(lo: int) -> None:
        hi = min(lo + step, len(lines))
        out[lo:hi] = _line_sums(lines[lo:hi], np.arange(first + lo, first + hi))

    list(_pool().map(fill, range(0, len(lines), step)))
    return out


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


_SUFFIX = ".run"  # a run's object key ends so (runs of FORMAT v3 were Arrow files)
_MAGIC = b"ASSAYKI\x00"
_PREFIX = struct.Struct("<8sII")  # magic, header bytes, header CRC-32
_ALIGN = 64  # each section starts at a multiple of 64 bytes
_DTYPES: dict[str, np.dtype] = {
    "h": np.dtype("<i8"),
    "n": np.dtype("<i4"),
    "k": np.dtype("i1"),
    "c": np.dtype("<i8"),
    "fences": np.dtype("<i8"),
    "filter": np.dtype("<u8"),
}
_BLOCK = 1 << 13  # bytes a fence covers, and that a read not mapped reads for one key
_LINE = 64  # bytes a checksum covers (a cache line)
_WORDS = _LINE // 8
# Odd 64-bit constants (splitmix64's, murmur3's and xxhash's), for ``_line_sums``.
_SUM_WEIGHTS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xBF58476D1CE4E5B9,
        0x94D049BB133111EB,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x9E3779B185EBCA87,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
    ],
    np.uint64,
)
_SUM_POSITION = np.uint64(0x27D4EB2F165667C5)
_FILTER_BITS = 16  # filter bits a hash
_GROUP = 1 << 10  # blocks a thread reads and checks at a time
_STEP = 1 << 15  # values a vectorised step takes (fits the CPU's cache)
_READ = 1 << 23  # bytes of filter or hashes a probe holds at a time
_THREAD_SPAN = 1 << 19  # hashes a thread adds to a filter at a time
_MERGE_SPAN = 1 << 19  # events below which a merge is not worth splitting
_POOL: list[ThreadPoolExecutor] = []
os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has no pool threads


def _pool() -> ThreadPoolExecutor:
    """Threads for checksums, probes, filters and sorts: numpy's loops and zlib release
    the GIL. Not for work started from one of its own threads (it would wait on itself)."""
    if not _POOL:
        _POOL.append(
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="assay-index")
        )
    return _POOL[0]


def sort_in_place(h: np.ndarray) -> None:
    """Sort the hashes ``h`` in place, a large array's halves on two threads: split
    around its median first (``partition``, linear), each half is then sorted apart
    (33M hashes: 0.44 s against numpy's 0.65 s on one core)."""
    if len(h) < _THREAD_SPAN * 4 or (os.cpu_count() or 1) < 2:
        h.sort()
        return
    middle = len(h) // 2
    h.partition(middle)
    list(_pool().map(np.ndarray.sort, (h[:middle], h[middle:])))


def _encode(run: Events) -> tuple[bytes, list[np.ndarray]]:
    """The header and the sections of ``run``'s file: its columns, the first hash of
    each hash block, the filter, and the checksum of every 64-byte line of them."""
    arrays = {
        "h": run.h,
        "n": run.n,
        "k": run.k,
        **({} if run.c is None else {"c": run.c}),
    }
    # A column of one value (a run of one insert or delete) is kept as that value.
    constants = {
        name: int(a[0])
        for name, a in arrays.items()
        if name in ("n", "k") and len(a) and (a.strides[0] == 0 or bool((a == a[0]).all()))
    }
    arrays = {
        name: np.ascontiguousarray(a, dtype=_DTYPES[name])
        for name, a in arrays.items()
        if name not in constants
    }
    arrays["fences"] = arrays["h"][:: _BLOCK // 8].copy()
    arrays["filter"] = _filter(arrays["h"])
    sections: dict[str, list[int]] = {}
    offset = 0
    for name, a in arrays.items():
        # Blocks are what a read not mapped takes at a time; fences are read whole.
        block = _aligned(max(a.nbytes, 1)) if name == "fences" else _BLOCK
        sections[name] = [offset, a.nbytes, block]
        offset = _aligned(offset + a.nbytes)
    header = {
        "format": FORMAT,
        "rows": len(run),
        "sections": sections,
        "constants": constants,
        "sums": offset,  # where the checksums of the lines before it start
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    first = _aligned(_PREFIX.size + len(text)) // _LINE  # the file line of the first section
    # Each section fills whole lines (its last one padded with zeros), the next
    # starting on the line after: the sums of the sections, end to end, are the file's.
    sums = np.concatenate(
        [_section_sums(a, first + sections[name][0] // _LINE) for name, a in arrays.items()]
    )
    return _PREFIX.pack(_MAGIC, len(text), zlib.crc32(text)) + text, [*arrays.values(), sums]


def _write_run(store: Store, key: str, run: Events) -> None:
    """Store ``run`` (its header, then each section at a 64-byte boundary); a remote
    store's run is kept in the local cache too."""
    _write_encoded(store, key, *_encode(run))


def _write_encoded(store: Store, key: str, header: bytes, sections: list[np.ndarray]) -> None:
    """Store the run file ``_encode`` made (``_write_run``)."""

    def write(f: IO[bytes]) -> None:
        f.write(header.ljust(_aligned(len(header)), b"\0"))
        for i, a in enumerate(sections):
            if i:
                f.write(b"\0" * (_aligned(f.tell()) - f.tell()))
            f.write(a.data.cast("B"))

    # Written once: in place in a local store; for a remote store, into the local cache
    # (which keeps its runs) and uploaded from there.
    if store.objects.local_path(key) is not None:
        # Not synced: a run is checked where it is read, and rebuilt if found short.
        store.objects.put_writer(key, write, sync=False)
        return

    def cache(target: str) -> None:
        with open(target, "wb") as f:
            write(f)

    store.objects.put_file(key, _cache(key, cache))


def _read_run(store: Store, key: str) -> Events | None:
    """The run stored under ``key``, read whole; None if it is missing or damaged."""
    try:
        return _open_run(store, key).read_all()
    except (OSError, KeyError, ValueError):
        return None  # missing or damaged: derived data, rebuilt by the caller


def _open_run(store: Store, key: str, mapped: bool = True) -> _RunFile:
    """The run stored under ``key``, opened (``_RunFile.open``).

    A remote store's run is read from the local cache, downloaded there on first use: a
    run's key names its content, so a cached copy never goes stale; one that is not a
    sound run is deleted (and the run rebuilt by the caller).
    """
    local = _local_run(store, key)
    try:
        return _RunFile.open(local, mapped)
    except (OSError, ValueError):
        if store.objects.local_path(key) is None:
            with contextlib.suppress(OSError):
                os.unlink(local)  # a damaged cached copy is fetched again next time
        raise


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


def _cache_dir() -> Path:
    """Where runs of remote stores are kept on this machine (safe to delete)."""
    return cache_dir("keyindex")


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


def _cache(key: str, write: Callable[[str], object]) -> Path:
    """Put a run into the local cache atomically (``write(path)`` makes the file), then
    trim the cache to ``ASSAY_CACHE_MAX_BYTES`` (4 GiB), the least recently read first;
    the run's path in the cache."""
    target = _cache_dir() / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
    write(tmp)
    os.replace(tmp, target)
    limit = _cache_limit()
    files = [(f.stat().st_atime, f.stat().st_size, f) for f in _cache_dir().rglob(f"*{_SUFFIX}")]
    total = sum(size for _, size, _ in files)
    for _, size, f in sorted(files):
        if total <= limit:
            break
        if f != target:
            with contextlib.suppress(OSError):
                f.unlink()
                total -= size
    return target


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
