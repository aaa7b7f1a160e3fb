"""Robustness: a metric against the strength of a perturbation, one curve per model.

Perturbations, each seeded and applied to the same rows for every model (so the curves
compare like with like):

* ``noise``: numeric columns get Gaussian noise of standard deviation strength × the
  column's (``np.std``); integer columns are rounded back to whole numbers;
* ``missing``: a fraction (the strength) of each column's cells set to null;
* ``swap``: a fraction of each categorical column's cells replaced by another of the
  column's observed values (uniformly among the others);
* ``typo``: a fraction of the words of each text column get two adjacent characters
  swapped (``behaviour.typo``).

A column is numeric when it holds floats, or integers with more than 10 distinct
values; categorical when it holds text, booleans, or integers with at most 10 distinct
values (codes such as SEX; drift's rule); text when it holds strings. Strength 0 is no
perturbation, so its value is the plain metric; each point's ``drop`` is how much worse
the metric is than at 0 (``baseline − value`` for a metric where higher is better,
``value − baseline`` otherwise). A model that fails on perturbed rows (one that cannot
take nulls) fails that point, with the model's message, instead of stopping the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from assay.diagnostics._bounds import Bound, Breach, judge, parse_bounds
from assay.diagnostics._model import (
    as_data,
    classifier_predictions,
    input_columns,
    label_column,
    resolve_model,
)
from assay.errors import PredictError, UsageError
from assay.results import GateStatus, ReasonCode, verdict
from assay.scoring.metrics import METRICS, Predictions, task_of

if TYPE_CHECKING:
    import pandas as pd

    from assay.models import Model
    from assay.store import Store

__all__ = [
    "PERTURBATIONS",
    "Curve",
    "Point",
    "RobustnessCode",
    "RobustnessReport",
    "robustness",
]

NOISE = "noise"  # the one perturbation whose strength may exceed 1 (a multiple of the sd)
PERTURBATIONS = (NOISE, "missing", "swap", "typo")
DEFAULT_STRENGTHS = (0.0, 0.05, 0.1, 0.2, 0.5)
CATEGORY_MAX_VALUES = 10  # integers with at most this many values are codes (drift's rule)
APPLIES_TO = {
    "noise": "numeric",
    "missing": "any",
    "swap": "categorical",
    "typo": "text",
}


class RobustnessCode(ReasonCode):
    """Why a robustness report failed."""

    MODEL_FAILED = "model_failed"  # the model failed on perturbed rows (nulls, say)


@dataclass(frozen=True)
class Point:
    """The metric at one strength, its drop from strength 0, or why it has none."""

    strength: float
    value: float | None
    drop: float | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "strength": self.strength,
            "value": self.value,
            "drop": self.drop,
            "error": self.error,
        }


@dataclass(frozen=True)
class Curve:
    """One model's metric under one perturbation, strength by strength."""

    model: str
    perturbation: str
    columns: tuple[str, ...]
    points: tuple[Point, ...]

    def at(self, strength: float) -> Point:
        for p in self.points:
            if p.strength == strength:
                return p
        raise UsageError(
            f"no strength {strength:g}; strengths: {', '.join(f'{p.strength:g}' for p in self.points)}"
        )

    @property
    def failed(self) -> bool:
        return any(p.error is not None for p in self.points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "perturbation": self.perturbation,
            "columns": list(self.columns),
            "points": [p.to_dict() for p in self.points],
        }


def numbers(perturbations: Sequence[str], strengths: Sequence[float]) -> dict[str, str]:
    """The names a threshold may bound, with what each means."""
    out = {"max_drop": "the largest drop of any model, perturbation and strength"}
    for s in strengths:
        out[f"drop_at_{s:g}"] = f"the largest drop at strength {s:g} (any model, perturbation)"
    for p in perturbations:
        for s in strengths:
            out[f"{p}_drop_at_{s:g}"] = f"the largest drop under {p} at strength {s:g}"
    return out


