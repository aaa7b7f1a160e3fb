"""Distribution statistics: the one home of the tests that say whether two samples differ.

Everything here works on value counts (``counts``), so a column is scanned once and
nothing is sorted twice: the total-variation distance with a chi-square test for
categories, the two-sample Kolmogorov–Smirnov distance with its asymptotic p-value for
numbers. Delta impact uses them; ``drift`` compares two datasets column by column with
the statistic Evidently would pick, every statistic computed from the value counts the
engine returns (docs/diagnostics.md).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.diagnostics.inputs import read_input
from assay.engine import default_engine
from assay.errors import AssayError, UsageError, shorten
from assay.extras import require
from assay.results import GateStatus, ReasonCode, verdict

if TYPE_CHECKING:
    import ibis

    from assay.engine import Engine
    from assay.store import Store

__all__ = [
    "STATS",
    "ColumnDrift",
    "DriftReport",
    "Reason",
    "binned_shares",
    "chi2_test",
    "counts",
    "drift",
    "jensenshannon",
    "ks_from_counts",
    "ks_test",
    "psi",
    "shares",
    "tvd_chi2",
    "wasserstein_normed",
]


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


# -- drift between two datasets -------------------------------------------------------

STATS = ("auto", "ks", "chi2", "psi", "wasserstein", "jensenshannon")
TESTS = ("ks", "chi2")  # judged on a p-value; the others are distances
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chi2": 0.05,
    "psi": 0.1,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
}
DEFAULT_DRIFT_SHARE = 0.5  # the dataset drifted when this share of its columns did
SMALL_ROWS = 1000  # up to this many reference rows, a test; above it, a distance
FEW_VALUES = 5  # a numeric column with at most this many values is treated as levels
INTEGER_LEVELS = 10  # an integer column with at most this many values holds categories
HISTOGRAM_VALUES = 20  # a numeric column with more values is binned for psi and JS
KS_EXACT_ROWS = 10_000  # scipy's ks_2samp(method="auto") is exact up to this sample size

Data = Any  # a pa.Table, an ibis.Table, or a string read_input understands


class Reason(ReasonCode):
    """How one column came out."""

    STABLE = "stable"  # the statistic is on the no-drift side of its threshold
    DRIFTED = "drifted"
    NO_VALUES = "no_values"  # one side holds no values (every row null): not judged


@dataclass(frozen=True)
class ColumnDrift:
    """One column's statistic, its threshold and whether it drifted.

    For a test (``ks``, ``chi2``) ``statistic`` is the test statistic and ``p_value``
    decides (drifted when below ``threshold``); for a distance ``statistic`` is the
    distance (also in ``distance``) and drifted means at least ``threshold``.
    """

    column: str
    kind: str  # "numerical" or "categorical"
    stat: str
    statistic: float | None
    p_value: float | None
    threshold: float
    reference_rows: int  # values compared (nulls, NaN and infinities left out)
    current_rows: int
    reason: Reason

    @property
    def drifted(self) -> bool:
        return self.reason is Reason.DRIFTED

    @property
    def distance(self) -> float | None:
        return None if self.stat in TESTS else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "stat": self.stat,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "distance": _finite(self.distance),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reason": str(self.reason),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared column and the dataset's verdict (a ``Result``)."""

    columns: tuple[ColumnDrift, ...]
    drift_share_threshold: float
    reference_rows: int
    current_rows: int

    @property
    def drift_share(self) -> float:
        """The fraction of the compared columns that drifted."""
        return sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.columns) and self.drift_share >= self.drift_share_threshold

    @property
    def passed(self) -> bool:
        return not self.drifted

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[Reason]:
        return [c.reason for c in self.columns if c.drifted]

    def value(self, name: str) -> float | None:
        """A number a threshold may bound: ``drift_share`` or ``drifted_columns``."""
        if name == "drift_share":
            return self.drift_share
        if name == "drifted_columns":
            return float(sum(c.drifted for c in self.columns))
        return None

    def summary(self) -> str:
        n = sum(c.drifted for c in self.columns)
        verdict_text = "drift" if self.drifted else "no drift"
        return (
            f"{verdict_text}: {n} of {len(self.columns)} columns drifted "
            f"({self.drift_share:.0%}; the dataset drifts at {self.drift_share_threshold:.0%})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "drift_share": self.drift_share,
            "drifted": self.drifted,
            "drift_share_threshold": self.drift_share_threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "summary": self.summary(),
        }


