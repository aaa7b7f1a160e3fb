"""Staleness: how a model's metric moves over a sequence of dataset versions, and the
first version at which it crosses a line.

The same model is scored on each version (oldest first, for example one recipe per
year of deltas) with scikit-learn's metric, as the evaluation computes it, and a seeded
percentile bootstrap interval over the same resamples as the evaluation
(``scoring.bootstrap``, keyed by the version's fingerprint). A version *crosses* when
its point estimate is below ``min`` or above ``max``; the interval only says whether
the crossing is clear (``beyond``: the whole interval lies past the line too).

The report passes unless the newest version crosses (or its metric is undefined while a
line is drawn), or a threshold on its top-level numbers (``value(name)``) fails: an old
version that dipped and recovered is history, not a reason to retrain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.diagnostics._bounds import Bound, judge, parse_bounds
from assay.diagnostics._model import (
    as_data,
    classifier_predictions,
    input_columns,
    label_column,
    resolve_model,
)
from assay.errors import UsageError
from assay.results import Judged, ReasonCode
from assay.scoring import bootstrap as boot
from assay.scoring.bootstrap import Bootstrap
from assay.scoring.metrics import METRICS, Predictions, task_of

if TYPE_CHECKING:
    from assay.models import Model
    from assay.store import Store

__all__ = ["VALUES", "StalenessCode", "StalenessPoint", "StalenessReport", "staleness"]

VALUES = {
    "last": "the metric on the newest version",
    "first": "the metric on the oldest version",
    "min_value": "the lowest metric over the versions",
    "max_value": "the highest metric over the versions",
    "change": "the newest version's metric minus the oldest's",
    "versions_until_crossing": "versions before the first that crosses min/max "
    "(all of them when none does)",
}


class StalenessCode(ReasonCode):
    """Why a staleness report failed."""

    CROSSED = "crossed"  # the newest version's metric is past min/max
    ABOVE_MAX = "above_max"  # a threshold on a top-level number
    BELOW_MIN = "below_min"
    UNDEFINED = "undefined"  # a judged number has no value on this data


@dataclass(frozen=True)
class StalenessPoint:
    """The metric on one version: ``name`` as given (a recipe, a fingerprint, a file),
    ``fingerprint`` the version's (None for rows that are no version)."""

    name: str
    fingerprint: str | None
    rows: int
    value: float | None
    interval: tuple[float, float] | None
    crossed: bool
    beyond: bool | None  # the whole interval past the line too (None: no line or interval)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "value": self.value,
            "interval": None if self.interval is None else list(self.interval),
            "crossed": self.crossed,
            "beyond": self.beyond,
        }


@dataclass(frozen=True)
class Failure:
    """Why the report failed, with its reason code."""

    code: StalenessCode
    message: str


@dataclass(frozen=True)
class StalenessReport(Judged):
    """The metric per version (oldest first) with intervals, and where it crosses."""

    model: str
    metric: str
    label: str
    points: tuple[StalenessPoint, ...]
    min: float | None = None
    max: float | None = None
    failures: tuple[Failure, ...] = ()
    bootstrap: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[dict[str, Any], ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric].higher_is_better

    @property
    def first_crossing(self) -> int | None:
        """The position (0 = oldest) of the first version that crosses, or None."""
        return next((i for i, p in enumerate(self.points) if p.crossed), None)

    def value(self, name: str) -> float | None:
        """A top-level number by name (what a threshold reads); see ``VALUES``."""
        defined = [p.value for p in self.points if p.value is not None]
        first, last = self.points[0].value, self.points[-1].value
        if name == "last":
            return last
        if name == "first":
            return first
        if name == "min_value":
            return min(defined) if defined else None
        if name == "max_value":
            return max(defined) if defined else None
        if name == "change":
            return None if first is None or last is None else last - first
        if name == "versions_until_crossing":
            crossing = self.first_crossing
            return float(len(self.points) if crossing is None else crossing)
        raise UsageError(f"no staleness number {name!r}; use one of: {', '.join(VALUES)}")

    def line(self) -> str:
        """The line a version crosses, in words: ``min 0.78``, ``max 0.2`` or both."""
        parts = [f"min {self.min:g}"] if self.min is not None else []
        parts += [f"max {self.max:g}"] if self.max is not None else []
        return " and ".join(parts)

    def summary(self) -> str:
        first, last = self.points[0], self.points[-1]
        text = (
            f"{self.metric} over {len(self.points)} versions: {_fmt(first.value)} on "
            f"{first.name} → {_fmt(last.value)} on {last.name}"
        )
        if self.min is not None or self.max is not None:
            crossing = self.first_crossing
            text += (
                f"; never crosses {self.line()}"
                if crossing is None
                else f"; first crosses {self.line()} at version {crossing + 1} "
                f"({self.points[crossing].name})"
            )
        if self.failures:
            text += f"; {len(self.failures)} failure(s)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "summary": self.summary(),
            "model": self.model,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "label": self.label,
            "min": self.min,
            "max": self.max,
            **{name: self.value(name) for name in VALUES},
            "first_crossing": self.first_crossing,
            "points": [p.to_dict() for p in self.points],
            "failures": [{"code": str(f.code), "message": f.message} for f in self.failures],
            "thresholds": list(self.thresholds),
            "bootstrap": self.bootstrap,
        }


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


