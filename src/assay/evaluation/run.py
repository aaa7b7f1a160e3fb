"""Running an evaluation: resolve, predict once, measure every cell, gate, record.

Order matters for users: everything that can be wrong with a spec (models, datasets,
label columns, slices, metrics that do not fit the task) is found before the first
prediction is computed, and reported together.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import PredictError, SpecError
from assay.evaluation.spec import CANDIDATE, OVERALL, EvalSpec, Threshold, load_spec
from assay.extras import require
from assay.results import GateStatus, ReasonCode, verdict
from assay.scoring import bootstrap
from assay.scoring.metrics import METRICS, Predictions, task_of

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.models import Model
    from assay.store import Store

__all__ = [
    "Cell",
    "Comparison",
    "EvalWarning",
    "Evaluation",
    "GateReason",
    "GateResult",
    "WarningCode",
    "evaluate",
]


@dataclass(frozen=True)
class Cell:
    """One metric of one model on one slice of one dataset, with its bootstrap interval."""

    model: str  # the role: candidate, previous, baseline, …
    dataset: str
    slice: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    rows: int


@dataclass(frozen=True)
class Comparison:
    """The candidate against a reference on one cell: ``gain`` is oriented so that
    positive is better (for a lower-is-better metric, a fall is a gain)."""

    reference: str
    dataset: str
    slice: str
    metric: str
    difference: float | None  # candidate − reference
    gain: float | None
    gain_ci: tuple[float, float] | None
    rows: int


@dataclass(frozen=True)
class GateResult:
    """A threshold judged on one dataset slice: ``pass``, ``fail``, ``noise`` (the point
    estimate crosses the bound but the interval does not: not a significant change)
    or ``not_gated`` (a slice under ``min_slice_rows``: reported, never gating)."""

    threshold: int
    rule: str
    metric: str
    dataset: str
    slice: str
    status: GateStatus
    observed: float | None
    bound: float
    ci: tuple[float, float] | None
    rows: int
    reference: str | None = None
    message: str = ""
    diagnostic: str | None = None  # the ``diagnostics:`` entry that made the row

    @property
    def failed(self) -> bool:
        return self.status == GateStatus.FAIL


class GateReason(ReasonCode):
    """Why a rule failed on a dataset slice."""

    THRESHOLD_FAILED = "threshold_failed"  # the value (or a significant change) breaks the bound
    UNDEFINED_METRIC = "undefined_metric"  # the metric has no value there (e.g. one class)
    DIAGNOSTIC_FAILED = "diagnostic_failed"  # a diagnostic's own verdict (e.g. fairness)


class WarningCode(ReasonCode):
    """Why an evaluation that ran may not mean what it seems to."""

    SELF_COMPARISON = "self_comparison"  # a reference is the candidate's own version
    NAN_PREDICTIONS = "nan_predictions"  # rows left out because a model answered NaN


@dataclass(frozen=True)
class EvalWarning:
    """Something the reader of an evaluation must know: shown by the CLI, the JSON and
    the report, never changing the verdict."""

    code: WarningCode
    message: str
    models: tuple[str, ...] = ()  # the roles concerned
    dataset: str | None = None


@dataclass
class Evaluation:
    """An evaluation's outcome: the verdict, every cell, every comparison, every rule."""

    name: str | None
    task: str
    models: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    cells: list[Cell]
    comparisons: list[Comparison]
    gate: list[GateResult]
    curves: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    slices: list[str] = field(default_factory=list)
    bootstrap: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    seconds: float = 0.0
    id: str | None = None
    promoted: str | None = None
    warnings: list[EvalWarning] = field(default_factory=list)
    engine: str | None = None  # the engine that ran the slices ("duckdb", "spark")
    # Each ``diagnostics:`` entry's report as plain data (its gate rows are in ``gate``).
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(g.failed for g in self.gate)

    @property
    def failures(self) -> list[GateResult]:
        return [g for g in self.gate if g.failed]

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReasonCode]:
        """Why each failed rule cell failed."""
        return [
            GateReason.DIAGNOSTIC_FAILED
            if g.diagnostic is not None and g.metric == g.diagnostic
            else GateReason.UNDEFINED_METRIC
            if g.observed is None
            else GateReason.THRESHOLD_FAILED
            for g in self.failures
        ]

    def cell(self, model: str, dataset: str, slice: str, metric: str) -> Cell:
        for c in self.cells:
            if (c.model, c.dataset, c.slice, c.metric) == (model, dataset, slice, metric):
                return c
        raise KeyError((model, dataset, slice, metric))

    def summary(self) -> str:
        counts = {s: sum(g.status == s for g in self.gate) for s in GateStatus}
        parts = [f"{counts[GateStatus.PASS]} passed"]
        if counts[GateStatus.FAIL]:
            parts.append(f"{counts[GateStatus.FAIL]} failed")
        if counts[GateStatus.NOISE]:
            parts.append(f"{counts[GateStatus.NOISE]} within noise")
        if counts[GateStatus.NOT_GATED]:
            parts.append(f"{counts[GateStatus.NOT_GATED]} not gated (small slices)")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "passed": self.passed,
            "summary": self.summary(),
            "task": self.task,
            "models": self.models,
            "datasets": self.datasets,
            "metrics": self.metrics,
            "slices": self.slices,
            "bootstrap": self.bootstrap,
            "failures": [_plain(asdict(g)) for g in self.failures],
            "gate": [_plain(asdict(g)) for g in self.gate],
            "cells": [_plain(asdict(c)) for c in self.cells],
            "comparisons": [_plain(asdict(c)) for c in self.comparisons],
            "curves": _plain(self.curves),
            "created_at": self.created_at,
            "seconds": round(self.seconds, 3),
            "promoted": self.promoted,
            "warnings": [_plain({**asdict(w), "code": str(w.code)}) for w in self.warnings],
            "engine": self.engine,
            "diagnostics": _plain(self.diagnostics),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# -- resolution: everything that can be wrong, before any prediction -----------------