def drift(
    reference: Data,
    current: Data,
    *,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    stat: str = "auto",
    threshold: float | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    store: Store | None = None,
) -> DriftReport:
    """Whether ``current`` drifted from ``reference``, column by column.

    Each side is an Arrow table, an Ibis table, or a string ``read_input`` understands
    (a Parquet file is scanned by the engine, never loaded whole). The engine counts
    each column's values on each side; every statistic is computed from those counts
    (docs/diagnostics.md). ``stat="auto"`` picks per column as Evidently does (integers
    with at most 10 distinct values count as categories): up to 1,000 reference values,
    KS for numbers with more than 5 distinct values and chi-square otherwise; above, the
    normed Wasserstein distance for such numbers and Jensen–Shannon otherwise. ``threshold`` replaces every column's default threshold
    (p < 0.05 for tests, distance ≥ 0.1); the dataset drifted when at least
    ``drift_share`` of its columns did.

    ``columns`` defaults to the reference's columns but those in ``exclude`` and, for a
    side that names a dataset version (a recipe or a fingerprint), its key and split
    columns: a key's values are new in every delta, so they always "drift".
    """
    if stat not in STATS:
        raise UsageError(f"stat {stat!r} is not one of: {', '.join(STATS)}")
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise UsageError(f"threshold {threshold!r} must be a positive number")
    if not (0 < drift_share <= 1):
        raise UsageError(f"drift_share {drift_share!r} must be above 0 and at most 1")
    engine = store.engine if store is not None else default_engine()
    ref, cur = _engine_table(reference, engine, store), _engine_table(current, engine, store)
    if columns is None:
        skip = set(exclude) | _own_columns(reference, store) | _own_columns(current, store)
        columns = [c for c in ref.columns if c not in skip]
    else:
        columns = [c for c in columns if c not in set(exclude)]
    names = _columns(ref, cur, columns)
    types = {name: ref.schema()[name].to_pyarrow() for name in names}
    kinds = {name: _kind(t) for name, t in types.items()}
    a, b = _value_counts(engine, ref, kinds), _value_counts(engine, cur, kinds)
    results = [
        _column_drift(n, _inferred(types[n], a[n]), k == "numerical", a[n], b[n], stat, threshold)
        for n, k in kinds.items()
    ]
    rows = [engine.to_arrow(t.count()).column(0)[0].as_py() for t in (ref, cur)]
    return DriftReport(tuple(results), drift_share, int(rows[0]), int(rows[1]))


def _engine_table(data: Data, engine: Engine, store: Store | None) -> ibis.Table:
    import ibis

    if isinstance(data, ibis.Table):
        return data
    if isinstance(data, pa.Table):
        return engine.table(data)
    if isinstance(data, str):
        path = Path(data)
        if path.suffix.lower() == ".parquet" and path.is_file():
            return engine.read_parquet_files([str(path)])
        return engine.table(read_input(data, store))
    raise UsageError(
        f"drift compares Arrow tables, Ibis tables or named data, not {type(data).__name__}"
    )


def _own_columns(data: Data, store: Store | None) -> set[str]:
    """The key and split columns of a dataset version that ``data`` names, if it does."""
    from assay.data.compose import SPLIT_COLUMN, find_version
    from assay.data.recipe import load_recipe
    from assay.diagnostics._model import Data as Named

    if isinstance(data, Named):
        return {*data.key, SPLIT_COLUMN} if data.key else set()
    if not isinstance(data, str) or data.startswith("log:"):
        return set()
    head = data.strip()
    head = head.rpartition(":")[0] if re.search(r":[^/:]+$", head) else head
    if not (head.lower().endswith((".yaml", ".yml")) or re.fullmatch(r"[0-9a-fA-F]{6,64}", head)):
        return set()
    from assay.store import open_store

    try:
        opened = store or open_store()
    except AssayError:
        return set()  # reading the rows reports what is wrong
    try:
        if head.lower().endswith((".yaml", ".yml")):
            key = opened.catalog.get_dataset(load_recipe(head).dataset).key
        else:
            key = find_version(head, store=opened).dataset.key
        return {*key, SPLIT_COLUMN}
    except AssayError:
        return set()  # reading the rows reports what is wrong with the name
    finally:
        if store is None:
            opened.close()


