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
    one memory read; only the few candidates it lets through are binary-searched.
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


def replay(hashes: np.ndarray, numbers: np.ndarray, kinds: np.ndarray) -> HashIndex:
    """Apply key events in delta order; the winning delta number per key (-1: gone).

    Events are ``(key hash, delta number, kind)``, at most one per key and delta.
    CREATE (an inserted row, or an upserted row whose key was new when committed)
    makes its row the key's row; UPDATE (an upserted row whose key existed when
    committed) replaces the key's row only if the key is live at that point, so an
    upsert whose target is not selected affects nothing; DELETE removes the key.
    """
    if not len(hashes):
        return HashIndex(np.zeros(0, np.int64), np.zeros(0, np.int64))
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