# -- the computation ------------------------------------------------------------------


def _options(
    metric: str,
    min_: float | None,
    max_: float | None,
    bootstrap: Bootstrap | Mapping[str, Any] | None,
    thresholds: Sequence[Mapping[str, Any] | Bound] | None,
) -> tuple[Bootstrap, list[Bound]]:
    """The options, checked before any model loads: the metric, the line, the bootstrap
    settings and the thresholds."""
    if metric not in METRICS:
        raise UsageError(f"metric {metric!r} is unknown; use one of: {', '.join(METRICS)}")
    for name, bound in (("min", min_), ("max", max_)):
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int | float) or not np.isfinite(bound)
        ):
            raise UsageError(f"staleness {name} {bound!r} is not a finite number")
    if min_ is not None and max_ is not None and min_ > max_:
        raise UsageError(f"staleness min {min_:g} is above max {max_:g}, so every version crosses")
    if isinstance(bootstrap, Bootstrap):
        settings = bootstrap
    else:
        from pydantic import ValidationError

        try:
            settings = Bootstrap.model_validate(dict(bootstrap or {}))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise UsageError(f"staleness bootstrap {where}: {first['msg']}") from None
    return settings, parse_bounds(thresholds, VALUES, "staleness")


def _name(data: Any, position: int) -> str:
    """How a version is named in the report: the text given, or its fingerprint."""
    if isinstance(data, str):
        return data.strip()
    fingerprint = getattr(data, "fingerprint", None)
    return str(fingerprint)[:12] if fingerprint else f"data #{position + 1}"


def _predictions(model: Model, frame: Any, y_raw: np.ndarray, metric: str) -> Predictions:
    """``model``'s answers on ``frame`` as the evaluation scores them for ``metric``; a
    metric of another task than the label's (mae of a class label) is a ``UsageError``."""
    m = METRICS[metric]
    task = task_of(y_raw)
    if task not in m.tasks and not (task == "binary" and "multiclass" in m.tasks):
        fits = ", ".join(n for n, x in METRICS.items() if task in x.tasks)
        raise UsageError(f"metric {metric!r} does not apply to a {task} label; use one of: {fits}")
    if task == "regression":
        label = np.asarray(model.predict(frame, source="the data"), dtype=np.float64)
        return Predictions(task, y_raw.astype(np.float64), label)
    p = classifier_predictions(model, frame, y_raw, binary=False, source="the data")
    if p.task not in m.tasks:
        fits = ", ".join(n for n, x in METRICS.items() if p.task in x.tasks)
        raise UsageError(f"metric {metric!r} does not apply to {p.task} models; use: {fits}")
    if m.needs_proba and p.proba is None:
        raise UsageError(f"metric {metric} needs probabilities, which model {model.info.ref} lacks")
    return p


def _point_value(metric: str, p: Predictions) -> float | None:
    m = METRICS[metric]
    if len(p.y) == 0:
        return None
    if metric == "roc_auc" and len(np.unique(p.y)) < 2:
        return None
    try:
        value = float(m.point(p))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _beyond(
    interval: tuple[float, float] | None, low: float | None, high: float | None
) -> bool | None:
    if interval is None or (low is None and high is None):
        return None
    return (low is not None and interval[1] < low) or (high is not None and interval[0] > high)


