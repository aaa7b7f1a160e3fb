"""Slice finding: the groups of rows where a model's errors concentrate (SliceLine).

SliceLine (Sagadeeva & Boehm, SIGMOD 2021), exact, with the paper's pruning:

* **errors**: 0/1 misclassification for a classifier, the squared error (y − ŷ)² for a
  regressor; ``ē`` is their mean over the ``n`` rows;
* **predicates**: a column with at most ``bins`` distinct values is categorical (one
  predicate ``col = v`` per value); a numeric column with more is cut into at most
  ``bins`` equal-frequency bins at the values found at the 1/bins, 2/bins, …
  quantiles (numpy's ``inverted_cdf``, so each cut is a value in the data; repeated
  cuts merge, so a column dominated by one value gets fewer bins): ``col < c₁``,
  ``c₁ <= col < c₂``, …, ``col >= cₖ``. Nulls (and NaN) are a value of their own,
  ``col is null``;
* **a slice** is a conjunction of predicates on different columns, at most
  ``max_level`` of them; its size ``|S|``, error sum ``se`` and largest error ``sm``;
* **score**: ``sc = α·((se/|S|)/ē − 1) − (1−α)·(n/|S| − 1)``: above 0 when the slice's
  error rate is far enough above the average for its size;
* **search**: level by level. Level L joins two valid slices of level L−1 that share
  their first L−2 predicates (Apriori's join: each candidate is made once, so there is
  nothing to deduplicate) and keeps a candidate only when all L of its parents are
  valid (size ≥ ``min_support`` and errors > 0; a child of an invalid parent is invalid
  too). Its size, error sum and largest error are bounded by the smallest of its
  parents', and the paper's upper bound of the score (probed at ``min_support``,
  ``se/sm`` and the size bound) prunes it unless it reaches the k-th best score so far
  (kept when equal, so that pruning never changes the answer, ties included) and 0;
* **top-k**: the k best slices with a score above 0 and at least ``min_support`` rows,
  best first; ties are broken by the larger size, then fewer predicates, then the
  predicates' order (columns as given, values in sorted order, bins ascending).

``min_support`` is a row count; its default is the paper's, max(32, ⌈1% of n⌉).
Each slice's ``expr`` is recipe text for ``slices:``, and selects exactly its rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.data.expr import And, Column, Compare, Expr, IsNull, Literal
from assay.diagnostics._bounds import judge, parse_bounds
from assay.diagnostics._model import (
    as_data,
    check_columns,
    classifier_predictions,
    input_columns,
    label_column,
    resolve_model,
)
from assay.errors import UsageError
from assay.results import Judged, ReasonCode
from assay.scoring.metrics import task_of

if TYPE_CHECKING:
    from assay.models import Model
    from assay.store import Store

__all__ = [
    "VALUES",
    "Predicate",
    "Slice",
    "SliceCode",
    "SliceReport",
    "find_slices",
    "slices_from_errors",
]

VALUES = {
    "top_score": "the best slice's score (0 when no slice scores above 0)",
    "top_error": "the best slice's error rate (the average error when no slice is found)",
    "slices_found": "how many slices (up to k) score above 0",
    "average_error": "the error rate over all rows",
}
MIN_SUPPORT_FLOOR = 32  # the paper's default: max(32 rows, 1% of the rows)
MAX_VALUES = 1_000  # a categorical column with more values is left out (not named)
_DENSE_CELLS = 1 << 22  # column sets with more cells count only the candidates' cells
_SLACK = 1e-9  # bounds are compared with this relative slack: rounding never prunes


class SliceCode(ReasonCode):
    """Why a slice report failed a threshold, or what to read with care."""

    ABOVE_MAX = "above_max"
    BELOW_MIN = "below_min"
    UNDEFINED = "undefined"
    NO_ERRORS = "no_errors"  # the model makes no error: no slice can score
    LEFT_OUT = "left_out"  # a column not sliced (its type, or too many values)


@dataclass(frozen=True)
class Note:
    """A failed threshold or something to read with care, with its reason code."""

    code: SliceCode
    message: str


@dataclass(frozen=True)
class Predicate:
    """``column op value``: ``=`` (a value), ``is null``, ``<`` / ``>=`` (the first and the
    last bin) or ``range`` (``value`` is ``[lo, hi]``: ``lo <= column < hi``)."""

    column: str
    op: str
    value: Any

    @property
    def node(self) -> Expr:
        col = Column(self.column)
        if self.op == "is null":
            return IsNull(col)
        if self.op == "range":
            lo, hi = self.value
            return And((Compare(">=", col, Literal(lo)), Compare("<", col, Literal(hi))))
        return Compare(self.op, col, Literal(self.value))

    @property
    def expr(self) -> str:
        return self.node.canonical()

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": value}


@dataclass(frozen=True)
class Slice:
    """A conjunction of predicates, its score, its size and its error rate."""

    predicates: tuple[Predicate, ...]
    score: float
    size: int
    error: float  # the error rate inside the slice: se / size
    errors: float  # the error sum inside the slice

    @property
    def expr(self) -> str:
        """Recipe text that selects exactly this slice's rows."""
        nodes = [p.node for p in self.predicates]
        return (nodes[0] if len(nodes) == 1 else And(tuple(nodes))).canonical()

    def to_dict(self) -> dict[str, Any]:
        return {
            "expr": self.expr,
            "predicates": [p.to_dict() for p in self.predicates],
            "score": self.score,
            "size": self.size,
            "error": self.error,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Level:
    """One level of the search: candidates joined, left after pruning, valid."""

    level: int
    joined: int
    evaluated: int
    valid: int


@dataclass(frozen=True)
class SliceReport(Judged):
    """The top-k slices of a model's errors and how they were searched."""

    model: str
    rows: int
    label: str
    errors: str  # "misclassification" or "squared error"
    average_error: float
    k: int
    max_level: int
    min_support: int
    alpha: float
    bins: int
    slices: tuple[Slice, ...]
    columns: tuple[dict[str, Any], ...] = ()
    levels: tuple[Level, ...] = ()
    failures: tuple[Note, ...] = ()
    warnings: tuple[Note, ...] = ()
    thresholds: tuple[dict[str, Any], ...] = field(default=())

    def value(self, name: str) -> float | None:
        """A top-level number by name (what a spec's threshold reads): see ``VALUES``."""
        if name not in VALUES:
            raise UsageError(f"no slice number {name!r}; use one of: {', '.join(VALUES)}")
        top = self.slices[0] if self.slices else None
        if name == "top_score":
            return top.score if top else 0.0
        if name == "top_error":
            return top.error if top else self.average_error
        if name == "slices_found":
            return float(len(self.slices))
        return self.average_error

    def summary(self) -> str:
        if self.slices:
            top = self.slices[0]
            text = (
                f"{len(self.slices)} slice(s) over {self.rows:,} rows (average error "
                f"{self.average_error:.4f}); worst: {top.expr} ({top.size:,} rows, error "
                f"{top.error:.4f}, score {top.score:.4f})"
            )
        else:
            text = (
                f"no slice of at least {self.min_support:,} rows scores above 0 over "
                f"{self.rows:,} rows (average error {self.average_error:.4f})"
            )
        if self.failures:
            text += f"; {len(self.failures)} threshold(s) failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "summary": self.summary(),
            "model": self.model,
            "rows": self.rows,
            "label": self.label,
            "errors": self.errors,
            "average_error": self.average_error,
            **{name: self.value(name) for name in VALUES if name != "average_error"},
            "k": self.k,
            "max_level": self.max_level,
            "min_support": self.min_support,
            "alpha": self.alpha,
            "bins": self.bins,
            "slices": [s.to_dict() for s in self.slices],
            "columns": list(self.columns),
            "levels": [vars(lv) for lv in self.levels],
            "failures": [{"code": str(n.code), "message": n.message} for n in self.failures],
            "warnings": [{"code": str(n.code), "message": n.message} for n in self.warnings],
            "thresholds": list(self.thresholds),
        }


