"""Balance: cap a group's share or count in a composed version, deterministically.

A recipe's ``balance:`` block lets a team keep a skewed delta but undo its skew. The
caps are met exactly: with share caps the result's size depends on what is dropped,
so the allowed counts are the largest fixed point of
``N = uncapped + sum(min(n_g, floor(share_g * N), count_g))``. Within a capped group
the rows kept are those whose keys rank lowest under a seeded hash, so the choice
depends only on the keys and the seed, never on row order or engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from assay.data.recipe import BalanceSpec
from assay.data.split import split_unit

__all__ = ["BALANCE_SALT", "allowed_counts", "cutoffs", "keep_mask"]

BALANCE_SALT = 0x42414C414E4345  # "BALANCE": rank keys independently of the split


def allowed_counts(counts: Mapping[str, int], spec: BalanceSpec) -> dict[str, int]:
    """How many rows each group may keep under ``spec``'s caps."""
    allowed = {g: min(n, spec.max_count.get(g, n)) for g, n in counts.items()}
    shared = [g for g in spec.max_share if g in counts]
    if not shared:
        return allowed
    fixed = sum(n for g, n in allowed.items() if g not in shared)
    total = sum(allowed.values())
    # Lowering N lowers every share cap, so iterate down to the largest fixed point.
    while True:
        capped = {g: min(allowed[g], math.floor(spec.max_share[g] * total + 1e-9)) for g in shared}
        new_total = fixed + sum(capped.values())
        if new_total >= total:
            break
        total = new_total
    allowed.update(capped)
    return allowed


def cutoffs(
    groups: np.ndarray, hashes: np.ndarray, spec: BalanceSpec, seed: int
) -> dict[str, float]:
    """For each group over its cap, the rank value below which its rows are kept.

    ``groups`` holds each row's group as text, ``hashes`` its key hash.
    """
    names, counts = np.unique(groups, return_counts=True)
    allowed = allowed_counts({str(g): int(c) for g, c in zip(names, counts, strict=True)}, spec)
    out: dict[str, float] = {}
    rank = split_unit(hashes, seed ^ BALANCE_SALT)
    for g, n in zip(names, counts, strict=True):
        keep = allowed[str(g)]
        if keep >= n:
            continue
        ranks = np.sort(rank[groups == g])
        # Rank values are distinct for distinct keys (mix64 is a bijection), so
        # keeping rank < ranks[keep] keeps exactly `keep` rows.
        out[str(g)] = float(ranks[keep]) if keep < len(ranks) else math.inf
    return out


def keep_mask(
    groups: np.ndarray, hashes: np.ndarray, cut: Mapping[str, float], seed: int
) -> np.ndarray:
    """Which rows survive the caps (``cut`` from ``cutoffs``)."""
    keep = np.ones(len(hashes), dtype=bool)
    if not cut:
        return keep
    rank = split_unit(hashes, seed ^ BALANCE_SALT)
    for g, limit in cut.items():
        keep &= ~((groups == g) & (rank >= limit))
    return keep
