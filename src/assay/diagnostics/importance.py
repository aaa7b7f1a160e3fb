"""Permutation importance: how much a metric drops when one input column is shuffled.

The permutations are scikit-learn's ``permutation_importance`` ones, drawn the same
way from the same ``random_state``: one seed from ``RandomState(random_state)``, then
for every column a fresh ``RandomState(seed)`` that shuffles an index vector in place
once per repeat, each repeat shuffling the column as the previous repeat left it. So on
the same model, rows, metric, ``n_repeats`` and ``random_state`` the importances equal
scikit-learn's. The importance is ``baseline − permuted`` for a metric where higher is
better and ``permuted − baseline`` otherwise (scikit-learn's ``neg_*`` scorers).

Per column: the mean and standard deviation over the repeats (``np.std``, as
scikit-learn reports), and a Student-t interval for the mean, mean ± t(1 − α/2, r − 1)
· s / √r with the sample standard deviation s. Slices (a recipe's slice names, or
expressions) each get their own importances, permuting within the slice's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.diagnostics._model import (
    as_data,
    check_classes,
    check_columns,
    input_columns,
    label_column,
    resolve_model,
)
from assay.errors import AssayError, UsageError
from assay.extras import require
from assay.results import GateStatus, ReasonCode, verdict
from assay.scoring.metrics import METRICS, Predictions, task_of

if TYPE_CHECKING:
    import pyarrow as pa

    from assay.models import Model
    from assay.store import Store

__all__ = ["ColumnImportance", "ImportanceReport", "SliceImportance", "importance"]

OVERALL = "overall"


@dataclass(frozen=True)
class ColumnImportance:
    """One column's importance over the repeats: mean, std, interval and every repeat."""

    column: str
    mean: float
    std: float
    interval: tuple[float, float] | None
    repeats: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "mean": self.mean,
            "std": self.std,
            "interval": None if self.interval is None else list(self.interval),
            "repeats": list(self.repeats),
        }


@dataclass(frozen=True)
class SliceImportance:
    """The importances on one slice (or the whole data), most important first."""

    slice: str
    rows: int
    baseline: float | None
    columns: tuple[ColumnImportance, ...]

    def ranking(self) -> list[str]:
        return [c.column for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "rows": self.rows,
            "baseline": self.baseline,
            "columns": [c.to_dict() for c in self.columns],
        }


class ImportanceCode(ReasonCode):
    """What to read with care in an importance report."""

    EMPTY_SLICE = "empty_slice"


@dataclass(frozen=True)
class ImportanceReport:
    """Permutation importances per slice (``overall`` first); a report, always passed."""

    model: str
    metric: str
    repeats: int
    random_state: int
    confidence: float
    slices: tuple[SliceImportance, ...]
    warnings: tuple[tuple[ImportanceCode, str], ...] = field(default=())

    @property
    def passed(self) -> bool:
        return True

    @property
    def status(self) -> GateStatus:
        return verdict(True)

    @property
    def reasons(self) -> list[ReasonCode]:
        return []

    def slice(self, name: str) -> SliceImportance:
        for s in self.slices:
            if s.slice == name:
                return s
        raise UsageError(f"no slice {name!r}; slices: {', '.join(s.slice for s in self.slices)}")

    def value(self, name: str) -> float | None:
        """A number a threshold may bound, on every row: ``max_importance`` or
        ``importance:COLUMN`` (a column's mean importance)."""
        overall = self.slices[0].columns
        if name == "max_importance":
            return max((c.mean for c in overall), default=None)
        if not name.startswith("importance:"):
            return None
        column = name.removeprefix("importance:")
        return next((c.mean for c in overall if c.column == column), None)

    def summary(self) -> str:
        top = self.slices[0].columns[:3]
        tops = ", ".join(f"{c.column} {c.mean:.4f}" for c in top)
        return f"permutation importance ({self.metric}, {self.repeats} repeats): {tops}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": True,
            "status": str(self.status),
            "reasons": [],
            "model": self.model,
            "metric": self.metric,
            "repeats": self.repeats,
            "random_state": self.random_state,
            "confidence": self.confidence,
            "interval": "student_t",
            "slices": [s.to_dict() for s in self.slices],
            "warnings": [{"code": str(c), "message": m} for c, m in self.warnings],
        }


def _score(
    model: Model, metric: str, frame: Any, y: np.ndarray, classes: list[Any], task: str
) -> float:
    """``metric`` of ``model`` on ``frame`` (class labels as positions, as evaluation)."""
    m = METRICS[metric]
    label = model.predict(frame, source="the permuted data")
    if task == "regression":
        return float(m.point(Predictions(task, y, label.astype(np.float64))))
    check_classes(model, label)
    index = {c: i for i, c in enumerate(classes)}
    guess = np.array([index.get(v, -1) for v in label.tolist()], dtype=np.int64)
    proba = None
    if m.needs_proba:
        proba = np.asarray(model.predict_proba(frame, source="the permuted data"), np.float64)
    return float(m.point(Predictions(task, y, guess, proba, tuple(classes))))


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    if len(values) < 2:
        return None
    stats = require("scipy.stats", "importance intervals")
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * (
        float(np.std(values, ddof=1)) / np.sqrt(len(values))
    )
    mean = float(np.mean(values))
    return mean - half, mean + half