@dataclass
class _Dataset:
    name: str
    version: DatasetVersion
    label: str
    split: str | None
    rows: np.ndarray  # positions of the rows in the version's table (after the split)
    masks: dict[str, np.ndarray]  # slice → boolean mask over ``rows``


def _resolve_models(spec: EvalSpec, store: Store, problems: list[str]) -> dict[str, Any]:
    from assay.errors import AssayError
    from assay.models.registry import get_model

    infos = {}
    for role, ref in spec.models.items():
        try:
            infos[role] = get_model(ref, store=store)
        except AssayError as e:
            problems.append(f"models.{role}: {e}")
    return infos


def _resolve_datasets(spec: EvalSpec, store: Store, problems: list[str]) -> dict[str, _Dataset]:
    import pyarrow.compute as pc

    from assay.data import expr
    from assay.data.compose import SPLIT_COLUMN, compose, load_version
    from assay.errors import AssayError

    out: dict[str, _Dataset] = {}
    versions: dict[str, DatasetVersion] = {}
    for name, ds in spec.datasets.items():
        where = f"datasets.{name}"
        try:
            if ds.recipe is not None:
                version = compose(spec.resolve_path(ds.recipe), store=store)
            else:
                assert ds.fingerprint is not None
                version = load_version(ds.fingerprint, store=store)
        except AssayError as e:
            problems.append(f"{where}: {e}")
            continue
        versions[name] = version
    for name, version in versions.items():
        ds, where = spec.datasets[name], f"datasets.{name}"
        label = ds.label or version.dataset.label
        table = version.table
        if label is None:
            problems.append(
                f"{where}: dataset {version.dataset.name!r} has no label column; set `label:`"
            )
            continue
        if label not in table.column_names:
            problems.append(f"{where}: no label column {label!r} in version {version.short}")
            continue
        rows = np.arange(table.num_rows)
        if ds.split is not None:
            names = [n for n, _ in version.recipe.split.ordered()]
            if ds.split not in names:
                problems.append(f"{where}: no split {ds.split!r} (splits: {', '.join(names)})")
                continue
            rows = np.flatnonzero(
                pc.equal(table.column(SPLIT_COLUMN), ds.split).to_numpy(zero_copy_only=False)
            )
        sub = table.take(rows)
        masks = {OVERALL: np.ones(len(rows), dtype=bool)}
        engine = store.engine
        recipe_slices = _known_slices(spec, version, versions)
        for s in spec.slice_names():
            try:
                node = recipe_slices.get(s) or expr.parse(s, context="slice")
                masks[s] = engine.mask(sub, node.predicate)
            except AssayError as e:
                known = ", ".join(recipe_slices) or "none"
                problems.append(
                    f"slices: {s!r} is neither a slice of {name}'s recipe (slices: {known}) "
                    f"nor a valid expression ({e})"
                )
        out[name] = _Dataset(name, version, label, ds.split, rows, masks)
    return out