def _columns(ref: ibis.Table, cur: ibis.Table, columns: Sequence[str] | None) -> list[str]:
    names = list(columns) if columns is not None else list(ref.columns)
    for side, table in (("reference", ref), ("current", cur)):
        missing = [c for c in names if c not in table.columns]
        if missing:
            known = shorten(", ".join(table.columns))
            raise UsageError(
                f"column {missing[0]!r} is not in the {side} data (columns: {known}); "
                "name the columns both share with --columns"
            )
    for name in names:
        kinds = {_kind(t.schema()[name].to_pyarrow()) for t in (ref, cur)}
        if len(kinds) > 1:
            raise UsageError(
                f"column {name!r} holds numbers on one side and not on the other; "
                "convert it or leave it out of --columns"
            )
    if not names:
        raise UsageError("no columns to compare; name some with --columns")
    return names


def _inferred(dtype: pa.DataType, reference: dict[Any, int]) -> str:
    """The column's kind as Evidently infers it: numbers are numerical, except integers
    with at most 10 distinct values (codes, flags), which are categories."""
    kind = _kind(dtype)
    if kind == "numerical" and pa.types.is_integer(dtype) and len(reference) <= INTEGER_LEVELS:
        return "categorical"
    return kind


def _kind(dtype: pa.DataType) -> str:
    numeric = pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
    return "numerical" if numeric or pa.types.is_decimal(dtype) else "categorical"


def _value_counts(
    engine: Engine, table: ibis.Table, kinds: dict[str, str]
) -> dict[str, dict[Any, int]]:
    """Each column's values and their counts, in one engine query (a union of one
    group-by per column); nulls, and NaN and infinities as Evidently drops them, left
    out. Numbers come back as floats, categories as text."""
    import ibis

    parts = []
    for name, kind in kinds.items():
        col = table[name]
        if kind == "numerical":
            num, cat = col.cast("float64"), ibis.null("string")
            keep = num.notnull() & ~num.isnan() & ~num.isinf()
        else:
            num, cat = ibis.null("float64"), col.cast("string")
            keep = cat.notnull()
        counted = table.filter(keep).group_by(num=num, cat=cat).aggregate(n=ibis._.count())
        parts.append(counted.mutate(column=ibis.literal(name)))
    got = engine.to_arrow(ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0])
    out: dict[str, dict[Any, int]] = {name: {} for name in kinds}
    for name, num, cat, n in zip(
        got["column"].to_pylist(),
        got["num"].to_pylist(),
        got["cat"].to_pylist(),
        got["n"].to_pylist(),
        strict=True,
    ):
        out[name][num if kinds[name] == "numerical" else cat] = n
    return out


def _column_drift(
    name: str,
    kind: str,
    numeric: bool,
    a: dict[Any, int],
    b: dict[Any, int],
    stat: str,
    threshold: float | None,
) -> ColumnDrift:
    na, nb = sum(a.values()), sum(b.values())
    if stat == "auto":
        stat = _auto_stat(kind, na, len(a))
    if not numeric and stat in ("ks", "wasserstein"):
        raise UsageError(
            f"--stat {stat} needs numbers, and column {name!r} holds categories; use "
            "chi2, psi or jensenshannon, or leave --stat auto"
        )
    limit = DEFAULT_THRESHOLDS[stat] if threshold is None else threshold
    if na == 0 or nb == 0:
        return ColumnDrift(name, kind, stat, None, None, limit, na, nb, Reason.NO_VALUES)
    p_value: float | None = None
    if stat == "ks":
        statistic, p_value = ks_test(a, b)
    elif stat == "chi2":
        statistic, p_value = chi2_test(a, b)
    elif stat == "wasserstein":
        statistic = wasserstein_normed(a, b)
    else:
        pa_, pb = binned_shares(a, b, numeric=numeric, fill_zeroes=stat == "psi")
        statistic = psi(pa_, pb) if stat == "psi" else jensenshannon(pa_, pb)
    drifted = p_value < limit if p_value is not None else statistic >= limit
    reason = Reason.DRIFTED if drifted else Reason.STABLE
    return ColumnDrift(name, kind, stat, statistic, p_value, limit, na, nb, reason)


def _auto_stat(kind: str, rows: int, distinct: int) -> str:
    """Evidently's default choice: by kind, reference size and distinct values."""
    numbers = kind == "numerical" and distinct > FEW_VALUES
    if rows <= SMALL_ROWS:
        return "ks" if numbers else "chi2"
    return "wasserstein" if numbers else "jensenshannon"


