"""Delta impact: how each delta shifts the label and every feature, and which to flag.

For each delta, the rows it brings are compared with the dataset as composed from
everything before it (all earlier deltas, applied with the usual semantics):

* label: class shares before and after the delta, the shift of each share, and a
  chi-square test of the delta's label counts against the earlier data's;
* features: a categorical column (text, booleans, or at most ``max_levels`` distinct
  values) gets the total-variation distance and a chi-square test; a numeric one the
  two-sample Kolmogorov–Smirnov distance and its asymptotic p-value, computed exactly
  from value counts so no sample is sorted twice; dates and times count as numeric.

Identifiers are not features: the key columns, and text columns whose values are
(nearly) unique per row, are skipped and listed in ``skipped`` with the reason,
because any two sets of identifiers have a total-variation distance near 1.

A delta is flagged when it moves any class share by more than ``threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pyarrow as pa

from assay.data.compose import materialise
from assay.data.deltas import read_delta
from assay.data.recipe import Recipe
from assay.diagnostics import drift
from assay.errors import UsageError
from assay.store import DeltaInfo, Store

__all__ = ["ColumnShift", "DeltaImpact", "delta_impact"]


@dataclass(frozen=True)
class ColumnShift:
    """How a delta's values of one column differ from the earlier data's."""

    column: str
    kind: str  # categorical | numeric
    test: str  # chi2 | ks
    distance: float  # total variation distance, or the KS statistic
    p_value: float


@dataclass(frozen=True)
class DeltaImpact:
    """One delta's effect on the label and the features."""

    name: str
    delta_id: str
    number: int
    op: str
    rows: int
    rows_before: int
    rows_after: int
    label_before: dict[str, float] = field(default_factory=dict)
    label_after: dict[str, float] = field(default_factory=dict)
    label_delta: dict[str, float] = field(default_factory=dict)  # shares among the delta's rows
    label_shift: dict[str, float] = field(default_factory=dict)  # after - before
    label_p_value: float | None = None
    flagged: bool = False
    reasons: tuple[str, ...] = ()
    features: tuple[ColumnShift, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # column -> "key" | "id-like"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A share of distinct values per row at which a text column is an identifier.
ID_LIKE_SHARE = 0.9


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)


def _id_like(t: pa.DataType, a: dict[Any, int], b: dict[Any, int], max_levels: int) -> bool:
    """Whether a non-numeric column's values are (nearly) unique per row on either side.

    Numbers are exempt: a continuous feature is unique per row too, and KS compares
    it soundly.
    """
    return not _numeric(t) and any(
        len(c) > max_levels and len(c) >= ID_LIKE_SHARE * sum(c.values()) for c in (a, b)
    )


def _column_shift(
    name: str, t: pa.DataType, a: dict[Any, int], b: dict[Any, int], max_levels: int
) -> ColumnShift | None:
    if not a or not b:
        return None
    if not _numeric(t) or len(set(a) | set(b)) <= max_levels:
        tvd, p = drift.tvd_chi2(a, b)
        return ColumnShift(name, "categorical", "chi2", tvd, p)
    d, p = drift.ks_from_counts(a, b)
    return ColumnShift(name, "numeric", "ks", d, p)


def delta_impact(
    store: Store,
    dataset: str,
    *,
    threshold: float = 0.02,
    max_levels: int = 50,
    columns: Sequence[str] | None = None,
    progress: Any = None,
) -> list[DeltaImpact]:
    """The impact of every delta of ``dataset`` on the data composed before it."""
    if not 0 < threshold < 1:
        raise UsageError(f"threshold {threshold} must be between 0 and 1, e.g. 0.02")
    info = store.catalog.get_dataset(dataset)
    deltas = store.catalog.list_deltas(dataset)
    label = info.label
    features = [c for c in (columns or info.columns) if c not in info.key and c != label]
    unknown = [c for c in features if c not in info.columns]
    if unknown:
        raise UsageError(f"dataset {dataset!r} has no column {unknown[0]!r}")
    keep = [c for c in info.columns if c in features or c == label]
    recipe = Recipe(dataset=dataset, columns=keep or None)
    out: list[DeltaImpact] = []
    before: pa.Table | None = None
    for i, d in enumerate(deltas):
        after = materialise(store, info, recipe, deltas[: i + 1])
        impact = _impact(d, before, after, store, label, features, threshold, max_levels)
        out.append(replace(impact, skipped={k: "key" for k in info.key} | impact.skipped))
        before = after
        if progress:
            progress("measuring impact", i + 1, len(deltas))
    return out


def _impact(
    d: DeltaInfo,
    before: pa.Table | None,
    after: pa.Table,
    store: Store,
    label: str | None,
    features: list[str],
    threshold: float,
    max_levels: int,
) -> DeltaImpact:
    rows_before = before.num_rows if before is not None else 0
    base = {
        "name": d.name,
        "delta_id": d.delta_id,
        "number": d.number,
        "op": d.op,
        "rows": d.row_count,
        "rows_before": rows_before,
        "rows_after": after.num_rows,
    }
    if before is None or before.num_rows == 0:
        shares = drift.shares(drift.counts(after.column(label))) if label else {}
        return DeltaImpact(**base, label_after=shares, label_delta=shares)
    new = read_delta(store, d) if d.op != "delete" else None
    result: dict[str, Any] = {}
    reasons: list[str] = []
    if label:
        sb, sa = (
            drift.shares(drift.counts(before.column(label))),
            drift.shares(drift.counts(after.column(label))),
        )
        shift = {k: sa.get(k, 0.0) - sb.get(k, 0.0) for k in sorted(set(sa) | set(sb))}
        result.update(label_before=sb, label_after=sa, label_shift=shift)
        if new is not None and label in new.column_names:
            counts = drift.counts(new.column(label))
            result["label_delta"] = drift.shares(counts)
            result["label_p_value"] = drift.tvd_chi2(counts, drift.counts(before.column(label)))[1]
        for k, s in sorted(shift.items(), key=lambda kv: -kv[1]):  # the grown class first
            if abs(s) > threshold:
                reasons.append(f"share of {label}={k} moves {s:+.1%} (threshold {threshold:.0%})")
    shifts: list[ColumnShift] = []
    skipped: dict[str, str] = {}
    if new is not None:
        for c in features:
            if c in new.column_names and c in before.column_names:
                t, a, b = (
                    new.column(c).type,
                    drift.counts(new.column(c)),
                    drift.counts(before.column(c)),
                )
                if _id_like(t, a, b, max_levels):
                    skipped[c] = "id-like"
                elif (col := _column_shift(c, t, a, b, max_levels)) is not None:
                    shifts.append(col)
    return DeltaImpact(
        **base,
        **result,
        flagged=bool(reasons),
        reasons=tuple(reasons),
        features=tuple(shifts),
        skipped=skipped,
    )