def _known_slices(
    spec: EvalSpec, version: DatasetVersion, versions: dict[str, DatasetVersion]
) -> dict[str, Any]:
    """Slices by name: the dataset's own recipe first, then the spec's, then those of
    the spec's other recipes over the same dataset (a newest-year recipe need not
    repeat the test recipe's slices)."""
    from assay.data import expr

    known: dict[str, Any] = {}
    for other in versions.values():
        if other.dataset.name == version.dataset.name:
            known.update(other.recipe.slice_exprs())
    known.update({n: expr.parse(t, context="slice") for n, t in spec.slice_definitions().items()})
    known.update(version.recipe.slice_exprs())
    return known


def _check_task(spec: EvalSpec, task: str, problems: list[str]) -> None:
    for m in spec.metrics:
        metric = METRICS.get(m)
        if metric is not None and task not in metric.tasks:
            fits = ", ".join(n for n, x in METRICS.items() if task in x.tasks)
            problems.append(f"metrics: {m} does not apply to {task} tasks; use one of: {fits}")


# -- measuring --------------------------------------------------------------------------


def _predictions(out: Any, y_raw: np.ndarray, task: str, rows: np.ndarray, ref: str) -> Predictions:
    """A model's answers on the chosen rows, with labels as class positions."""
    label = out.label[rows]
    if task == "regression":
        return Predictions(task, y_raw.astype(np.float64), label.astype(np.float64))
    classes = list(out.classes) or sorted(
        set(np.unique(y_raw).tolist()) | set(np.unique(label).tolist())
    )
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({v for v in np.unique(y_raw).tolist() if v not in index}, key=repr)
    if unknown:
        raise SpecError(
            "evaluation",
            [f"model {ref} never predicts label value(s) {unknown[:5]} present in the data"],
        )
    y = np.array([index[v] for v in y_raw.tolist()], dtype=np.int64)
    guess = np.array([index.get(v, -1) for v in label.tolist()], dtype=np.int64)
    proba = None if out.proba is None else out.proba[rows]
    return Predictions(task, y, guess, proba, tuple(classes))


def _measure(
    spec: EvalSpec, preds: dict[str, Predictions], data: _Dataset
) -> tuple[list[Cell], list[Comparison]]:
    """Every metric of every model on every slice of one dataset, with paired intervals."""
    cells: list[Cell] = []
    comparisons: list[Comparison] = []
    conf = spec.bootstrap.confidence
    for slice_name, mask in data.masks.items():
        n = int(mask.sum())
        subsets = {role: p.subset(mask) for role, p in preds.items()}
        boot: dict[tuple[str, str], list[np.ndarray]] = {}
        for w in bootstrap.resamples(
            n, spec.bootstrap.samples, spec.bootstrap.seed, data.name, slice_name
        ):
            for role, p in subsets.items():
                for m in spec.metrics:
                    boot.setdefault((role, m), []).append(METRICS[m].weighted(p, w))
        values = {k: np.concatenate(v) for k, v in boot.items()}
        for m in spec.metrics:
            metric = METRICS[m]
            point = {role: _point(metric, p) for role, p in subsets.items()}
            for role in subsets:
                ci = bootstrap.interval(values[(role, m)], conf) if (role, m) in values else None
                cells.append(Cell(role, data.name, slice_name, m, point[role], ci, n))
            for ref in subsets:
                if ref == CANDIDATE:
                    continue
                c, r = point[CANDIDATE], point[ref]
                diff = None if c is None or r is None else c - r
                sign = 1.0 if metric.higher_is_better else -1.0
                gain_ci = None
                if (CANDIDATE, m) in values:
                    g = sign * (values[(CANDIDATE, m)] - values[(ref, m)])
                    gain_ci = bootstrap.interval(g, conf)
                comparisons.append(
                    Comparison(
                        ref,
                        data.name,
                        slice_name,
                        m,
                        diff,
                        None if diff is None else sign * diff,
                        gain_ci,
                        n,
                    )
                )
    return cells, comparisons


