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

__all__ = ["ModelOutput", "model_output"]

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


def features(model: Model, version: DatasetVersion, exclude: set[str]) -> Any:
    """The version's rows as the model's input: its signature's columns, in order."""
    table = version.table
    signature = getattr(model, "signature", None)
    columns = getattr(signature, "columns", None)
    if columns:
        names = [c.name for c in columns]
    else:
        names = [n for n in table.column_names if n not in exclude]
    missing = [n for n in names if n not in table.column_names]
    if missing:
        from assay.errors import SpecError

        raise SpecError(
            "evaluation",
            [
                f"model {model.info.ref} needs column(s) {missing} that version {version.short} lacks"
            ],
        )
    return table.select(names).to_pandas()


def model_output(
    store: Store, model: Model, version: DatasetVersion, exclude: set[str]
) -> ModelOutput:
    """The model's answers on ``version``: from the cache, or computed and cached."""
    info = model.info
    found = store.catalog.find_predictions(info.name, info.version, version.fingerprint)
    if found is not None:
        table = pq.read_table(io.BytesIO(store.objects.get_bytes(found.object_key)))
        proba_cols = [c for c in table.column_names if c.startswith("p_")]
        proba = (
            np.column_stack([table.column(c).to_numpy() for c in proba_cols])
            if proba_cols
            else None
        )
        return ModelOutput(
            table.column("label").to_numpy(zero_copy_only=False), proba, found.classes, True
        )
    X = features(model, version, exclude)
    label = np.asarray(model.predict(X))
    proba = np.asarray(model.predict_proba(X), dtype=np.float64) if model.has_proba else None
    classes = _classes(model, proba, label)
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
