"""Stable split assignment: a function of (key hash, seed) only.

A row's split never depends on which other rows exist, so it keeps its split as
deltas are added, and every engine gets the same answer because assay computes it
itself, here, from the stored key hash.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from assay.data.hashing import mix64

__all__ = ["assign_splits", "split_unit"]

_SEED_SALT = np.uint64(0x5350_4C49_5421_A55A)  # "SPLIT!" — keeps seed 0 from being the identity


def split_unit(key_hash: np.ndarray, seed: int) -> np.ndarray:
    """Map each key hash to a uniform float in [0, 1), reproducibly for ``seed``."""
    seed_mix = mix64(np.array([seed], dtype=np.int64).view(np.uint64) ^ _SEED_SALT)[0]
    z = mix64(key_hash.view(np.uint64) ^ seed_mix)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def assign_splits(
    key_hash: np.ndarray, seed: int, fractions: Sequence[tuple[str, float]]
) -> pa.Array:
    """The split name of each key: intervals of [0, 1) in the listed order."""
    names = [name for name, _ in fractions]
    edges = np.cumsum([f for _, f in fractions])[:-1]
    index = np.searchsorted(edges, split_unit(key_hash, seed), side="right")
    return pa.array(names, type=pa.string()).take(pa.array(index, type=pa.int32()))