def _point(metric: Any, p: Predictions) -> float | None:
    if len(p.y) == 0:
        return None
    if metric.needs_proba and p.proba is None:
        return None
    if p.task != "regression" and len(np.unique(p.y)) < 2 and metric.name in ("roc_auc",):
        return None  # undefined on one class
    try:
        value = float(metric.point(p))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


# -- the gate ---------------------------------------------------------------------------


def _judge(spec: EvalSpec, cells: list[Cell], comparisons: list[Comparison]) -> list[GateResult]:
    results: list[GateResult] = []
    by_cell = {(c.model, c.dataset, c.slice, c.metric): c for c in cells}
    by_cmp = {(c.reference, c.dataset, c.slice, c.metric): c for c in comparisons}
    for i, t in enumerate(spec.thresholds):
        for dataset in t.datasets or list(spec.datasets):
            for slice_name in _scope(t, spec):
                cell = by_cell.get((CANDIDATE, dataset, slice_name, t.metric))
                if cell is None:
                    continue
                if t.vs is None:
                    results += _absolute(i, t, cell, spec.min_slice_rows)
                else:
                    cmp = by_cmp[(t.vs, dataset, slice_name, t.metric)]
                    results.append(_relative(i, t, cmp, spec.min_slice_rows))
    return results


def _scope(t: Threshold, spec: EvalSpec) -> list[str]:
    if t.slices is None:
        return [OVERALL]
    if t.slices == "all":
        return [OVERALL, *spec.slice_names()]
    return list(t.slices)


def _where(dataset: str, slice_name: str) -> str:
    return dataset if slice_name == OVERALL else f"{dataset}, slice {slice_name}"


def _fmt_ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" (CI {ci[0]:+.4f} … {ci[1]:+.4f})"


def _absolute(i: int, t: Threshold, cell: Cell, min_rows: int) -> list[GateResult]:
    out = []
    where = _where(cell.dataset, cell.slice)
    for bound, side in ((t.min, "≥"), (t.max, "≤")):
        if bound is None:
            continue
        v = cell.value
        base = GateResult(
            i,
            t.describe(),
            t.metric,
            cell.dataset,
            cell.slice,
            GateStatus.PASS,
            v,
            bound,
            cell.ci,
            cell.rows,
        )
        if cell.slice != OVERALL and cell.rows < min_rows:
            msg = f"{where}: {cell.rows} rows < min_slice_rows {min_rows}"
            out.append(replace(base, status=GateStatus.NOT_GATED, message=msg))
            continue
        if v is None:
            out.append(
                replace(
                    base, status=GateStatus.FAIL, message=f"{where}: {t.metric} is undefined here"
                )
            )
            continue
        ok = v >= bound if side == "≥" else v <= bound
        msg = f"{where}: {t.metric} = {v:.4f}, must be {side} {bound:g}"
        if cell.ci is not None:
            msg += f" (CI {cell.ci[0]:.4f} … {cell.ci[1]:.4f})"
        out.append(replace(base, status=verdict(ok), message=msg))
    return out


