"""What-if probing of registered models on a dataset version (the dashboard's what-if).

    predict(store, ["employment@production", "employment@2"], row)
    counterfactual(store, "employment@production", "3f2a…", row)
    partial_dependence(store, "employment@production", "3f2a…", "AGEP")

The counterfactual's distance between a row ``r`` and the probed row ``x`` is
``sum(|x_i - r_i| / std_i)`` over numeric features (the standard deviation over the
version; a constant column counts 0) plus the number of other features that differ.
Partial dependence is the brute-force average of scikit-learn's
``sklearn.inspection.partial_dependence(method="brute")``: for each grid value, the
feature is set to it in every row and the model's answers are averaged (the positive
class's probability for a binary classifier, the answer for a regressor).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from assay.errors import UsageError
from assay.models.registry import Model, load_version, resolve_ref

if TYPE_CHECKING:
    import pandas as pd

    from assay.data.compose import DatasetVersion
    from assay.store import Store

__all__ = [
    "GRID_POINTS",
    "MAX_ROWS",
    "Counterfactual",
    "PartialDependence",
    "Prediction",
    "counterfactual",
    "distances",
    "features_of",
    "partial_dependence",
    "predict",
]

#: Grid points of a partial dependence: every value when a feature has this many or
#: fewer, else evenly spaced between its 5th and 95th percentiles (scikit-learn's way),
#: rounded to whole numbers (and deduplicated) for an integer feature.
GRID_POINTS = 20
#: Rows a partial dependence averages over: a seeded sample of a larger version.
MAX_ROWS = 5000


@dataclass(frozen=True)
class Prediction:
    """One model's answer for the probed row."""

    model: str  # NAME@VERSION, resolved
    output: Any  # the predicted label or value
    proba: dict[str, float] | None  # class -> probability, where the model has them

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output": self.output, "proba": self.proba}


@dataclass(frozen=True)
class Counterfactual:
    """The closest row of a version that the model answers differently."""

    model: str
    version: str
    prediction: Any  # the model's answer for the probed row
    output: Any  # its answer for ``row``
    row: dict[str, Any]
    index: int  # the row's position in the version
    distance: float
    changed: list[str]  # the features where ``row`` differs from the probed row

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "prediction": self.prediction,
            "output": self.output,
            "row": self.row,
            "index": self.index,
            "distance": self.distance,
            "changed": self.changed,
            "metric": "sum of |difference|/std over numeric features + mismatches on others",
        }