def staleness(
    model: Model | str,
    datasets: Sequence[Any],
    *,
    metric: str,
    min: float | None = None,  # the spec's word (no builtin min/max is used below)
    max: float | None = None,
    label: str | None = None,
    bootstrap: Bootstrap | Mapping[str, Any] | None = None,
    thresholds: Sequence[Mapping[str, Any] | Bound] | None = None,
    names: Sequence[str] | None = None,
    store: Store | None = None,
) -> StalenessReport:
    """``metric`` of ``model`` (a ``Model`` or ``NAME@REF``) on each of ``datasets``,
    oldest first (each a dataset version, an Arrow table, a DataFrame, or text naming
    data: ``recipe.yaml[:split]``, a fingerprint, a file, ``log:EXPERIMENT``), with
    bootstrap intervals, and the first version whose metric is below ``min`` or above
    ``max``. ``thresholds`` bound the top-level numbers (``VALUES``); ``label``
    defaults to each dataset's label column; ``names`` says how each version is called
    (default: the text given, else its fingerprint).
    """
    settings, bounds = _options(metric, min, max, bootstrap, thresholds)
    if isinstance(datasets, str | bytes) or not datasets:
        raise UsageError("give at least one dataset version to judge the model on, oldest first")
    if names is not None and len(names) != len(datasets):
        raise UsageError(f"{len(names)} names for {len(datasets)} datasets; give one name each")
    loaded = resolve_model(model, store)
    points: list[StalenessPoint] = []
    labels: list[str] = []
    for i, data in enumerate(datasets):
        named = as_data(data, store)
        name = names[i] if names is not None else _name(data, i)
        label_col = label_column(named.table, label, named.label)
        labels.append(label_col)
        columns = input_columns(loaded, named.table, label_col, named.key)
        frame = named.table.select(columns).to_pandas()
        y_raw = named.table.column(label_col).to_numpy(zero_copy_only=False)
        p = _predictions(loaded, frame, y_raw, metric)
        value = _point_value(metric, p)
        drawn = [
            METRICS[metric].weighted(p, w)
            for w in boot.resamples(
                len(p.y), settings.samples, settings.seed, "staleness", named.fingerprint or name
            )
        ]
        interval = boot.interval(np.concatenate(drawn), settings.confidence) if drawn else None
        crossed = value is not None and (
            (min is not None and value < min) or (max is not None and value > max)
        )
        points.append(
            StalenessPoint(
                name, named.fingerprint, len(p.y), value, interval, crossed,
                _beyond(interval, min, max) if crossed else None,
            )
        )  # fmt: skip
    report = StalenessReport(
        model=loaded.info.ref,
        metric=metric,
        label=labels[-1] if len(set(labels)) == 1 else ", ".join(dict.fromkeys(labels)),
        points=tuple(points),
        min=None if min is None else float(min),
        max=None if max is None else float(max),
        bootstrap=settings.model_dump(),
        thresholds=tuple(b.to_dict() for b in bounds),
    )
    return _judge(report, bounds)


def _judge(report: StalenessReport, bounds: list[Bound]) -> StalenessReport:
    """The report with its failures: the newest version past the line, broken thresholds."""
    from dataclasses import replace

    failures: list[Failure] = []
    newest = report.points[-1]
    if report.min is not None or report.max is not None:
        if newest.value is None:
            failures.append(
                Failure(
                    StalenessCode.UNDEFINED,
                    f"{report.metric} is undefined on the newest version ({newest.name})",
                )
            )
        elif newest.crossed:
            below = report.min is not None and newest.value < report.min
            line = f"below the min {report.min:g}" if below else f"above the max {report.max:g}"
            clear = " (its whole interval too)" if newest.beyond else ""
            failures.append(
                Failure(
                    StalenessCode.CROSSED,
                    f"{report.metric} {newest.value:.4f} on the newest version ({newest.name}) "
                    f"is {line}{clear}",
                )
            )
    failures += [
        Failure(StalenessCode(b.code.value), b.message) for b in judge(bounds, report.value)
    ]
    return replace(report, failures=tuple(failures))
