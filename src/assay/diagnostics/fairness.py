"""Fairness: how a binary classifier's answers differ between groups of people.

The definitions are Fairlearn's (``MetricFrame``, ``demographic_parity_*`` and
``equalized_odds_*`` with ``method="between_groups"``):

* per group: the count, the metrics (scikit-learn's, as the evaluation computes them),
  the selection rate P(ŷ = 1), the true-positive rate P(ŷ = 1 | y = 1) and the
  false-positive rate P(ŷ = 1 | y = 0); a group without positives has a TPR of 0 and
  one without negatives an FPR of 0, as Fairlearn's rates come from scikit-learn's
  ``confusion_matrix(normalize="true")``, which writes 0 for an empty row (each such
  group is named in ``warnings``);
* demographic parity difference: max − min of the groups' selection rates; ratio:
  min / max;
* equalized-odds difference: the larger of the TPR difference and the FPR difference;
  ratio: the smaller of the TPR ratio and the FPR ratio.

Groups are each sensitive column's values and, when several columns are given, the
combinations of their values that occur (Fairlearn's groups for a multi-column
``sensitive_features``). The top-level numbers are those of the intersection (of the
one column, when only one is given); each column's own numbers are in ``by_feature``.
Each top-level number has a seeded percentile bootstrap interval over the same
resamples as the evaluation (``scoring.bootstrap``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

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
from assay.scoring import bootstrap as boot
from assay.scoring.bootstrap import Bootstrap
from assay.scoring.metrics import METRICS, Predictions

if TYPE_CHECKING:
    from assay.models import Model
    from assay.store import Store

__all__ = [
    "DISPARITIES",
    "Disparity",
    "FairnessCode",
    "FairnessReport",
    "Group",
    "fairness",
    "fairness_from_predictions",
]

DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)
DEFAULT_METRICS = ("accuracy", "precision", "recall", "f1")
RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
SMALL_GROUP = 30  # rows under which a group's rates are too noisy to read alone
JOIN = " & "  # between sensitive columns in the name of their intersection


class FairnessCode(ReasonCode):
    """Why a fairness report failed a threshold, or what to read with care."""

    ABOVE_MAX = "above_max"
    BELOW_MIN = "below_min"
    UNDEFINED = "undefined"  # a thresholded number that is undefined (no data for it)
    SMALL_GROUP = "small_group"
    LEFT_OUT = "left_out"  # a group under min_group_rows, left out of the disparities
    UNDEFINED_RATE = "undefined_rate"  # a group without positives (TPR) or negatives (FPR)


@dataclass(frozen=True)
class Group:
    """One group's count, metrics and rates; ``feature`` is its column (or the columns
    joined by `` & `` for an intersection), ``values`` the value of each column."""

    feature: str
    values: dict[str, Any]
    count: int
    metrics: dict[str, float | None]
    selection_rate: float | None
    true_positive_rate: float | None
    false_positive_rate: float | None

    @property
    def name(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.values.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "values": self.values,
            "count": self.count,
            "metrics": self.metrics,
            "selection_rate": self.selection_rate,
            "true_positive_rate": self.true_positive_rate,
            "false_positive_rate": self.false_positive_rate,
        }


@dataclass(frozen=True)
class Disparity:
    """One between-groups number, with its bootstrap interval (None when undefined)."""

    name: str
    value: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Note:
    """A failed threshold or something to read with care, with its reason code."""

    code: FairnessCode
    message: str


@dataclass(frozen=True)
class FairnessReport(Judged):
    """Per-group metrics and rates, and the between-groups disparities with intervals."""

    model: str
    rows: int
    label: str
    positive: Any
    sensitive: tuple[str, ...]
    overall: dict[str, float | None]
    groups: tuple[Group, ...]
    by_feature: dict[str, dict[str, Disparity]]
    failures: tuple[Note, ...] = ()
    warnings: tuple[Note, ...] = ()
    bootstrap: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[dict[str, Any], ...] = ()
    min_group_rows: int = 0

    @property
    def feature(self) -> str:
        """The grouping the top-level numbers are about: the intersection, or the column."""
        return JOIN.join(self.sensitive)

    @property
    def disparities(self) -> dict[str, Disparity]:
        return self.by_feature[self.feature]

    def value(self, name: str) -> float | None:
        """A top-level number by name (what a spec's threshold reads)."""
        if name not in DISPARITIES:
            raise UsageError(f"no fairness number {name!r}; use one of: {', '.join(DISPARITIES)}")
        return self.disparities[name].value

    def summary(self) -> str:
        d = self.disparities
        dpd, eod = d["demographic_parity_difference"].value, d["equalized_odds_difference"].value
        text = (
            f"{len(self.groups)} groups over {self.feature}, {self.rows:,} rows: "
            f"demographic parity difference {_fmt(dpd)}, equalized-odds difference {_fmt(eod)}"
        )
        if self.failures:
            text += f"; {len(self.failures)} threshold(s) failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "model": self.model,
            "rows": self.rows,
            "label": self.label,
            "positive": self.positive,
            "sensitive": list(self.sensitive),
            "feature": self.feature,
        }
        for name, d in self.disparities.items():
            out[name] = d.value
        out["intervals"] = {
            name: None if d.interval is None else list(d.interval)
            for name, d in self.disparities.items()
        }
        out["by_feature"] = {
            feature: {
                name: {
                    "value": d.value,
                    "interval": None if d.interval is None else list(d.interval),
                }
                for name, d in ds.items()
            }
            for feature, ds in self.by_feature.items()
        }
        out["overall"] = self.overall
        out["groups"] = [g.to_dict() for g in self.groups]
        out["failures"] = [{"code": str(n.code), "message": n.message} for n in self.failures]
        out["warnings"] = [{"code": str(n.code), "message": n.message} for n in self.warnings]
        out["thresholds"] = list(self.thresholds)
        out["min_group_rows"] = self.min_group_rows
        out["bootstrap"] = self.bootstrap
        return out


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


