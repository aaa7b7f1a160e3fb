"""Agreement: how much annotators agree beyond chance, over all items.

``krippendorff_alpha`` follows Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability": the coincidence matrix of the pairable values (items with at
least two votes; others carry no information on agreement), the nominal or ordinal
metric, ``alpha = 1 - (n - 1) * D_o / D_e``. Missing votes are allowed.

``fleiss_kappa`` (Fleiss 1971) assumes every item has the same number of votes. When
they differ, it is computed over the items with the most common number of votes (the
largest such group; ties go to the larger number), and ``fleiss_items`` says how many
items that is.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from assay.errors import UsageError

__all__ = ["LEVELS", "Level", "coincidences", "fleiss_kappa", "krippendorff_alpha"]

Level = Literal["nominal", "ordinal"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal")


def coincidences(counts: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix from votes per item and value ``(items,
    values)``: ``o[c, k]`` sums, over items, the ordered pairs of votes ``(c, k)`` by
    different annotators, each item's pairs weighted ``1 / (m_u - 1)``."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    weights = 1.0 / (m[m >= 2] - 1.0)
    o = (pairable * weights[:, None]).T @ pairable
    o[np.diag_indices_from(o)] -= (pairable * weights[:, None]).sum(axis=0)
    return o


def _distances(n_c: np.ndarray, level: Level) -> np.ndarray:
    """Squared distances between values, from their marginal counts ``n_c``."""
    k = n_c.size
    if level == "nominal":
        return 1.0 - np.eye(k)
    # Ordinal: (sum of n_g for g from c to k) - (n_c + n_k) / 2, squared.
    cumulative = np.r_[0.0, np.cumsum(n_c)]
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    between = cumulative[hi + 1] - cumulative[lo]
    return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2


def krippendorff_alpha(counts: np.ndarray, level: Level = "nominal") -> float | None:
    """Krippendorff's alpha from votes per item and value (values in their order, for
    ``ordinal``); ``None`` when there are no pairable votes or only one value."""
    if level not in LEVELS:
        raise UsageError(f"level {level!r} is unknown; use nominal or ordinal")
    o = coincidences(counts)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta = _distances(n_c, level)
    expected = float((np.outer(n_c, n_c) * delta).sum())
    if n < 2 or expected == 0.0:
        return None
    return float(1.0 - (n - 1.0) * float((o * delta).sum()) / expected)


def fleiss_kappa(counts: np.ndarray) -> tuple[float | None, int]:
    """Fleiss' kappa from votes per item and value, and how many items it covers (see
    the module docstring); ``None`` when fewer than two votes per item or no chance
    disagreement."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1).astype(np.int64)
    sizes = np.bincount(m)
    sizes[:2] = 0  # items with one vote say nothing about agreement
    if not sizes.any():
        return None, 0
    n = int(np.flatnonzero(sizes == sizes.max())[-1])
    table = counts[m == n]
    agreement = ((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = table.sum(axis=0) / table.sum()
    chance = float((shares**2).sum())
    if chance == 1.0:
        return None, int(table.shape[0])
    return float((agreement - chance) / (1.0 - chance)), int(table.shape[0])