def _relative(i: int, t: Threshold, cmp: Comparison, min_rows: int) -> GateResult:
    # Both rules bound the gain from below: max_drop d → gain ≥ −d; min_gain g → gain ≥ g.
    bound = 0.0 - t.max_drop if t.max_drop is not None else float(t.min_gain or 0.0)
    where = _where(cmp.dataset, cmp.slice)
    base = GateResult(
        i, t.describe(), t.metric, cmp.dataset, cmp.slice, GateStatus.PASS, cmp.gain, bound,
        cmp.gain_ci, cmp.rows, reference=t.vs,
    )  # fmt: skip
    if cmp.slice != OVERALL and cmp.rows < min_rows:
        msg = f"{where}: {cmp.rows} rows < min_slice_rows {min_rows}"
        return replace(base, status=GateStatus.NOT_GATED, message=msg)
    if cmp.gain is None or cmp.difference is None:
        return replace(
            base, status=GateStatus.FAIL, message=f"{where}: {t.metric} is undefined here"
        )
    change = f"{t.metric} {cmp.difference:+.4f} vs {t.vs}{_fmt_ci(cmp.gain_ci)}"
    if cmp.gain >= bound:
        return replace(base, message=f"{where}: {change}")
    limit = (
        f"allowed: drop ≤ {t.max_drop:g}"
        if t.max_drop is not None
        else f"needed: gain ≥ {t.min_gain:g}"
    )
    significant = cmp.gain_ci is None or cmp.gain_ci[1] < bound or not t.require_significance
    if significant:
        return replace(
            base, status=GateStatus.FAIL, message=f"{where}: significant change: {change}; {limit}"
        )
    return replace(
        base, status=GateStatus.NOISE, message=f"{where}: within noise: {change}; {limit}"
    )


# -- what the reader must know ----------------------------------------------------------


def _diagnose(
    spec: EvalSpec,
    store: Store,
    models: dict[str, Model],
    data: dict[str, _Dataset],
    first_index: int,
    step: Callable[[], None],
) -> list[Any]:
    """The spec's ``diagnostics:``, each on the spec's datasets (split applied) or the
    rows it names itself; see ``assay.evaluation.diagnose``."""
    if not spec.diagnostics:
        return []
    from assay.data.compose import SPLIT_COLUMN
    from assay.diagnostics import Data
    from assay.evaluation.diagnose import run_all

    datasets = {}
    for name, d in data.items():
        table = d.version.table.take(d.rows)
        if d.split is not None and SPLIT_COLUMN in table.column_names:
            table = table.drop_columns([SPLIT_COLUMN])
        slices = dict(d.version.recipe.slice_exprs())
        datasets[name] = Data(
            table, d.label, tuple(d.version.dataset.key), slices, d.version.fingerprint
        )
    return run_all(spec, store, models, datasets, first_index, lambda _name: step())


def _self_comparisons(models: dict[str, Model]) -> list[EvalWarning]:
    """A warning for each reference that is the candidate's own version (as after
    ``--promote``): its comparisons are 0 by construction and test nothing."""
    cand = models[CANDIDATE].info
    found = []
    for role, model in models.items():
        if role != CANDIDATE and (model.info.name, model.info.version) == (cand.name, cand.version):
            found.append(
                EvalWarning(
                    WarningCode.SELF_COMPARISON,
                    f"{role} is the candidate itself ({cand.ref}), so every comparison with "
                    f"{role} is 0 and its rules pass without testing anything; point {role} "
                    "at the version the candidate should beat",
                    (CANDIDATE, role),
                )
            )
    return found


def _nan_rows(out: Any) -> np.ndarray:
    """Rows (of the whole version) where a model answered NaN or nothing (None)."""
    label = out.label
    if label.dtype.kind == "f":
        bad = np.isnan(label)
    elif label.dtype.kind == "O":
        bad = np.array([v is None or (isinstance(v, float) and v != v) for v in label], bool)
    else:
        bad = np.zeros(len(label), dtype=bool)
    if bad.ndim > 1:
        bad = bad.reshape(len(bad), -1).any(axis=1)
    if out.proba is not None:
        bad |= np.isnan(out.proba).any(axis=1)
    return bad