# -- the computation ------------------------------------------------------------------


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Each value's position among the sorted distinct values (nulls last)."""
    levels = sorted(set(values), key=lambda v: (v is None, v))
    index = {v: i for i, v in enumerate(levels)}
    return np.array([index[v] for v in values], dtype=np.int64), levels


def _rates(
    codes: np.ndarray, k: int, chosen: np.ndarray, y1: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    """Per resample (row of ``w``) and group: selection rate, TPR and FPR. A group with
    no rows in a resample is absent (NaN); one without positives (negatives) has a TPR
    (FPR) of 0, as in Fairlearn."""
    onehot = np.zeros((len(codes), k))
    onehot[np.arange(len(codes)), codes] = 1.0
    count = w @ onehot
    positives = w @ (onehot * y1[:, None])
    negatives = count - positives
    selected = w @ (onehot * chosen[:, None])
    tp = w @ (onehot * (chosen & y1)[:, None])
    fp = selected - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "selection_rate": np.where(count > 0, selected / count, np.nan),
            "true_positive_rate": np.where(
                positives > 0, tp / positives, np.where(count > 0, 0.0, np.nan)
            ),
            "false_positive_rate": np.where(
                negatives > 0, fp / negatives, np.where(count > 0, 0.0, np.nan)
            ),
        }