@dataclass(frozen=True)
class RobustnessReport:
    """The curves (one per model and perturbation) and the thresholds on their drops."""

    models: tuple[str, ...]
    metric: str
    higher_is_better: bool
    strengths: tuple[float, ...]
    seed: int
    rows: int
    curves: tuple[Curve, ...]
    breaches: tuple[Breach, ...] = ()
    thresholds: tuple[Bound, ...] = field(default=())

    def curve(self, model: str, perturbation: str) -> Curve:
        for c in self.curves:
            if c.perturbation == perturbation and model in (c.model, c.model.partition("@")[0]):
                return c
        raise UsageError(f"no curve for {model} under {perturbation}")

    def value(self, name: str) -> float | None:
        """A top-level number by name: the worst drop over the models (and, for
        ``max_drop`` and ``drop_at_S``, the perturbations) among the points that have
        one; None when none has."""
        perturbations = tuple(dict.fromkeys(c.perturbation for c in self.curves))
        if name not in numbers(perturbations, self.strengths):
            known = ", ".join(numbers(perturbations, self.strengths))
            raise UsageError(f"no robustness number {name!r}; use one of: {known}")
        points = [
            (c.perturbation, p)
            for c in self.curves
            for p in c.points
            if name == "max_drop"
            or name == f"drop_at_{p.strength:g}"
            or name == f"{c.perturbation}_drop_at_{p.strength:g}"
        ]
        # A failed point has no drop; it fails the report on its own (model_failed).
        drops = [p.drop for _, p in points if p.drop is not None]
        return max(drops) if drops else None

    @property
    def passed(self) -> bool:
        return not self.breaches and not any(c.failed for c in self.curves)

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReasonCode]:
        codes: list[ReasonCode] = (
            [RobustnessCode.MODEL_FAILED] if any(c.failed for c in self.curves) else []
        )
        return list(dict.fromkeys([*codes, *(b.code for b in self.breaches)]))

    def summary(self) -> str:
        perturbations = list(dict.fromkeys(c.perturbation for c in self.curves))
        text = (
            f"{self.metric} of {len(self.models)} model(s) under {', '.join(perturbations)} "
            f"at strengths up to {max(self.strengths):g}"
        )
        worst = max(
            ((p.drop, c, p) for c in self.curves for p in c.points if p.drop is not None),
            key=lambda t: t[0],
            default=None,
        )
        if worst is not None:
            drop, c, p = worst
            text += f": largest drop {drop:+.4f} ({c.model}, {c.perturbation} at {p.strength:g})"
        if failed := [c for c in self.curves if c.failed]:
            text += f"; {len(failed)} curve(s) where the model failed"
        if self.breaches:
            text += f"; {len(self.breaches)} threshold(s) failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        perturbations = tuple(dict.fromkeys(c.perturbation for c in self.curves))
        return {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "summary": self.summary(),
            "models": list(self.models),
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "strengths": list(self.strengths),
            "seed": self.seed,
            "rows": self.rows,
            "max_drop": self.value("max_drop"),
            **{f"drop_at_{s:g}": self.value(f"drop_at_{s:g}") for s in self.strengths},
            "perturbations": list(perturbations),
            "curves": [c.to_dict() for c in self.curves],
            "thresholds": [b.to_dict() for b in self.thresholds],
            "breaches": [b.to_dict() for b in self.breaches],
        }


# -- column kinds and perturbations ---------------------------------------------------


def kind_of(field_type: pa.DataType, values: pa.ChunkedArray) -> set[str]:
    """What a column is: ``numeric``, ``categorical`` and/or ``text``."""
    if pa.types.is_string(field_type) or pa.types.is_large_string(field_type):
        return {"categorical", "text"}
    if pa.types.is_boolean(field_type) or pa.types.is_dictionary(field_type):
        return {"categorical"}
    if pa.types.is_floating(field_type):
        return {"numeric"}
    if pa.types.is_integer(field_type):
        distinct = len(values.unique().drop_null())
        return {"categorical"} if distinct <= CATEGORY_MAX_VALUES else {"numeric"}
    return set()


def _describe(field_type: pa.DataType, kinds: set[str]) -> str:
    if pa.types.is_integer(field_type) and "categorical" in kinds:
        return f"a category (integers with at most {CATEGORY_MAX_VALUES} values)"
    return ", ".join(sorted(kinds)) or str(field_type)


def _columns(
    table: pa.Table, inputs: list[str], perturbation: str, columns: Sequence[str] | None
) -> list[str]:
    """The columns ``perturbation`` applies to: those of ``columns`` (each must fit), or
    every input column of the right kind (there must be one)."""
    need = APPLIES_TO[perturbation]
    if columns is not None:
        for c in columns:
            kinds = kind_of(table.schema.field(c).type, table.column(c))
            if need != "any" and need not in kinds:
                raise UsageError(
                    f"perturbation {perturbation} applies to {need} columns; {c} is "
                    f"{_describe(table.schema.field(c).type, kinds)}; leave it out of --columns"
                )
        return list(columns)
    chosen = [
        c
        for c in inputs
        if need == "any" or need in kind_of(table.schema.field(c).type, table.column(c))
    ]
    if not chosen:
        raise UsageError(
            f"perturbation {perturbation} applies to {need} columns, and the model's inputs "
            f"have none ({', '.join(inputs[:20])}); choose others with --perturb"
        )
    return chosen