def _without_nan(
    spec: EvalSpec,
    models: dict[str, Model],
    outs: dict[str, Any],
    d: _Dataset,
    warnings: list[EvalWarning],
) -> tuple[_Dataset, int]:
    """``d`` less the rows where any model answered NaN, and how many those are.

    NaN answers fail the run unless the spec says ``allow_nan: true``; then their rows
    are left out of every model's metrics (so comparisons stay paired) and flagged.
    """
    nan = {role: _nan_rows(out)[d.rows] for role, out in outs.items()}
    union = np.zeros(len(d.rows), dtype=bool)
    for role, bad in nan.items():
        if not bad.any():
            continue
        count, first = int(bad.sum()), int(d.rows[np.argmax(bad)])
        ref = models[role].info.ref
        what = (
            f"model {ref} answered NaN for {count:,} of the {len(bad):,} rows of dataset {d.name}"
        )
        if not spec.allow_nan:
            raise PredictError(
                f"{what} (first: row {first:,} of version {d.version.short}); fix the model, "
                "or set `allow_nan: true` in the spec to leave those rows out of the metrics"
            )
        warnings.append(
            EvalWarning(
                WarningCode.NAN_PREDICTIONS,
                f"{what}; those rows are left out of every model's metrics (allow_nan)",
                (role,),
                d.name,
            )
        )
        union |= bad
    if not union.any():
        return d, 0
    keep = ~union
    kept = replace(d, rows=d.rows[keep], masks={s: m[keep] for s, m in d.masks.items()})
    return kept, int(union.sum())


# -- curves for the report ---------------------------------------------------------------


def _curves(task: str, preds: dict[str, Predictions]) -> dict[str, Any]:
    skm = require("sklearn.metrics", "evaluation curves")
    out: dict[str, Any] = {}
    for role, p in preds.items():
        entry: dict[str, Any] = {}
        if task != "regression":
            labels = list(range(len(p.classes)))
            entry["confusion"] = skm.confusion_matrix(p.y, p.label, labels=labels).tolist()
            entry["classes"] = [str(c) for c in p.classes]
            prec, rec, f1, support = skm.precision_recall_fscore_support(
                p.y, p.label, labels=labels, zero_division=0
            )
            entry["per_class"] = [
                {
                    "class": str(c),
                    "precision": float(a),
                    "recall": float(b),
                    "f1": float(d),
                    "support": int(e),
                }
                for c, a, b, d, e in zip(p.classes, prec, rec, f1, support, strict=True)
            ]
        if task == "binary" and p.proba is not None and len(np.unique(p.y)) == 2:
            fpr, tpr, _ = skm.roc_curve(p.y, p.score)
            keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
            entry["roc"] = {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}
            bins = np.minimum((p.score * 10).astype(int), 9)
            cal = []
            for b in range(10):
                m = bins == b
                if m.any():
                    cal.append(
                        {
                            "bin": b,
                            "predicted": float(p.score[m].mean()),
                            "observed": float((p.y[m] == 1).mean()),
                            "rows": int(m.sum()),
                        }
                    )
            entry["calibration"] = cal
        out[role] = entry
    return out


# -- the whole run ---------------------------------------------------------------------