def _between(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max − min and min / max over the groups (columns), skipping undefined rates."""
    defined = np.isfinite(rates)
    any_ = defined.any(axis=1)
    hi = np.where(any_, np.max(np.where(defined, rates, -np.inf), axis=1), np.nan)
    lo = np.where(any_, np.min(np.where(defined, rates, np.inf), axis=1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1), np.nan)
    return hi - lo, ratio


def _disparities(r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    dpd, dpr = _between(r["selection_rate"])
    tpr_d, tpr_r = _between(r["true_positive_rate"])
    fpr_d, fpr_r = _between(r["false_positive_rate"])
    with np.errstate(invalid="ignore"):
        return {
            "demographic_parity_difference": dpd,
            "demographic_parity_ratio": dpr,
            "equalized_odds_difference": np.maximum(tpr_d, fpr_d),
            "equalized_odds_ratio": np.minimum(tpr_r, fpr_r),
        }


def _point(metric: str, p: Predictions) -> float | None:
    m = METRICS[metric]
    if len(p.y) == 0 or (m.needs_proba and p.proba is None):
        return None
    if metric == "roc_auc" and len(np.unique(p.y)) < 2:
        return None
    try:
        value = float(m.point(p))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def fairness_from_predictions(
    p: Predictions,
    sensitive: Mapping[str, Sequence[Any]],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    bootstrap: Bootstrap | Mapping[str, Any] | None = None,
    thresholds: Sequence[Mapping[str, Any]] = (),
    min_group_rows: int = 0,
    model: str = "",
    label: str = "",
) -> FairnessReport:
    """The fairness report of binary predictions ``p`` over the ``sensitive`` columns
    (name → one value per row). ``thresholds`` are ``{metric, max}`` / ``{metric, min}``
    on the top-level numbers, judged on the point estimate. Groups of fewer than
    ``min_group_rows`` rows are reported but left out of the between-groups numbers
    (0, the default, keeps every group, as Fairlearn does)."""
    settings, checked = _options(metrics, bootstrap, thresholds, min_group_rows)
    if not sensitive:
        raise UsageError("name at least one sensitive column (--sensitive COL)")
    n = len(p.y)
    chosen, y1 = p.label == 1, p.y == 1
    codes, levels = {}, {}
    for name, values in sensitive.items():
        if len(values) != n:
            raise UsageError(f"sensitive column {name!r} has {len(values)} values for {n} rows")
        codes[name], levels[name] = _codes(list(values))
    groupings: dict[str, tuple[np.ndarray, list[dict[str, Any]]]] = {
        name: (codes[name], [{name: v} for v in levels[name]]) for name in sensitive
    }
    names = list(sensitive)
    if len(names) > 1:
        stacked = np.stack([codes[c] for c in names], axis=1)
        combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
        groupings[JOIN.join(names)] = (
            inverse.reshape(-1),
            [{c: levels[c][int(i)] for c, i in zip(names, row, strict=True)} for row in combos],
        )
    groups: list[Group] = []
    by_feature: dict[str, dict[str, Disparity]] = {}
    warnings: list[Note] = []
    ones = np.ones((1, n))
    for feature, (gcodes, gvalues) in groupings.items():
        k = len(gvalues)
        point_rates = _rates(gcodes, k, chosen, y1, ones)
        # Groups too small to judge are left out of every between-groups number.
        kept = np.bincount(gcodes, minlength=k) >= min_group_rows
        point = _disparities({r: v[:, kept] for r, v in point_rates.items()})
        samples: dict[str, list[np.ndarray]] = {d: [] for d in DISPARITIES}
        for w in boot.resamples(n, settings.samples, settings.seed, "fairness", feature):
            drawn_rates = _rates(gcodes, k, chosen, y1, w)
            for d, drawn in _disparities({r: v[:, kept] for r, v in drawn_rates.items()}).items():
                samples[d].append(drawn)
        by_feature[feature] = {
            d: Disparity(
                d,
                _none(point[d][0]),
                boot.interval(np.concatenate(samples[d]), settings.confidence)
                if samples[d]
                else None,
            )
            for d in DISPARITIES
        }
        for g, group_values in enumerate(gvalues):
            mask = gcodes == g
            sub = p.subset(mask)
            group = Group(
                feature,
                group_values,
                int(mask.sum()),
                {m: _point(m, sub) for m in metrics},
                *(_none(point_rates[r][0, g]) for r in RATES),
            )
            groups.append(group)
            if not kept[g]:
                warnings.append(
                    Note(
                        FairnessCode.LEFT_OUT,
                        f"group {group.name} has {group.count} rows (under min_group_rows "
                        f"{min_group_rows}): left out of the between-groups numbers",
                    )
                )
            elif group.count < SMALL_GROUP:
                warnings.append(
                    Note(
                        FairnessCode.SMALL_GROUP,
                        f"group {group.name} has {group.count} rows (under {SMALL_GROUP}): "
                        "its rates are noisy",
                    )
                )
            positives = int(y1[mask].sum())
            for missing, rate in [("positives", positives), ("negatives", group.count - positives)]:
                if rate == 0:
                    kind = "true" if missing == "positives" else "false"
                    warnings.append(
                        Note(
                            FairnessCode.UNDEFINED_RATE,
                            f"group {group.name} has no {missing}: its {kind}-positive rate "
                            "is undefined and counts as 0, as in Fairlearn",
                        )
                    )
    overall_p = _rates(np.zeros(n, dtype=np.int64), 1, chosen, y1, ones)
    overall: dict[str, float | None] = {"count": float(n)}
    overall |= {m: _point(m, p) for m in metrics}
    overall |= {r: _none(overall_p[r][0, 0]) for r in RATES}
    report = FairnessReport(
        model=model,
        rows=n,
        label=label,
        positive=p.classes[1] if len(p.classes) > 1 else 1,
        sensitive=tuple(names),
        overall=overall,
        groups=tuple(groups),
        by_feature=by_feature,
        warnings=tuple(warnings),
        bootstrap=settings.model_dump(),
        thresholds=tuple(checked),
        min_group_rows=min_group_rows,
    )
    return _judge(report, checked)


def _options(
    metrics: Sequence[str],
    bootstrap: Bootstrap | Mapping[str, Any] | None,
    thresholds: Sequence[Mapping[str, Any]],
    min_group_rows: int,
) -> tuple[Bootstrap, list[dict[str, Any]]]:
    """The options, checked before anything is predicted: bootstrap settings, thresholds."""
    settings = _bootstrap(bootstrap)
    if (
        isinstance(min_group_rows, bool)
        or not isinstance(min_group_rows, int)
        or min_group_rows < 0
    ):
        raise UsageError(
            f"min_group_rows {min_group_rows!r} must be a whole number of rows, 0 or more"
        )
    for m in metrics:
        if m not in METRICS or "binary" not in METRICS[m].tasks:
            fits = ", ".join(n for n, x in METRICS.items() if "binary" in x.tasks)
            raise UsageError(f"metric {m!r} does not apply to binary classifiers; use: {fits}")
    return settings, [_threshold(t) for t in thresholds]


def _bootstrap(settings: Bootstrap | Mapping[str, Any] | None) -> Bootstrap:
    if settings is None:
        return Bootstrap.model_validate({})
    if isinstance(settings, Bootstrap):
        return settings
    from pydantic import ValidationError

    try:
        return Bootstrap.model_validate(dict(settings))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UsageError(f"bootstrap {where}: {first['msg']}") from None


def _threshold(t: Mapping[str, Any]) -> dict[str, Any]:
    """A threshold ``{metric, max?, min?}`` on a top-level number, checked."""
    metric = t.get("metric")
    if metric not in DISPARITIES:
        raise UsageError(
            f"threshold on {metric!r}: not a fairness number; use one of: {', '.join(DISPARITIES)}"
        )
    if extra := set(t) - {"metric", "max", "min"}:
        raise UsageError(f"threshold on {metric}: unknown key(s) {sorted(extra)}; use max or min")
    bounds = {k: t[k] for k in ("max", "min") if t.get(k) is not None}
    if not bounds:
        raise UsageError(f"threshold on {metric}: give a max or a min")
    for k, v in bounds.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise UsageError(f"threshold on {metric}: {k} {v!r} is not a finite number")
    return {"metric": metric, **{k: float(v) for k, v in bounds.items()}}


def _judge(report: FairnessReport, thresholds: list[dict[str, Any]]) -> FairnessReport:
    from dataclasses import replace

    failures: list[Note] = []
    for t in thresholds:
        name = t["metric"]
        value = report.value(name)
        if value is None:
            failures.append(Note(FairnessCode.UNDEFINED, f"{name} is undefined on this data"))
            continue
        if "max" in t and value > t["max"]:
            failures.append(
                Note(FairnessCode.ABOVE_MAX, f"{name} {value:.4f} is above the max {t['max']:g}")
            )
        if "min" in t and value < t["min"]:
            failures.append(
                Note(FairnessCode.BELOW_MIN, f"{name} {value:.4f} is below the min {t['min']:g}")
            )
    return replace(report, failures=tuple(failures))


def fairness(
    model: Model | str,
    data: Any,
    *,
    sensitive: Sequence[str],
    label: str | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    bootstrap: Bootstrap | Mapping[str, Any] | None = None,
    thresholds: Sequence[Mapping[str, Any]] = (),
    min_group_rows: int = 0,
    store: Store | None = None,
) -> FairnessReport:
    """How ``model`` (a ``Model`` or ``NAME@REF``) treats the groups of the ``sensitive``
    columns of ``data`` (a dataset version, an Arrow table, a DataFrame, or text naming
    data: ``recipe.yaml[:split]``, a fingerprint, a file, ``log:EXPERIMENT``).

    ``label`` defaults to the dataset's label column. The model must be a binary
    classifier; its second class is the positive one (scikit-learn's order).
    """
    named = as_data(data, store)
    table, key = named.table, named.key
    _options(metrics, bootstrap, thresholds, min_group_rows)  # fail before predicting
    sensitive = list(dict.fromkeys(sensitive))
    if not sensitive:
        raise UsageError("name at least one sensitive column (--sensitive COL)")
    check_columns(table, sensitive, "sensitive")
    label_col = label_column(table, label, named.label)
    if label_col in sensitive:
        raise UsageError(f"{label_col!r} is the label; a sensitive column must be another one")
    loaded = resolve_model(model, store)
    columns = input_columns(loaded, table, label_col, key)
    frame = table.select(columns).to_pandas()
    y_raw = table.column(label_col).to_numpy(zero_copy_only=False)
    p = classifier_predictions(loaded, frame, y_raw, binary=True, source="the data")
    return fairness_from_predictions(
        p,
        {c: table.column(c).to_pylist() for c in sensitive},
        metrics=metrics,
        bootstrap=bootstrap,
        thresholds=thresholds,
        min_group_rows=min_group_rows,
        model=loaded.info.ref,
        label=label_col,
    )
