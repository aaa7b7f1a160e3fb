"""Key-level bookkeeping shared by ingest and compose: hash sets and op replay.

Everything here works on the stored 64-bit key hashes with numpy, on the small set
of keys that upserts and deletes touch, so that the big scan never needs a join.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CREATE", "DELETE", "UPDATE", "HashIndex", "replay"]

CREATE, UPDATE, DELETE = np.int8(0), np.int8(1), np.int8(2)


class HashIndex:
    """Sorted unique key hashes, each with an int64 value, and fast membership.

    A bitmap on the low hash bits answers "certainly absent" for most probes with
    one memory read; only the few candidates it lets through are looked up: by binary
    search at first, and once a quarter as many candidates as keys were searched, in a
    bucket table (keys grouped by fewer low bits: one or two reads each instead of
    twenty), built then.
    """

    def __init__(self, hashes: np.ndarray, values: np.ndarray | None = None):
        order = np.argsort(hashes, kind="stable")
        self.keys = np.ascontiguousarray(hashes[order], dtype=np.int64)
        self.values = (
            np.ascontiguousarray(values[order], dtype=np.int64)
            if values is not None
            else np.zeros(len(self.keys), dtype=np.int64)
        )
        bits = int(np.clip(np.ceil(np.log2(max(len(self.keys), 1) * 16)), 12, 26))
        self._mask = np.uint64((1 << bits) - 1)
        self._bitmap = np.zeros(1 << bits, dtype=bool)
        self._bitmap[(self.keys.view(np.uint64) & self._mask).astype(np.intp)] = True
        self._searched = 0  # candidates binary-searched so far
        self._buckets: _Buckets | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def matches(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``hashes`` that are in the index (ascending) and their positions in
        ``keys``: sparse, so a probe that finds few costs one pass over the bitmap."""
        none = np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        if not len(self.keys) or not len(hashes):
            return none
        # The low bits, masked in place: one pass, and no copy for the index dtype.
        probe = np.bitwise_and(hashes.view(np.uint64), self._mask).view(np.intp)
        cand = np.flatnonzero(self._bitmap[probe])
        if not len(cand):
            return none
        h = hashes[cand]
        if self._buckets is None and self._searched > len(self.keys) // 4:
            self._buckets = _Buckets(self.keys)
        if self._buckets is not None:
            pos = self._buckets.find(h)
            hit = pos >= 0
        else:
            self._searched += len(h)
            pos = np.minimum(np.searchsorted(self.keys, h), len(self.keys) - 1)
            hit = self.keys[pos] == h
        return cand[hit], pos[hit]

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Position of each hash in ``keys``, or -1 where absent."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        rows, pos = self.matches(hashes)
        out[rows] = pos
        return out

    def get(self, hashes: np.ndarray, default: int) -> np.ndarray:
        """The value of each hash, or ``default`` where absent."""
        pos = self.find(hashes)
        out = np.full(len(hashes), default, dtype=np.int64)
        hit = pos >= 0
        out[hit] = self.values[pos[hit]]
        return out

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which hashes are in the index."""
        return self.find(hashes) >= 0


class _Buckets:
    """Sorted unique keys grouped by their low bits, about one key per bucket: a
    lookup reads a bucket's bounds and compares its few keys, round by round."""

    def __init__(self, keys: np.ndarray):
        bits = max(int(np.ceil(np.log2(max(len(keys), 2)))), 1)
        self.mask = np.uint64((1 << bits) - 1)
        bucket = (keys.view(np.uint64) & self.mask).astype(np.intp)
        self.position = np.argsort(bucket, kind="stable")  # bucket order -> keys order
        self.keys = keys[self.position]
        counts = np.bincount(bucket, minlength=1 << bits)
        self.first = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.first[1:])

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Position of each hash in the sorted keys, or -1 where absent."""
        out = np.full(len(hashes), -1, dtype=np.intp)
        bucket = (hashes.view(np.uint64) & self.mask).astype(np.intp)
        at, end = self.first[bucket], self.first[bucket + 1]
        left = np.flatnonzero(at < end)
        while len(left):
            i = at[left]
            hit = self.keys[i] == hashes[left]
            out[left[hit]] = self.position[i[hit]]
            at[left] += 1
            left = left[~hit & (at[left] < end[left])]
        return out


def replay(
    hashes: np.ndarray, numbers: np.ndarray, kinds: np.ndarray, *, ordered: bool = False
) -> HashIndex:
    """Apply key events in delta order; the winning delta number per key (-1: gone).

    Events are ``(key hash, delta number, kind)``, at most one per key and delta;
    ``ordered``: already sorted by hash, then delta (as the key index gives them).
    CREATE (an inserted row, or an upserted row whose key was new when committed)
    makes its row the key's row; UPDATE (an upserted row whose key existed when
    committed) replaces the key's row only if the key is live at that point, so an
    upsert whose target is not selected affects nothing; DELETE removes the key.
    """
    if not len(hashes):
        return HashIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
    if ordered:
        h, n, k = hashes, numbers, kinds
    else:
        order = np.lexsort((numbers, hashes))
        h, n, k = hashes[order], numbers[order], kinds[order]
    idx = np.arange(len(h))
    start = np.ones(len(h), dtype=bool)
    start[1:] = h[1:] != h[:-1]
    decisive = k != UPDATE
    # The last CREATE/DELETE at or before each event (or the group start) sets liveness.
    anchor = np.maximum.accumulate(np.where(decisive | start, idx, -1))
    live_after = decisive[anchor] & (k[anchor] == CREATE)
    live_before = np.zeros(len(h), dtype=bool)
    live_before[1:] = live_after[:-1]
    live_before[start] = False
    effective = (k == CREATE) | ((k == UPDATE) & live_before)
    starts = np.flatnonzero(start)
    ends = np.r_[starts[1:] - 1, len(h) - 1]
    last_effective = np.maximum.reduceat(np.where(effective, idx, -1), starts)
    alive = live_after[ends] & (last_effective >= 0)
    winner = np.where(alive, n[np.maximum(last_effective, 0)], -1)
    return HashIndex(h[starts], winner)