# -- predicates: categories and bins ---------------------------------------------------


@dataclass(frozen=True)
class _Encoded:
    """One column as codes 0..len(predicates)-1, one predicate per code."""

    name: str
    codes: np.ndarray
    predicates: tuple[Predicate, ...]
    kind: str  # "categorical" or "binned"

    def describe(self) -> dict[str, Any]:
        return {"column": self.name, "kind": self.kind, "predicates": len(self.predicates)}


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _lookup(points: np.ndarray, x: np.ndarray, side: str, values: np.ndarray) -> np.ndarray:
    """Each ``x``'s position among the sorted ``points`` (``np.searchsorted``); for
    integers of a small range (``values`` are the distinct ones), by a lookup table."""
    if x.dtype.kind in "iu" and len(values) and int(values[-1]) - int(values[0]) < 1 << 16:
        lo = int(values[0])
        table = np.searchsorted(points, np.arange(lo, int(values[-1]) + 1), side=side)  # type: ignore[call-overload]
        return table.astype(np.int32)[np.subtract(x, lo, dtype=np.int64)]
    return np.searchsorted(points, x, side=side).astype(np.int32)  # type: ignore[call-overload,no-any-return]


def _encode(name: str, column: pa.ChunkedArray, bins: int) -> _Encoded | str:
    """The column's predicates and each row's code, or why it cannot be sliced."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if not (numeric or pa.types.is_boolean(kind) or pa.types.is_string(kind)):
        if pa.types.is_large_string(kind):
            column = column.cast(pa.string())
        else:
            return f"type {kind} is not sliced"
    missing = pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False)
    present = pc.drop_null(column).to_numpy(zero_copy_only=False)
    if pa.types.is_floating(kind):
        present = present[~np.isnan(present)]
    values = np.unique(present)
    full = column.to_numpy(zero_copy_only=False)
    gaps = bool(missing.any())
    x = full[~missing] if gaps else full
    if numeric and len(values) > bins:
        cuts = np.unique(np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf"))
        cuts = cuts[cuts > values[0]]  # so the first bin is never empty
        if len(cuts) == 0:
            cuts = values[1:2]
        got = _lookup(cuts, x, "right", values)
        py = [_py(c) for c in cuts]
        predicates = [Predicate(name, "<", py[0])]
        predicates += [Predicate(name, "range", (lo, hi)) for lo, hi in itertools.pairwise(py)]
        predicates += [Predicate(name, ">=", py[-1])]
        encoded_kind = "binned"
    else:
        if len(values) > MAX_VALUES:
            return f"{len(values):,} distinct values (over {MAX_VALUES:,})"
        got = _lookup(values, x, "left", values)
        predicates = [Predicate(name, "=", _py(v)) for v in values]
        encoded_kind = "categorical"
    codes = got
    if gaps:
        codes = np.full(len(full), len(predicates), dtype=np.int32)
        codes[~missing] = got
        predicates.append(Predicate(name, "is null", None))
    return _Encoded(name, codes, tuple(predicates), encoded_kind)


# -- the search ------------------------------------------------------------------------


def _score(ss: np.ndarray, se: np.ndarray, e_avg: float, alpha: float, n: int) -> np.ndarray:
    """The paper's score; an empty slice scores −inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((se / ss) / e_avg - 1) - (1 - alpha) * (n / ss - 1)
    return np.where(ss > 0, sc, -np.inf)


