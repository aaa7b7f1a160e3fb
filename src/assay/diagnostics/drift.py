"""Distribution statistics: the one home of the tests that say whether two samples differ.

Everything here works on value counts (``counts``), so a column is scanned once and
nothing is sorted twice: the total-variation distance with a chi-square test for
categories, the two-sample Kolmogorov–Smirnov distance with its asymptotic p-value for
numbers. Delta impact uses them today; drift detection will.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.extras import require

__all__ = ["counts", "ks_from_counts", "shares", "tvd_chi2"]


def counts(column: pa.ChunkedArray | pa.Array) -> dict[Any, int]:
    """Each non-null value of ``column`` and how often it occurs."""
    vc = pc.value_counts(pc.drop_null(column))
    return {
        v.as_py(): int(c.as_py())
        for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)
    }


def shares(counts: dict[Any, int]) -> dict[str, float]:
    """Each value's share of the total, keyed by its text, in text order."""
    total = sum(counts.values())
    return (
        {str(k): v / total for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}
        if total
        else {}
    )


def tvd_chi2(a: dict[Any, int], b: dict[Any, int]) -> tuple[float, float]:
    """Total variation distance between two count tables, and the chi-square p-value."""
    chi2_contingency = require("scipy.stats", "drift statistics").chi2_contingency

    levels = sorted(set(a) | set(b), key=str)
    table = np.array([[a.get(v, 0) for v in levels], [b.get(v, 0) for v in levels]], dtype=float)
    na, nb = table.sum(axis=1)
    if na == 0 or nb == 0:
        return math.nan, math.nan
    tvd = 0.5 * float(np.abs(table[0] / na - table[1] / nb).sum())
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return tvd, 1.0
    return tvd, float(chi2_contingency(table, correction=False).pvalue)


def ks_from_counts(a: dict[Any, int], b: dict[Any, int]) -> tuple[float, float]:
    """Two-sample KS statistic (exact, ties handled) and its asymptotic p-value."""
    kstwo = require("scipy.stats", "drift statistics").kstwo

    values = sorted(set(a) | set(b))
    ca = np.array([a.get(v, 0) for v in values], dtype=float)
    cb = np.array([b.get(v, 0) for v in values], dtype=float)
    na, nb = ca.sum(), cb.sum()
    if na == 0 or nb == 0:
        return math.nan, math.nan
    d = float(np.abs(np.cumsum(ca) / na - np.cumsum(cb) / nb).max())
    # scipy.stats.ks_2samp(method="asymp"): the one-sample KS law at n = nm / (n + m)
    return d, float(kstwo.sf(d, round(na * nb / (na + nb))))
