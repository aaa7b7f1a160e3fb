"""Predictions of a model version on a dataset version, computed once and cached.

The cache is a stored Parquet object per (model version, dataset fingerprint), in the
version's row order, named by the catalog (so ``gc`` keeps it and ``verify`` checks
it). A model version and a fingerprint each fix their bytes forever, so a cached
answer never goes stale.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.store.catalog import PredictionsInfo

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.models import Model
    from assay.store import Store

__all__ = ["Inputs", "ModelOutput", "model_inputs", "model_output", "never_inputs"]

PREFIX = "predictions"


@dataclass(frozen=True)
class ModelOutput:
    """A model's raw answers on every row of a dataset version, in the version's order."""

    label: np.ndarray  # what predict() returned
    proba: np.ndarray | None  # predict_proba(), when the model has it
    classes: tuple[Any, ...]  # the order of proba's columns
    cached: bool


def _classes(model: Model, proba: np.ndarray | None, label: np.ndarray) -> tuple[Any, ...]:
    raw = getattr(model, "raw", None)
    known = getattr(raw, "classes_", None)
    if known is not None:
        return tuple(np.asarray(known).tolist())
    if proba is not None:
        return tuple(range(proba.shape[1]))
    return ()


@dataclass(frozen=True)
class Inputs:
    """The dataset columns a model is given, in order; ``cacheable`` when the model
    version alone fixes them (not a spec's ``features:`` list, which may change)."""

    columns: tuple[str, ...]
    cacheable: bool


def never_inputs(version: DatasetVersion, label: str) -> set[str]:
    """Columns no model is given: the key, the label, the split and assay's own."""
    from assay.data.compose import SPLIT_COLUMN

    own = {c for c in version.table.column_names if c.startswith("_assay_")}
    return {*version.dataset.key, label, SPLIT_COLUMN, *own}


def model_inputs(
    model: Model,
    version: DatasetVersion,
    label: str,
    features: list[str] | None,
    where: str,
    problems: list[str],
    *,
    for_this_model: bool = True,
) -> Inputs | None:
    """Which of ``version``'s columns go into ``model``: its signature's, the spec's
    ``features`` list, or (for a model that reads columns by name) every column but the
    key, label and split. Anything ambiguous is a problem naming the columns and the fix;
    ``where`` says where in the spec (``models.candidate``). A list meant for every model
    (not ``for_this_model``) leaves alone a model whose signature names its columns."""
    ref, table = model.info.ref, version.table.column_names
    never = never_inputs(version, label)
    signature = model.signature
    named = [c.name for c in signature.columns] if signature and signature.columns else None
    if named is not None and not for_this_model:
        features = None
    found: list[str] = []
    if features is not None:
        at = f"features ({where.removeprefix('models.')})"
        if missing := [c for c in features if c not in table]:
            found.append(f"{at}: no column(s) {_names(missing)} in version {version.short}")
        if barred := [c for c in features if c in never]:
            found.append(f"{at}: {_barred(barred[0], version, label)}; remove it")
        if named is not None and set(features) != set(named):
            found.append(
                f"{at}: lists {_names(features)}, but model {ref} takes the columns its "
                f"signature names ({_names(named)}); make them match or drop `features`"
            )
        width = _width(model)
        if named is None and width is not None and width != len(features):
            found.append(
                f"{at}: {len(features)} columns, but model {ref} takes {width} per row; list "
                f"exactly its {width} input columns in order"
            )
        columns = named or features
    elif named is not None:
        if barred := [c for c in named if c in never]:
            found.append(
                f"{where}: model {ref}'s signature takes {_barred(barred[0], version, label)}; "
                "register it again with a --sample of its input columns only"
            )
        if missing := [c for c in named if c not in table]:
            found.append(
                f"{where}: model {ref} needs column(s) {_names(missing)} that version "
                f"{version.short} lacks"
            )
        columns = named
    elif model.reads_names:
        columns = [c for c in table if c not in never]
    else:
        candidates = [c for c in table if c not in never]
        tensor = f" {_shape(model)}" if _shape(model) else ""
        found.append(
            f"{where}: model {ref} takes an unnamed tensor{tensor}, and nothing says which "
            f"columns of version {version.short} go in it, in which order (candidates: "
            f"{_names(candidates)}); register it with --sample FILE holding its input "
            "columns, or list them under `features:` in the spec"
        )
        columns = []
    problems += found
    if found:
        return None
    return Inputs(tuple(columns), cacheable=features is None or named is not None)


def _names(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", … {len(columns) - limit} more" if len(columns) > limit else "")


def _barred(column: str, version: DatasetVersion, label: str) -> str:
    if column in version.dataset.key:
        what = "the key"
    elif column == label:
        what = "the label"
    elif column.startswith("_assay_"):
        what = "assay's own column"
    else:
        what = "the split column"
    return (
        f"{column!r}, {what} of dataset {version.dataset.name}; models are never given the "
        "key, the label or the split"
    )


def _width(model: Model) -> int | None:
    """The fixed row width of a model that takes a 2-D tensor, when it is known."""
    array = model.signature.array if model.signature else None
    if array is None or len(array.shape) != 2:
        return None
    return array.shape[1]


def _shape(model: Model) -> str:
    array = model.signature.array if model.signature else None
    if array is None:
        return ""
    return "[" + ", ".join("*" if d is None else str(d) for d in array.shape) + "]"


def model_output(
    store: Store, model: Model, version: DatasetVersion, inputs: Inputs, source: str
) -> ModelOutput:
    """The model's answers on every row of ``version``: from the cache, or computed (and
    cached when ``inputs`` allows). ``source`` names the data in a ``PredictError``."""
    info = model.info
    found = None
    cacheable = inputs.cacheable
    if cacheable:
        found = store.catalog.find_predictions(info.name, info.version, version.fingerprint)
    if found is not None and found.rows != version.table.num_rows:
        # Cached before answers were counted: predict again, so that the model's own
        # miscount is the error, and leave the recorded slot alone.
        found, cacheable = None, False
    if found is not None:
        from assay.store.verified import read_verified

        what = f"the cached predictions of model {info.ref} on version {version.short}"
        data = read_verified(store.objects, found.object_key, found.sha256, what)
        table = pq.read_table(io.BytesIO(data))
        proba_cols = [c for c in table.column_names if c.startswith("p_")]
        proba = (
            np.column_stack([table.column(c).to_numpy() for c in proba_cols])
            if proba_cols
            else None
        )
        return ModelOutput(
            table.column("label").to_numpy(zero_copy_only=False), proba, found.classes, True
        )
    X = version.table.select(list(inputs.columns)).to_pandas()
    label = model.predict(X, source=source)
    proba = None
    if model.has_proba:
        proba = np.asarray(model.predict_proba(X, source=source), dtype=np.float64)
    classes = _classes(model, proba, label)
    if not cacheable:
        return ModelOutput(label, proba, classes, False)
    columns: dict[str, Any] = {
        "label": pa.array(label.tolist() if label.dtype.kind == "O" else label)
    }
    for i in range(0 if proba is None else proba.shape[1]):
        columns[f"p_{i}"] = pa.array(proba[:, i])  # type: ignore[index]
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="zstd")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    key = f"{PREFIX}/{sha[:2]}/{sha}.parquet"
    if not store.objects.exists(key):
        store.objects.put_bytes(key, data)
    store.catalog.record_predictions(
        PredictionsInfo(
            model=info.name,
            model_version=info.version,
            fingerprint=version.fingerprint,
            object_key=key,
            sha256=sha,
            rows=len(label),
            classes=classes,
        )
    )
    return ModelOutput(label, proba, classes, False)