def _score_bound(
    ss: np.ndarray, se: np.ndarray, sm: np.ndarray, e_avg: float, alpha: float, n: int, sup: int
) -> np.ndarray:
    """The paper's upper bound of the score of any slice inside one of size ≤ ``ss``,
    error sum ≤ ``se`` and largest error ≤ ``sm``: the score is monotone on each side of
    ``se/sm``, so its largest value over sizes in [``sup``, ``ss``] is at one of
    ``sup``, ``se/sm`` and ``ss``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        knee = np.maximum(np.where(sm > 0, se / sm, sup), sup)
    best = np.full(len(ss), -np.inf)
    for s in (np.full(len(ss), float(sup)), knee, ss.astype(np.float64)):
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = alpha * ((np.minimum(s * sm, se) / s) / e_avg - 1) - (1 - alpha) * (n / s - 1)
        best = np.fmax(best, np.where(s > 0, sc, -np.inf))
    return best


@dataclass
class _Search:
    """The state of one search over coded columns and their errors."""

    codes: list[np.ndarray]
    domains: np.ndarray
    e: np.ndarray
    k: int
    min_support: int
    alpha: float
    prune: bool = True
    binary: bool = field(init=False)
    col_of: np.ndarray = field(init=False)
    val_of: np.ndarray = field(init=False)
    top: list[tuple[float, int, tuple[int, ...], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.binary = bool(np.all((self.e == 0) | (self.e == 1)))
        # With 0/1 errors a slice's error sum is a count over the wrong rows alone.
        wrong = np.flatnonzero(self.e) if self.binary else np.zeros(0, dtype=np.int64)
        self.wrong_codes = [c[wrong] for c in self.codes]
        self.col_of = np.repeat(np.arange(len(self.domains)), self.domains)
        starts = np.cumsum(self.domains) - self.domains
        self.val_of = np.arange(int(self.domains.sum())) - starts[self.col_of]
        self.n = len(self.e)
        self.e_avg = float(self.e.sum() / self.n)

    @property
    def floor(self) -> float:
        """The score a new slice must reach to enter the top-k (ties may still enter)."""
        return self.top[-1][0] if len(self.top) >= self.k else -np.inf

    def stats(self, slices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Size, error sum and largest error of each slice (rows of predicate ids)."""
        c = len(slices)
        ss, se, sm = np.zeros(c), np.zeros(c), np.zeros(c)
        cols = self.col_of[slices]
        sets, which = np.unique(cols, axis=0, return_inverse=True)
        which = which.reshape(-1)
        for g, colset in enumerate(sets):
            idx = np.flatnonzero(which == g)
            radix = self.domains[colset]
            key = _key(self.codes, colset, radix)
            cell = self.val_of[slices[idx, 0]].astype(np.int64)
            for j in range(1, len(colset)):
                cell = cell * radix[j] + self.val_of[slices[idx, j]]
            cells = int(np.prod(radix.astype(np.float64)))
            if cells <= _DENSE_CELLS:
                ss[idx] = np.bincount(key, minlength=cells)[cell]
                if self.binary:
                    wrong = _key(self.wrong_codes, colset, radix)
                    se[idx] = np.bincount(wrong, minlength=cells)[cell]
                else:
                    se[idx] = np.bincount(key, weights=self.e, minlength=cells)[cell]
                    most = np.zeros(cells)
                    np.maximum.at(most, key, self.e)
                    sm[idx] = most[cell]
            else:  # too many cells to count them all: count only the candidates'
                order = np.argsort(cell)
                wanted = cell[order]
                pos = np.minimum(np.searchsorted(wanted, key), len(wanted) - 1)
                hit = wanted[pos] == key
                ss[idx[order]] = np.bincount(pos[hit], minlength=len(wanted))
                se[idx[order]] = np.bincount(pos[hit], self.e[hit], minlength=len(wanted))
                if not self.binary:
                    most = np.zeros(len(wanted))
                    np.maximum.at(most, pos[hit], self.e[hit])
                    sm[idx[order]] = most
        if self.binary:
            sm = (se > 0).astype(np.float64)
        return ss, se, sm

    def offer(self, slices: np.ndarray, ss: np.ndarray, se: np.ndarray, sc: np.ndarray) -> None:
        """Keep the k best of the top-k so far and the slices given."""
        ok = (sc > 0) & (ss >= self.min_support) & (sc >= self.floor)
        idx = np.flatnonzero(ok)
        if len(idx) > self.k:  # only those at or above the k-th best score can enter
            kth = np.partition(sc[idx], len(idx) - self.k)[len(idx) - self.k]
            idx = idx[sc[idx] >= kth]
        self.top += [
            (float(sc[i]), int(ss[i]), tuple(int(p) for p in slices[i]), float(se[i])) for i in idx
        ]
        self.top.sort(key=lambda t: (-t[0], -t[1], len(t[2]), t[2]))
        del self.top[self.k :]

    def join(
        self, s: np.ndarray, ss: np.ndarray, se: np.ndarray, sm: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Level-L candidates from the valid level-(L−1) slices ``s`` (sorted rows), after
        the parents check and the size and score-bound pruning; and how many were joined."""
        count, width = s.shape
        same = np.ones(count, dtype=bool)  # row i starts a new group of equal prefixes
        if width > 1:
            same[1:] = np.any(s[1:, :-1] != s[:-1, :-1], axis=1)
        else:
            same[1:] = False
        starts = np.flatnonzero(same)
        ends = np.append(starts[1:], count)
        end = np.repeat(ends, ends - starts)
        partners = end - np.arange(count) - 1
        left = np.repeat(np.arange(count), partners)
        first = np.repeat(np.cumsum(partners) - partners, partners)
        right = left + 1 + np.arange(len(left)) - first
        fine = self.col_of[s[left, -1]] != self.col_of[s[right, -1]]
        left, right = left[fine], right[fine]
        joined = len(left)
        cand = np.hstack([s[left], s[right, -1:]])
        # Bounds: the smallest of the parents'. Parents are the candidate less one
        # predicate; dropping the last gives ``left``, the one before ``right``.
        ub_ss, ub_se, ub_sm = (np.minimum(x[left], x[right]) for x in (ss, se, sm))
        keep = np.ones(len(cand), dtype=bool)
        if width > 1:
            base = len(self.col_of)
            keys = _keys(s, base)
            for drop in range(width - 1):
                wanted = _keys(np.delete(cand, drop, axis=1), base)
                pos = np.minimum(np.searchsorted(keys, wanted), count - 1)
                keep &= keys[pos] == wanted
                ub_ss = np.minimum(ub_ss, ss[pos])
                ub_se = np.minimum(ub_se, se[pos])
                ub_sm = np.minimum(ub_sm, sm[pos])
        if self.prune:
            bound = _score_bound(
                ub_ss, ub_se, ub_sm, self.e_avg, self.alpha, self.n, self.min_support
            )
            floor = self.floor
            if np.isfinite(floor):
                floor -= _SLACK * max(1.0, abs(floor))
            keep &= (ub_ss >= self.min_support) & (bound > -_SLACK) & (bound >= floor)
        return cand[keep], joined

    def run(self, max_level: int) -> list[Level]:
        """The search itself; the top-k ends in ``self.top``."""
        last = min(max_level, len(self.domains))
        s = np.arange(int(self.domains.sum()), dtype=np.int64)[:, None]
        level, joined = 1, len(s)
        levels: list[Level] = []
        while True:
            ss, se, sm = self.stats(s)
            self.offer(s, ss, se, _score(ss, se, self.e_avg, self.alpha, self.n))
            valid = (ss >= self.min_support) & (se > 0)
            levels.append(Level(level, joined, len(s), int(valid.sum())))
            if level == last or not valid.any():
                return levels
            level += 1
            s, joined = self.join(s[valid], ss[valid], se[valid], sm[valid])
            if not len(s):
                levels.append(Level(level, joined, 0, 0))
                return levels


def _key(codes: list[np.ndarray], colset: np.ndarray, radix: np.ndarray) -> np.ndarray:
    """Each row's cell in the table of the columns ``colset`` (mixed radix)."""
    key = codes[colset[0]].astype(np.int64)
    for j in range(1, len(colset)):
        key *= radix[j]
        key += codes[colset[j]]
    return key


def _keys(rows: np.ndarray, base: int) -> np.ndarray:
    """Each row of predicate ids as one number in base ``base`` (sorted rows → sorted
    keys); a float key would round, so too many predicates for int64 is refused."""
    if base ** rows.shape[1] >= 2**63:
        raise UsageError(
            f"{base:,} predicates over {rows.shape[1] + 1} levels is too many to search; "
            "lower --max-level or --bins, or name fewer --columns"
        )
    key = np.zeros(len(rows), dtype=np.int64)
    for j in range(rows.shape[1]):
        key = key * base + rows[:, j]
    return key


# -- the public functions --------------------------------------------------------------


def _check(k: int, max_level: int, min_support: int | None, alpha: float, bins: int) -> None:
    def whole(name: str, value: Any, least: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(f"{name} {value!r} must be a whole number, {least} or more")

    whole("k", k, 1)
    whole("max_level", max_level, 1)
    whole("bins", bins, 2)
    if min_support is not None:
        whole("min_support", min_support, 1)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
        raise UsageError(f"alpha {alpha!r} must be a number above 0 and at most 1, e.g. 0.95")


def slices_from_errors(
    table: pa.Table,
    errors: Sequence[float] | np.ndarray,
    *,
    k: int = 5,
    max_level: int = 2,
    min_support: int | None = None,
    alpha: float = 0.95,
    bins: int = 10,
    columns: Sequence[str] | None = None,
    thresholds: Sequence[Mapping[str, Any]] = (),
    model: str = "",
    label: str = "",
    kind: str = "misclassification",
    prune: bool = True,
) -> SliceReport:
    """The top-``k`` slices of ``table``'s ``columns`` (default: all) by the rows'
    ``errors`` (one non-negative number per row). ``prune=False`` evaluates every
    candidate (for checking that pruning changes nothing)."""
    _check(k, max_level, min_support, alpha, bins)
    bounds = parse_bounds(list(thresholds), VALUES, "slices")
    e = np.asarray(errors, dtype=np.float64)
    n = table.num_rows
    if e.shape != (n,):
        raise UsageError(f"{len(e)} errors for {n} rows; give one error per row")
    if n == 0:
        raise UsageError("the data has no rows; slices need rows to look at")
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise UsageError("errors must be finite and 0 or more (a misclassification, a loss)")
    named = columns is not None
    names = list(dict.fromkeys(columns)) if columns is not None else table.column_names
    check_columns(table, names, "slice")
    sup = min_support if min_support is not None else max(MIN_SUPPORT_FLOOR, math.ceil(n / 100))
    encoded: list[_Encoded] = []
    warnings: list[Note] = []
    for name in names:
        got = _encode(name, table.column(name), bins)
        if isinstance(got, str):
            if named:
                raise UsageError(f"column {name!r} cannot be sliced: {got}; leave it out")
            warnings.append(Note(SliceCode.LEFT_OUT, f"column {name!r} left out: {got}"))
        else:
            encoded.append(got)
    predicates = [p for col in encoded for p in col.predicates]
    top: list[Slice] = []
    levels: list[Level] = []
    if e.sum() == 0:
        warnings.append(Note(SliceCode.NO_ERRORS, "the model makes no error on these rows"))
    elif encoded:
        search = _Search(
            [c.codes for c in encoded],
            np.array([len(c.predicates) for c in encoded], dtype=np.int64),
            e,
            k,
            sup,
            float(alpha),
            prune,
        )
        levels = search.run(max_level)
        top = [
            Slice(tuple(predicates[p] for p in ids), score, size, errs / size, errs)
            for score, size, ids, errs in search.top
        ]
    report = SliceReport(
        model=model,
        rows=n,
        label=label,
        errors=kind,
        average_error=float(e.sum() / n),
        k=k,
        max_level=max_level,
        min_support=sup,
        alpha=float(alpha),
        bins=bins,
        slices=tuple(top),
        columns=tuple(c.describe() for c in encoded),
        levels=tuple(levels),
        warnings=tuple(warnings),
        thresholds=tuple(b.to_dict() for b in bounds),
    )
    value: Callable[[str], float | None] = report.value
    failures = [Note(SliceCode(b.code), b.message) for b in judge(bounds, value)]
    return replace(report, failures=tuple(failures))


def model_errors(
    model: Model, table: pa.Table, label: str, key: tuple[str, ...]
) -> tuple[np.ndarray, str]:
    """Each row's error and its kind: 0/1 misclassification for a class label, the
    squared error for a numeric one."""
    frame = table.select(input_columns(model, table, label, key)).to_pandas()
    y_raw = table.column(label).to_numpy(zero_copy_only=False)
    if task_of(y_raw) == "regression":
        guess = np.asarray(model.predict(frame, source="the data"), dtype=np.float64)
        return (y_raw.astype(np.float64) - guess) ** 2, "squared error"
    p = classifier_predictions(model, frame, y_raw, binary=False, source="the data")
    return (p.label != p.y).astype(np.float64), "misclassification"


def find_slices(
    model: Model | str,
    data: Any,
    *,
    k: int = 5,
    max_level: int = 2,
    min_support: int | None = None,
    alpha: float = 0.95,
    label: str | None = None,
    columns: Sequence[str] | None = None,
    bins: int = 10,
    thresholds: Sequence[Mapping[str, Any]] = (),
    store: Store | None = None,
) -> SliceReport:
    """The top-``k`` slices where ``model`` (a ``Model`` or ``NAME@REF``) errs most on
    ``data`` (a dataset version, an Arrow table, a DataFrame, or text naming data:
    ``recipe.yaml[:split]``, a fingerprint, a file, ``log:EXPERIMENT``).

    ``label`` defaults to the dataset's label column; ``columns`` (default: every column
    but the label, the key and assay's own) are the ones slices are made of.
    """
    _check(k, max_level, min_support, alpha, bins)
    parse_bounds(list(thresholds), VALUES, "slices")  # fail before predicting
    named = as_data(data, store)
    table = named.table
    label_col = label_column(table, label, named.label)
    if columns is not None:
        columns = list(dict.fromkeys(columns))
        check_columns(table, columns, "slice")
        if label_col in columns:
            raise UsageError(f"{label_col!r} is the label; slice on other columns")
    else:
        from assay.data.compose import SPLIT_COLUMN

        never = {label_col, *named.key, SPLIT_COLUMN}
        columns = [c for c in table.column_names if c not in never and not c.startswith("_assay_")]
        # A column with one value (a year's own data: year = 2018) only repeats its
        # parent slice under another name; unless asked for, it is no candidate.
        columns = [c for c in columns if pc.count_distinct(table.column(c), mode="all").as_py() > 1]
    loaded = resolve_model(model, store)
    errors, kind = model_errors(loaded, table, label_col, named.key)
    return slices_from_errors(
        table,
        errors,
        k=k,
        max_level=max_level,
        min_support=min_support,
        alpha=alpha,
        bins=bins,
        columns=columns,
        thresholds=thresholds,
        model=loaded.info.ref,
        label=label_col,
        kind=kind,
    )
