"""Thresholds on a diagnostic's numbers: ``[{metric: NAME, max: X}, {metric: NAME, min: Y}]``.

Every diagnostic names the top-level numbers a threshold may bound (its ``value(name)``)
and judges them here, so that a bad threshold reads the same everywhere and a breach
carries the same reason codes in every report and in the gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import UsageError
from assay.results import ReasonCode

__all__ = ["Bound", "Breach", "BreachCode", "judge", "parse_bounds"]


class BreachCode(ReasonCode):
    """Why a bounded number failed its threshold."""

    ABOVE_MAX = "above_max"
    BELOW_MIN = "below_min"
    UNDEFINED = "undefined"  # the number has no value on this data, so it cannot pass


@dataclass(frozen=True)
class Bound:
    """One threshold: ``metric`` at most ``max`` and/or at least ``min``."""

    metric: str
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        parts = [f"{self.metric} ≥ {self.min:g}"] if self.min is not None else []
        parts += [f"{self.metric} ≤ {self.max:g}"] if self.max is not None else []
        return " and ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            **({"min": self.min} if self.min is not None else {}),
            **({"max": self.max} if self.max is not None else {}),
        }


@dataclass(frozen=True)
class Breach:
    """A threshold that failed, with its reason code and a sentence for people."""

    code: BreachCode
    metric: str
    message: str
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "metric": self.metric,
            "message": self.message,
            "value": self.value,
        }


def parse_bounds(
    thresholds: Sequence[Mapping[str, Any] | Bound] | None,
    known: Mapping[str, str],
    what: str,
) -> list[Bound]:
    """``thresholds`` checked against ``known`` (each allowed metric → what it means).

    ``what`` names the diagnostic in messages (``"drift"``). Raises a one-line
    ``UsageError`` naming the first bad entry and the fix.
    """
    out: list[Bound] = []
    if thresholds is None:
        return out
    if isinstance(thresholds, Mapping | str):
        raise UsageError(
            f"{what} thresholds: give a list of {{metric, max|min}} entries, e.g. "
            f"[{{metric: {next(iter(known), 'NAME')}, max: 0.1}}]"
        )
    for i, t in enumerate(thresholds):
        if isinstance(t, Bound):
            out.append(t)
            continue
        where = f"{what} thresholds[{i}]"
        if not isinstance(t, Mapping):
            raise UsageError(f"{where}: {t!r} is not a mapping; write {{metric: NAME, max: X}}")
        metric = t.get("metric")
        if metric not in known:
            raise UsageError(
                f"{where}: {metric!r} is not a number {what} gives; use one of: {', '.join(known)}"
            )
        if extra := sorted(set(t) - {"metric", "max", "min"}):
            raise UsageError(f"{where} ({metric}): unknown key(s) {extra}; use max or min")
        bounds = {k: t[k] for k in ("min", "max") if t.get(k) is not None}
        if not bounds:
            raise UsageError(f"{where} ({metric}): give a max or a min")
        for k, v in bounds.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise UsageError(f"{where} ({metric}): {k} {v!r} is not a finite number")
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and low > high:
            raise UsageError(
                f"{where} ({metric}): min {low:g} is above max {high:g}, so nothing can "
                "pass; swap them"
            )
        out.append(
            Bound(
                str(metric),
                None if low is None else float(low),
                None if high is None else float(high),
            )
        )
    return out


def judge(bounds: Sequence[Bound], value_of: Callable[[str], float | None]) -> list[Breach]:
    """The bounds that ``value_of(metric)`` breaks, in the order given."""
    breaches: list[Breach] = []
    for b in bounds:
        value = value_of(b.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            breaches.append(
                Breach(BreachCode.UNDEFINED, b.metric, f"{b.metric} is undefined on this data")
            )
            continue
        if b.max is not None and value > b.max:
            breaches.append(
                Breach(
                    BreachCode.ABOVE_MAX,
                    b.metric,
                    f"{b.metric} {value:.4g} is above the max {b.max:g}",
                    float(value),
                )
            )
        if b.min is not None and value < b.min:
            breaches.append(
                Breach(
                    BreachCode.BELOW_MIN,
                    b.metric,
                    f"{b.metric} {value:.4g} is below the min {b.min:g}",
                    float(value),
                )
            )
    return breaches