def evaluate(
    spec: EvalSpec | str | Any,
    *,
    store: Store | None = None,
    record: bool = True,
    promote: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evaluation:
    """Evaluate the spec's models on its datasets and slices; judge the thresholds.

    Every problem with the spec is reported (``SpecError``) before any prediction is
    computed. Predictions are cached per (model version, dataset version). With
    ``record``, the evaluation is stored against the candidate model version; with
    ``promote``, the candidate takes that alias if (and only if) the gate passed.
    ``progress(what, done, total)`` counts each model's predictions on each dataset,
    then each dataset's metric cells (slices × metrics, bootstrap intervals).
    """
    from assay.models.registry import lineage, load_version, set_alias
    from assay.store import open_store

    started = time.perf_counter()
    spec = load_spec(spec)
    own = store is None
    store = store or open_store()
    try:
        problems: list[str] = []
        infos = _resolve_models(spec, store, problems)
        data = _resolve_datasets(spec, store, problems)
        task: str | None = spec.task
        if task is None and data:
            first = next(iter(data.values()))
            y = first.version.table.column(first.label).to_numpy(zero_copy_only=False)[first.rows]
            task = task_of(y)
        _check_task(spec, task or "binary", problems)
        if problems:
            raise SpecError(
                f"evaluation spec {spec.source}" if spec.source else "evaluation spec", problems
            )
        assert task is not None
        from assay.scoring.predictions import model_inputs, model_output

        models: dict[str, Model] = {role: load_version(store, info) for role, info in infos.items()}
        needs = [m for m in spec.metrics if METRICS[m].needs_proba]
        inputs = {}
        for role, model in models.items():
            if needs and not model.has_proba:
                problems.append(
                    f"models.{role}: {model.info.ref} gives no probabilities, which "
                    f"{', '.join(needs)} need"
                )
            for name, d in data.items():
                inputs[(role, name)] = model_inputs(
                    model,
                    d.version,
                    d.label,
                    spec.features_of(role),
                    f"models.{role}",
                    problems,
                    for_this_model=isinstance(spec.features, dict),
                )
        if problems:  # each distinct problem once: a model's columns can fail on every dataset
            raise SpecError(
                f"evaluation spec {spec.source}" if spec.source else "evaluation spec",
                list(dict.fromkeys(problems)),
            )
        warnings = _self_comparisons(models)
        cells: list[Cell] = []
        comparisons: list[Comparison] = []
        curves: dict[str, Any] = {}
        datasets_out: dict[str, Any] = {}
        cached: dict[str, bool] = {}
        done, total = 0, len(data) * (len(models) + 1) + len(spec.diagnostics)

        def step() -> None:
            nonlocal done
            done += 1
            if progress:
                progress("evaluating", done, total)

        if progress:
            progress("evaluating", 0, total)
        for name, d in data.items():
            source = f"dataset {name}, version {d.version.short}"
            outs = {}
            for role, model in models.items():
                known = inputs[(role, name)]
                assert known is not None
                outs[role] = model_output(store, model, d.version, known, source)
                cached[f"{role}:{name}"] = outs[role].cached
                step()
            d, left_out = _without_nan(spec, models, outs, d, warnings)
            y_raw = d.version.table.column(d.label).to_numpy(zero_copy_only=False)[d.rows]
            preds = {
                role: _predictions(out, y_raw, task, d.rows, models[role].info.ref)
                for role, out in outs.items()
            }
            c, cmp = _measure(spec, preds, d)
            step()
            cells += c
            comparisons += cmp
            curves[name] = _curves(task, preds)
            datasets_out[name] = {
                "fingerprint": d.version.fingerprint,
                "dataset": d.version.dataset.name,
                "split": d.split,
                "label": d.label,
                "rows": len(d.rows),
                "nan_rows": left_out,
                "slices": {s: int(m.sum()) for s, m in d.masks.items()},
            }
        gate = _judge(spec, cells, comparisons)
        outcomes = _diagnose(spec, store, models, data, len(spec.thresholds), step)
        gate += [GateResult(**row, diagnostic=o.name) for o in outcomes for row in o.gate]
        models_out = {
            role: {
                "ref": spec.models[role],
                "name": m.info.name,
                "version": m.info.version,
                "flavor": m.info.flavor,
                "lineage": lineage(m.info.ref, store=store),
            }
            for role, m in models.items()
        }
        evaluation = Evaluation(
            name=spec.name,
            task=task,
            models=models_out,
            datasets=datasets_out,
            cells=cells,
            comparisons=comparisons,
            gate=gate,
            curves={"by_dataset": curves, "cached_predictions": cached},
            metrics=list(spec.metrics),
            slices=[OVERALL, *spec.slice_names()],
            bootstrap=spec.bootstrap.model_dump(),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            warnings=warnings,
            engine=store.engine.name,
            diagnostics={o.name: {"dataset": o.dataset, **o.report} for o in outcomes},
        )
        if promote is not None and evaluation.passed:
            cand = models[CANDIDATE].info
            set_alias(cand.name, cand.version, promote, store=store)
            evaluation.promoted = promote
        evaluation.seconds = time.perf_counter() - started
        if record:
            evaluation = replace(
                evaluation, id=store.catalog.record_evaluation(evaluation.to_dict())
            )
        return evaluation
    finally:
        if own:
            store.close()