def _one(
    model: Model,
    frame: Any,
    y: np.ndarray,
    classes: list[Any],
    task: str,
    metric: str,
    repeats: int,
    random_state: int,
    confidence: float,
    name: str,
    targets: list[str],
) -> SliceImportance:
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    n = len(frame)
    baseline = _score(model, metric, frame, y, classes, task)
    # scikit-learn draws one seed, then reuses it for every column.
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    out = []
    for column in targets:
        rng = np.random.RandomState(seed)
        order = np.arange(n)
        permuted = frame.copy()
        scores = []
        for _ in range(repeats):
            rng.shuffle(order)
            permuted[column] = permuted[column].to_numpy()[order]
            scores.append(_score(model, metric, permuted, y, classes, task))
        drops = sign * (baseline - np.array(scores))
        out.append(
            ColumnImportance(
                column,
                float(np.mean(drops)),
                float(np.std(drops)),
                _interval(drops, confidence),
                tuple(float(d) for d in drops),
            )
        )
    out.sort(key=lambda c: -c.mean)
    return SliceImportance(name, n, baseline, tuple(out))


def importance(
    model: Model | str,
    data: Any,
    *,
    metric: str | None = None,
    repeats: int = 5,
    random_state: int = 0,
    slices: Sequence[str] = (),
    label: str | None = None,
    columns: Sequence[str] | None = None,
    confidence: float = 0.95,
    store: Store | None = None,
) -> ImportanceReport:
    """Permutation importance of ``model``'s input columns on ``data`` (a dataset
    version, an Arrow table, a DataFrame, or text naming data as ``read_input`` reads
    it), overall and on each of ``slices`` (the recipe's slice names, for a recipe or a
    version, or expressions over the columns).

    ``metric`` defaults to accuracy for classifiers and r2 for regressors; ``columns``
    (default: every input column) limits which columns are permuted.
    """
    from assay.data import expr

    if not (isinstance(repeats, int) and repeats >= 1):
        raise UsageError(f"repeats {repeats!r} must be a whole number of at least 1")
    if not 0.5 < confidence < 1:
        raise UsageError(f"confidence {confidence!r} must be between 0.5 and 1")
    named = as_data(data, store)
    table, key = named.table, named.key
    label_col = label_column(table, label, named.label)
    # What needs no model first: a wrong metric or slice fails before the model loads.
    y_raw = table.column(label_col).to_numpy(zero_copy_only=False)
    task = task_of(y_raw)
    chosen = metric or ("r2" if task == "regression" else "accuracy")
    if chosen not in METRICS or task not in METRICS[chosen].tasks:
        fits = ", ".join(n for n, m in METRICS.items() if task in m.tasks)
        raise UsageError(f"metric {chosen!r} does not apply to {task} models; use one of: {fits}")
    masks: dict[str, np.ndarray] = {OVERALL: np.ones(table.num_rows, dtype=bool)}
    known_slices = named.slices
    for s in slices:
        try:
            node = known_slices.get(s) or expr.parse(s, context="slice")
            masks[s] = _mask(table, node, store)
        except AssayError as e:
            names = ", ".join(known_slices) or "none"
            raise UsageError(
                f"slice {s!r} is neither a slice of the recipe (slices: {names}) nor a valid "
                f"expression ({e})"
            ) from None
    loaded = resolve_model(model, store)
    inputs = input_columns(loaded, table, label_col, key)
    if columns is not None:
        check_columns(table, list(columns), "importance")
        if outside := [c for c in columns if c not in inputs]:
            raise UsageError(
                f"column(s) {', '.join(map(repr, outside))} are not inputs of model "
                f"{loaded.info.ref} (inputs: {', '.join(inputs)})"
            )
    if METRICS[chosen].needs_proba and not loaded.has_proba:
        raise UsageError(
            f"metric {chosen} needs probabilities, which model {loaded.info.ref} lacks"
        )
    classes: list[Any] = []
    y = y_raw.astype(np.float64) if task == "regression" else y_raw
    if task != "regression":
        known = getattr(loaded.raw, "classes_", None)
        classes = (
            list(np.asarray(known).tolist()) if known is not None else sorted(set(y_raw.tolist()))
        )
        index = {c: i for i, c in enumerate(classes)}
        if unknown := sorted({v for v in set(y_raw.tolist()) if v not in index}, key=repr):
            raise UsageError(
                f"model {loaded.info.ref} never predicts label value(s) {unknown[:5]}; check --label"
            )
        y = np.array([index[v] for v in y_raw.tolist()], dtype=np.int64)
    frame = table.select(inputs).to_pandas()
    permuted = list(columns) if columns is not None else inputs
    results, warnings = [], []
    for name, mask in masks.items():
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            warnings.append((ImportanceCode.EMPTY_SLICE, f"slice {name!r} has no rows"))
            continue
        sub = frame.iloc[rows].reset_index(drop=True)
        one = _one(
            loaded,
            sub,
            y[rows],
            classes,
            task,
            chosen,
            repeats,
            random_state,
            confidence,
            name,
            permuted,
        )
        results.append(one)
    return ImportanceReport(
        loaded.info.ref,
        chosen,
        repeats,
        random_state,
        confidence,
        tuple(results),
        tuple(warnings),
    )


def _mask(table: pa.Table, node: Any, store: Store | None) -> np.ndarray:
    from assay.engine import default_engine

    engine = store.engine if store is not None else default_engine()
    return np.asarray(engine.mask(table, node.predicate), dtype=bool)