def _cells(n: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """round(strength × n) distinct row positions."""
    return rng.choice(n, size=round(min(strength, 1.0) * n), replace=False)


def perturb(
    frame: pd.DataFrame,
    perturbation: str,
    columns: Sequence[str],
    strength: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``frame`` with ``perturbation`` applied at ``strength`` to ``columns`` (a copy)."""
    from assay.diagnostics.behaviour import typo

    out = frame.copy()
    n = len(out)
    for column in columns:
        values = out[column]
        if perturbation == NOISE:
            x = values.to_numpy(dtype=np.float64, na_value=np.nan)
            noisy = x + rng.normal(0.0, 1.0, n) * np.nanstd(x) * strength
            if values.dtype.kind in "iu":
                out[column] = np.round(noisy).astype(values.dtype)
            else:
                out[column] = noisy
        elif perturbation == "missing":
            cells = _cells(n, strength, rng)
            if len(cells):
                copied = values.astype("float64" if values.dtype.kind in "iub" else object)
                copied.iloc[cells] = None
                out[column] = copied
        elif perturbation == "swap":
            observed = sorted(values.dropna().unique().tolist(), key=repr)
            cells = _cells(n, strength, rng)
            if len(observed) < 2 or not len(cells):
                continue
            new = values.to_numpy(copy=True)
            index = {v: i for i, v in enumerate(observed)}
            for cell in cells:
                here = new[cell]
                # Another observed value, uniformly: skip the cell's own position.
                pick = int(rng.integers(len(observed) - (here in index)))
                if here in index and pick >= index[here]:
                    pick += 1
                new[cell] = observed[pick]
            out[column] = new
        elif perturbation == "typo":
            texts = values.tolist()
            words = [
                (row, w)
                for row, t in enumerate(texts)
                if isinstance(t, str)
                for w in range(len(t.split(" ")))
            ]
            chosen = rng.choice(
                len(words), size=round(min(strength, 1.0) * len(words)), replace=False
            )
            split = [t.split(" ") if isinstance(t, str) else t for t in texts]
            for k in sorted(chosen.tolist()):
                row, w = words[k]
                split[row][w] = typo(split[row][w], rng)
            out[column] = [" ".join(s) if isinstance(s, list) else s for s in split]
    return out


# -- running --------------------------------------------------------------------------


def _score(model: Model, metric: str, frame: pd.DataFrame, y_raw: np.ndarray, task: str) -> float:
    """``metric`` of ``model`` on ``frame``, computed as the evaluation computes it."""
    if task == "regression":
        label = np.asarray(model.predict(frame, source="the perturbed data"), dtype=np.float64)
        p = Predictions(task, y_raw.astype(np.float64), label)
    else:
        p = classifier_predictions(model, frame, y_raw, binary=False, source="the perturbed data")
    return float(METRICS[metric].point(p))


def _strengths(strengths: Sequence[float], perturbations: Sequence[str]) -> tuple[float, ...]:
    out = []
    for s in strengths:
        if isinstance(s, bool) or not isinstance(s, int | float) or not np.isfinite(s) or s < 0:
            raise UsageError(f"strength {s!r} must be a number, 0 or more")
        out.append(float(s))
    fractions = [p for p in perturbations if p != NOISE]
    if fractions and (above := [s for s in out if s > 1]):
        raise UsageError(
            f"strength {above[0]:g} is above 1, and for {', '.join(fractions)} the strength "
            "is a fraction of cells or words; use strengths from 0 to 1"
        )
    # Strength 0 is the baseline every drop is measured from.
    return tuple(sorted({0.0, *out}))


def robustness(
    models: Model | str | Sequence[Model | str],
    data: Any,
    *,
    perturbations: Sequence[str] = ("noise", "missing", "swap"),
    strengths: Sequence[float] = DEFAULT_STRENGTHS,
    metric: str | None = None,
    seed: int = 0,
    columns: Sequence[str] | None = None,
    label: str | None = None,
    thresholds: Sequence[Mapping[str, Any] | Bound] = (),
    store: Store | None = None,
) -> RobustnessReport:
    """The ``metric`` of each of ``models`` (``NAME@REF`` or ``Model``) on ``data`` under
    each perturbation at each strength: a curve per model and perturbation.

    ``metric`` defaults to accuracy for classifiers and r2 for regressors; ``columns``
    (default: every input column each perturbation applies to) limits what is
    perturbed; ``thresholds`` bound ``max_drop``, ``drop_at_S`` or
    ``PERTURBATION_drop_at_S`` (the worst over the models).
    """
    if isinstance(models, str) or not isinstance(models, Sequence):
        models = [models]
    if not models:
        raise UsageError("name at least one model (NAME@REF)")
    perturbations = list(dict.fromkeys(perturbations))
    if not perturbations:
        raise UsageError(f"name at least one perturbation: {', '.join(PERTURBATIONS)}")
    if unknown := [p for p in perturbations if p not in PERTURBATIONS]:
        raise UsageError(
            f"unknown perturbation {unknown[0]!r}; use one or more of: {', '.join(PERTURBATIONS)}"
        )
    levels = _strengths(strengths, perturbations)
    bounds = parse_bounds(thresholds, numbers(perturbations, levels), "robustness")
    named = as_data(os.fspath(data) if isinstance(data, os.PathLike) else data, store)
    table = named.table
    label_col = label_column(table, label, named.label)
    if columns is not None:
        columns = list(dict.fromkeys(columns))
        if missing := [c for c in columns if c not in table.column_names]:
            raise UsageError(
                f"no column(s) {', '.join(map(repr, missing))} in the data "
                f"(columns: {', '.join(table.column_names[:20])})"
            )
    y_raw = table.column(label_col).to_numpy(zero_copy_only=False)
    task = task_of(y_raw)
    chosen = metric or ("r2" if task == "regression" else "accuracy")
    if chosen not in METRICS or task not in METRICS[chosen].tasks:
        fits = ", ".join(n for n, m in METRICS.items() if task in m.tasks)
        raise UsageError(f"metric {chosen!r} does not apply to {task} models; use one of: {fits}")
    loaded = [resolve_model(m, store) for m in models]
    inputs = {m.info.ref: input_columns(m, table, label_col, named.key) for m in loaded}
    every_input = list(dict.fromkeys(c for cs in inputs.values() for c in cs))
    if columns is not None and (outside := [c for c in columns if c not in every_input]):
        raise UsageError(
            f"column(s) {', '.join(map(repr, outside))} are no model's inputs "
            f"(inputs: {', '.join(every_input[:20])})"
        )
    targets = {p: _columns(table, every_input, p, columns) for p in perturbations}
    for m in loaded:
        if METRICS[chosen].needs_proba and not m.has_proba:
            raise UsageError(f"metric {chosen} needs probabilities, which model {m.info.ref} lacks")
    frame = table.select(every_input).to_pandas()
    sign = 1.0 if METRICS[chosen].higher_is_better else -1.0
    baseline = {
        m.info.ref: _score(m, chosen, frame[inputs[m.info.ref]], y_raw, task) for m in loaded
    }
    points: dict[tuple[str, str], list[Point]] = {
        (m.info.ref, p): [Point(0.0, baseline[m.info.ref], 0.0)]
        for m in loaded
        for p in perturbations
    }
    for i, p in enumerate(perturbations):
        for j, s in enumerate(levels):
            if s == 0:
                continue
            # The same perturbed rows for every model, and fixed by (seed, perturbation, strength).
            rng = np.random.default_rng([seed, i, j])
            perturbed = perturb(frame, p, targets[p], s, rng)
            for m in loaded:
                ref = m.info.ref
                try:
                    value = _score(m, chosen, perturbed[inputs[ref]], y_raw, task)
                except PredictError as e:
                    what = "cannot take missing values: " if p == "missing" else ""
                    points[ref, p].append(Point(s, None, None, what + str(e).splitlines()[0]))
                    continue
                drop = sign * (baseline[ref] - value) if np.isfinite(value) else None
                points[ref, p].append(Point(s, value if np.isfinite(value) else None, drop))
    report = RobustnessReport(
        models=tuple(m.info.ref for m in loaded),
        metric=chosen,
        higher_is_better=METRICS[chosen].higher_is_better,
        strengths=levels,
        seed=seed,
        rows=table.num_rows,
        curves=tuple(
            Curve(m.info.ref, p, tuple(targets[p]), tuple(points[m.info.ref, p]))
            for m in loaded
            for p in perturbations
        ),
        thresholds=tuple(bounds),
    )
    return replace(report, breaches=tuple(judge(bounds, report.value)))