def _arrays(a: dict[Any, int], b: dict[Any, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The values both sides hold, sorted, and each side's count of each."""
    values = np.array(sorted(set(a) | set(b)), dtype=float)
    ca = np.array([a.get(v, 0) for v in values.tolist()], dtype=float)
    cb = np.array([b.get(v, 0) for v in values.tolist()], dtype=float)
    return values, ca, cb


def ks_test(a: dict[Any, int], b: dict[Any, int]) -> tuple[float, float]:
    """Two-sample KS statistic and p-value as ``scipy.stats.ks_2samp(method="auto")``:
    exact up to 10,000 values a side (the counts expanded; scipy computes), else
    asymptotic (from the counts alone)."""
    na, nb = sum(a.values()), sum(b.values())
    if max(na, nb) > KS_EXACT_ROWS:
        return ks_from_counts(a, b)
    stats = require("scipy.stats", "drift statistics")
    values, ca, cb = _arrays(a, b)
    with warnings.catch_warnings():  # scipy says when exact fails and it falls back
        warnings.simplefilter("ignore", RuntimeWarning)
        got = stats.ks_2samp(
            np.repeat(values, ca.astype(np.int64)),
            np.repeat(values, cb.astype(np.int64)),
            method="auto",
        )
    return float(got.statistic), float(got.pvalue)


def chi2_test(a: dict[Any, int], b: dict[Any, int]) -> tuple[float, float]:
    """Chi-square test of independence on the reference × current table of counts
    (``scipy.stats.chi2_contingency(table, correction=False)``)."""
    chi2_contingency = require("scipy.stats", "drift statistics").chi2_contingency
    levels = sorted(set(a) | set(b), key=str)
    table = np.array([[a.get(v, 0) for v in levels], [b.get(v, 0) for v in levels]], dtype=float)
    if table.shape[1] < 2:
        return 0.0, 1.0
    got = chi2_contingency(table, correction=False)
    return float(got.statistic), float(got.pvalue)


def wasserstein_normed(a: dict[Any, int], b: dict[Any, int]) -> float:
    """The Wasserstein distance (``scipy.stats.wasserstein_distance``) divided by the
    reference's standard deviation (at least 0.001), as Evidently norms it."""
    wasserstein_distance = require("scipy.stats", "drift statistics").wasserstein_distance
    values, ca, cb = _arrays(a, b)
    mean = float(np.dot(values, ca) / ca.sum())
    std = math.sqrt(float(np.dot((values - mean) ** 2, ca) / ca.sum()))
    keep_a, keep_b = ca > 0, cb > 0
    distance = wasserstein_distance(values[keep_a], values[keep_b], ca[keep_a], cb[keep_b])
    return float(distance) / max(std, 0.001)


def binned_shares(
    a: dict[Any, int], b: dict[Any, int], *, numeric: bool, fill_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each side's share of each bin, binned as Evidently bins for PSI and JS.

    Numbers with more than 20 distinct reference values fall in Sturges' equal-width
    bins over both sides (``numpy.histogram_bin_edges(both, bins="sturges")``); anything
    else is one bin per value. With ``fill_zeroes`` (PSI) an empty bin's share is
    0.0001, or a millionth of the smallest share when that is smaller.
    """
    if numeric and len(a) > HISTOGRAM_VALUES:
        values, ca, cb = _arrays(a, b)
        lo, hi, n = float(values[0]), float(values[-1]), ca.sum() + cb.sum()
        width = (hi - lo) / (math.log2(n) + 1.0)
        bins = math.ceil((hi - lo) / width) if width > 0 else 1
        edges = np.linspace(lo, hi, bins + 1, endpoint=True)
        ha = np.histogram(values, edges, weights=ca)[0] / ca.sum()
        hb = np.histogram(values, edges, weights=cb)[0] / cb.sum()
    else:
        levels = sorted(set(a) | set(b), key=str)
        ha = np.array([a.get(v, 0) for v in levels], dtype=float) / sum(a.values())
        hb = np.array([b.get(v, 0) for v in levels], dtype=float) / sum(b.values())
    if fill_zeroes:
        ha, hb = _fill_zeroes(ha), _fill_zeroes(hb)
    return ha, hb


def _fill_zeroes(shares: np.ndarray) -> np.ndarray:
    smallest = float(shares[shares > 0].min())
    filled = shares.copy()
    filled[filled == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


def psi(a: np.ndarray, b: np.ndarray) -> float:
    """Population stability index: the sum of (a − b) · ln(a / b) over the bins."""
    return float(np.sum((a - b) * np.log(a / b)))


def jensenshannon(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen–Shannon distance with natural logarithms (``scipy.spatial.distance``)."""
    distance = require("scipy.spatial.distance", "drift statistics")
    return float(distance.jensenshannon(a, b))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