@dataclass(frozen=True)
class PartialDependence:
    """A model's average answer as one feature sweeps a grid, overall and per slice."""

    model: str
    version: str
    feature: str
    target: str  # what is averaged: "P(<class>)" or "prediction"
    grid: list[Any]
    overall: list[float]
    slices: dict[str, list[float]] = field(default_factory=dict)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "feature": self.feature,
            "target": self.target,
            "grid": self.grid,
            "overall": self.overall,
            "slices": self.slices,
            "rows": self.rows,
        }


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (numpy scalars to Python, NaN to None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def features_of(model: Model, version: DatasetVersion | None = None) -> list[str]:
    """The columns ``model`` reads: its signature's, else the version's less key and label."""
    signature = model.signature
    if signature is not None and signature.columns:
        return [c.name for c in signature.columns]
    if version is None:
        raise UsageError(
            f"model {model.info.ref} has no signature; register it with a sample "
            "so that its input columns are known"
        )
    info = version.dataset
    return [c for c in version.table.column_names if c not in info.key and c != info.label]


def _answer(model: Model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    outputs = np.asarray(model.predict(frame))
    proba = np.asarray(model.predict_proba(frame)) if model.has_proba else None
    return outputs, proba


def _classes(model: Model) -> list[Any] | None:
    classes = getattr(model.raw, "classes_", None)
    return None if classes is None else [_plain(c) for c in classes]


def _model(store: Store, ref: str) -> Model:
    """The model ``ref`` names, loaded once a process per version: a page asks the same
    one or two models at every edit (an alias is resolved each time: it may move)."""
    info = resolve_ref(store, ref)
    key = (store.url, info.ref, info.sha256)
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = load_version(store, info)
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    return model


_MODELS: OrderedDict[tuple[str, str, str | None], Model] = OrderedDict()
_MODELS_LOCK = threading.Lock()  # the dashboard asks from its worker threads
_MODELS_KEPT = 8


def _one_row(row: dict[str, Any], features: list[str], model: Model) -> pd.DataFrame:
    import pandas as pd

    missing = [f for f in features if f not in row]
    if missing:
        raise UsageError(
            f"the row has no {missing[0]!r}, which model {model.info.ref} reads; "
            f"give every feature: {', '.join(features)}"
        )
    return pd.DataFrame([{f: row[f] for f in features}])


def predict(store: Store, models: list[str], row: dict[str, Any]) -> list[Prediction]:
    """Each model's answer (and class probabilities) for ``row``, in the order given."""
    if not models:
        raise UsageError("no model to ask; give one or more NAME@REF")
    out: list[Prediction] = []
    for ref in models:
        model = _model(store, ref)
        outputs, proba = _answer(model, _one_row(row, features_of(model), model))
        classes = _classes(model)
        probabilities = None
        if proba is not None:
            names = classes if classes is not None else list(range(proba.shape[1]))
            probabilities = {str(c): float(p) for c, p in zip(names, proba[0], strict=True)}
        out.append(Prediction(model.info.ref, _plain(outputs[0]), probabilities))
    return out


def _version(store: Store, version: str | DatasetVersion) -> DatasetVersion:
    from assay.data.compose import DatasetVersion, load_version

    if isinstance(version, DatasetVersion):
        return version
    return load_version(version, store=store)


def _check_columns(features: list[str], table: pa.Table, model: Model, version: str) -> None:
    missing = [f for f in features if f not in table.column_names]
    if missing:
        raise UsageError(
            f"version {version[:12]} has no column {missing[0]!r}, which model "
            f"{model.info.ref} reads; pick a version of the data it was trained on"
        )


def _is_numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def distances(
    frame: pd.DataFrame, row: dict[str, Any], types: dict[str, pa.DataType]
) -> np.ndarray:
    """The distance of each row of ``frame`` to ``row`` (the module docstring's metric)."""
    total = np.zeros(len(frame))
    for name, t in types.items():
        column = frame[name]
        if _is_numeric(t):
            values = column.to_numpy(dtype=float)
            std = float(np.nanstd(values))
            if std > 0:
                total += np.abs(values - float(row[name])) / std
        else:
            total += (column.astype(object) != row[name]).to_numpy(dtype=float)
    return total


def counterfactual(
    store: Store, model: str, version: str | DatasetVersion, row: dict[str, Any]
) -> Counterfactual:
    """The row of ``version`` (a fingerprint, a unique prefix, or a loaded version)
    closest to ``row`` that ``model`` answers differently
    (ties: the first in the version's order); ``UsageError`` when every row gets the
    same answer."""
    loaded = _model(store, model)
    data = _version(store, version)
    features = features_of(loaded, data)
    table = data.table
    _check_columns(features, table, loaded, data.fingerprint)
    frame = table.select(features).to_pandas()
    probed = _plain(np.asarray(loaded.predict(_one_row(row, features, loaded)))[0])
    outputs = np.asarray(loaded.predict(frame))
    other = np.flatnonzero(outputs != probed)
    if other.size == 0:
        raise UsageError(
            f"model {loaded.info.ref} answers {probed!r} for every row of version "
            f"{data.short}; there is no counterfactual to find"
        )
    types = {f: table.schema.field(f).type for f in features}
    # Standardised by the whole version's spread, not only the other-answer rows'.
    d = distances(frame, row, types)[other]
    best = int(other[int(np.argmin(d))])
    found = {f: _plain(v) for f, v in frame.iloc[best].items()}
    return Counterfactual(
        model=loaded.info.ref,
        version=data.fingerprint,
        prediction=probed,
        output=_plain(outputs[best]),
        row=found,
        index=best,
        distance=float(d.min()),
        changed=[f for f in features if found[f] != row[f]],
    )


def grid_of(values: np.ndarray, points: int = GRID_POINTS) -> np.ndarray:
    """The grid a partial dependence sweeps (see ``GRID_POINTS``)."""
    unique = np.unique(values[~np.isnan(values)]) if values.dtype.kind == "f" else np.unique(values)
    if len(unique) <= points:
        return unique
    low, high = np.percentile(values.astype(float), [5, 95])
    grid = np.linspace(low, high, points)
    if values.dtype.kind in "iu":
        # Whole numbers for a whole-number feature: the model never sees 23.4 years.
        return np.unique(np.round(grid)).astype(values.dtype)
    return grid


def _average(model: Model, frame: pd.DataFrame, feature: str, grid: np.ndarray) -> list[float]:
    import pandas as pd

    if frame.empty:
        return []
    # One call over every grid value at once: len(grid) copies of the rows.
    swept = pd.concat([frame] * len(grid), ignore_index=True)
    swept[feature] = np.repeat(grid, len(frame)).astype(frame[feature].to_numpy().dtype, copy=False)
    if model.has_proba:
        answers = np.asarray(model.predict_proba(swept))
        answers = answers[:, 1] if answers.shape[1] == 2 else answers.max(axis=1)
    else:
        answers = np.asarray(model.predict(swept), dtype=float)
    return [float(v) for v in answers.reshape(len(grid), len(frame)).mean(axis=1)]


def partial_dependence(
    store: Store,
    model: str,
    version: str | DatasetVersion,
    feature: str,
    *,
    points: int = GRID_POINTS,
) -> PartialDependence:
    """``model``'s partial dependence on ``feature`` over ``version``, overall and in
    each slice of the version's recipe (rows beyond ``MAX_ROWS``: a seeded sample)."""
    loaded = _model(store, model)
    data = _version(store, version)
    features = features_of(loaded, data)
    if feature not in features:
        raise UsageError(
            f"model {loaded.info.ref} does not read {feature!r}; pick one of {', '.join(features)}"
        )
    table = data.table
    _check_columns(features, table, loaded, data.fingerprint)
    if not _is_numeric(table.schema.field(feature).type):
        raise UsageError(f"feature {feature!r} is not numeric; partial dependence sweeps numbers")
    keep = np.arange(table.num_rows)
    if table.num_rows > MAX_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(table.num_rows, MAX_ROWS, replace=False))
    frame = table.take(pa.array(keep)).select(features).to_pandas()
    grid = grid_of(frame[feature].to_numpy(), points)
    classes = _classes(loaded)
    if loaded.has_proba:
        target = f"P({classes[1] if classes and len(classes) == 2 else 'top class'})"
    else:
        target = "prediction"
    slices: dict[str, list[float]] = {}
    position = {int(k): j for j, k in enumerate(keep)}
    for name in data.recipe.slices:
        inside = [position[i] for i in _slice_rows(data, name) if i in position]
        part = frame.iloc[inside]
        slices[name] = list(_average(loaded, part, feature, grid))
    return PartialDependence(
        model=loaded.info.ref,
        version=data.fingerprint,
        feature=feature,
        target=target,
        grid=[_plain(g) for g in grid],
        overall=_average(loaded, frame, feature, grid),
        slices=slices,
        rows=len(frame),
    )


def _slice_rows(data: DatasetVersion, name: str) -> list[int]:
    """The positions in the version's table of the rows in slice ``name`` (by key)."""
    key = list(data.dataset.key)
    if not key:
        raise UsageError(f"dataset {data.dataset.name!r} has no key; slices need one to match rows")
    members = data.to_arrow(slice=name)
    wanted = set(zip(*(members.column(k).to_pylist() for k in key), strict=True))
    keys = zip(*(data.table.column(k).to_pylist() for k in key), strict=True)
    return [i for i, k in enumerate(keys) if k in wanted]
