"""Stable split assignment: a function of (key hash, seed) only.

A row's split never depends on which other rows exist, so it keeps its split as
deltas are added, and every engine gets the same answer because assay computes it
itself, here, from the stored key hash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from assay.data.hashing import mix64, mix_in_place

__all__ = ["assign_splits", "split_indices", "split_names", "split_unit"]

_SEED_SALT = np.uint64(0x5350_4C49_5421_A55A)  # "SPLIT!" — keeps seed 0 from being the identity


def _mixed(key_hash: np.ndarray, seed: int) -> np.ndarray:
    """The 64 mixed bits of each key hash under ``seed``; the top 53 are its unit."""
    seed_mix = mix64(np.array([seed], dtype=np.int64).view(np.uint64) ^ _SEED_SALT)[0]
    z = key_hash.view(np.uint64) ^ seed_mix  # a fresh array, mixed in place
    mix_in_place(z)
    return z


def split_unit(key_hash: np.ndarray, seed: int) -> np.ndarray:
    """Map each key hash to a uniform float in [0, 1), reproducibly for ``seed``."""
    return (_mixed(key_hash, seed) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _bit_edges(edges: np.ndarray) -> list[int | None]:
    """Each float edge as a bound on the mixed bits: ``z >= bound`` exactly when the
    unit of ``z`` (``(z >> 11) * 2**-53``) is ``>= edge`` (None: no unit reaches it).

    A unit is ``k * 2**-53`` for an integer ``k < 2**53``, and ``edge * 2**53`` is exact
    (a power-of-two scaling), so ``unit >= edge`` iff ``k >= ceil(edge * 2**53)``
    iff ``z >= ceil(edge * 2**53) << 11``.
    """
    bounds: list[int | None] = []
    for edge in edges:
        k = max(math.ceil(float(edge) * (1 << 53)), 0)
        bounds.append(k << 11 if k < (1 << 53) else None)
    return bounds


def assign_splits(
    key_hash: np.ndarray, seed: int, fractions: Sequence[tuple[str, float]]
) -> pa.Array:
    """The split name of each key: intervals of [0, 1) in the listed order."""
    return split_names(split_indices(key_hash, seed, fractions), fractions)


def split_indices(
    key_hash: np.ndarray, seed: int, fractions: Sequence[tuple[str, float]]
) -> np.ndarray:
    """The position in ``fractions`` of each key's split."""
    edges = np.cumsum([f for _, f in fractions])[:-1]
    z = _mixed(key_hash, seed)
    # The split is the number of edges at or below the unit (searchsorted, side
    # "right", on these ascending edges): one integer comparison per edge on the mixed
    # bits, with no float unit made at all. Exact; pinned against the float form.
    index = np.zeros(len(z), dtype=np.int32)
    above = np.empty(len(z), dtype=bool)
    for bound in _bit_edges(edges):
        if bound is not None:
            index += np.greater_equal(z, np.uint64(bound), out=above)
    return index


def split_names(index: np.ndarray, fractions: Sequence[tuple[str, float]]) -> pa.Array:
    """The split names of ``split_indices``'s positions."""
    names = pa.array([name for name, _ in fractions], type=pa.string())
    # Decoding a dictionary array is Arrow's fastest way from codes to strings (a third
    # faster than ``take`` here): the same array, the same bytes.
    return pa.DictionaryArray.from_arrays(pa.array(index), names).cast(pa.string())
