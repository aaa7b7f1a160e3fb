"""A model's answers on a table, for the diagnostics that judge a model (fairness,
importance): which columns go in, the label column, and ``Predictions`` built the way
the evaluation builds them (labels as class positions, in the model's class order).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from assay.errors import UsageError
from assay.scoring.metrics import Predictions, task_of

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.models import Model
    from assay.store import Store

_HEX = re.compile(r"[0-9a-fA-F]{6,64}")
_SPLIT = re.compile(r":[^/:]+$")  # a trailing :split


@dataclass(frozen=True)
class Data:
    """Rows to judge a model on, and what their dataset declares (when known)."""

    table: pa.Table
    label: str | None = None
    key: tuple[str, ...] = ()
    slices: dict[str, Any] = field(default_factory=dict)  # the recipe's, by name
    fingerprint: str | None = None  # the dataset version's, when the rows are one


def as_data(data: Any, store: Store | None = None) -> Data:
    """``data`` as rows with its dataset's label, key and recipe slices (when it has them).

    ``data`` is a ``DatasetVersion``, an Arrow table, a pandas DataFrame, or text naming
    data as ``read_input`` reads it (a recipe or a fingerprint, each with an optional
    ``:split``, a data file, or ``log:EXPERIMENT``).
    """
    from assay.data.compose import DatasetVersion

    if isinstance(data, Data):
        return data
    if isinstance(data, DatasetVersion):
        return Data(
            data.table,
            data.dataset.label,
            tuple(data.dataset.key),
            _slices(data),
            data.fingerprint,
        )
    if isinstance(data, pa.Table):
        return Data(data)
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return Data(pa.Table.from_pandas(data, preserve_index=False))
    if isinstance(data, str | os.PathLike):
        return _named(os.fspath(data), store)
    raise UsageError(
        f"data of type {type(data).__name__} is not a dataset version, an Arrow table, a "
        "DataFrame or a name of data; pass one of those"
    )


def _slices(version: DatasetVersion) -> dict[str, Any]:
    return dict(version.recipe.slice_exprs())


def _named(text: str, store: Store | None) -> Data:
    """The rows ``text`` names; for a recipe or a fingerprint, also its dataset's label,
    key and slices (read from the recipe and the catalog, not composed twice)."""
    from assay.data.compose import find_version, resolve_version
    from assay.data.recipe import load_recipe
    from assay.diagnostics.inputs import read_input
    from assay.store import open_store

    own = store is None
    opened = store or open_store()
    try:
        table = read_input(text, opened)
        name = text.strip()
        head = name.rpartition(":")[0] if _SPLIT.search(name) else name
        if head.lower().endswith((".yaml", ".yml")):
            recipe = load_recipe(head)
            info = opened.catalog.get_dataset(recipe.dataset)
            # Resolving reads no rows: the fingerprint of the version read_input composed.
            fingerprint = resolve_version(recipe, store=opened).fingerprint
            return Data(table, info.label, tuple(info.key), dict(recipe.slice_exprs()), fingerprint)
        if _HEX.fullmatch(name.partition(":")[0]):
            version = find_version(name.partition(":")[0], store=opened)
            info = version.dataset
            return Data(table, info.label, tuple(info.key), _slices(version), version.fingerprint)
        return Data(table)
    finally:
        if own:
            opened.close()


def resolve_model(model: Model | str, store: Store | None) -> Model:
    """``model`` itself, or the registered model a ``NAME@REF`` string names."""
    if isinstance(model, str):
        from assay.models.registry import load_model

        return load_model(model, store=store)
    return model


def label_column(table: pa.Table, label: str | None, default: str | None) -> str:
    """The label column: ``label``, else the dataset's; an unknown name lists the columns."""
    chosen = label or default
    if chosen is None:
        raise UsageError("the data has no declared label column; name it with --label COL")
    if chosen not in table.column_names:
        raise UsageError(
            f"no label column {chosen!r} in the data (columns: {_names(table.column_names)}); "
            "name one with --label COL"
        )
    return chosen


def check_columns(table: pa.Table, columns: list[str], what: str) -> None:
    """A ``UsageError`` naming any of ``columns`` the table lacks, and the ones it has."""
    if missing := [c for c in columns if c not in table.column_names]:
        raise UsageError(
            f"no {what} column(s) {', '.join(map(repr, missing))} in the data "
            f"(columns: {_names(table.column_names)})"
        )


def input_columns(model: Model, table: pa.Table, label: str, key: tuple[str, ...]) -> list[str]:
    """The columns ``model`` is given: its signature's, or (for a model that reads
    columns by name) every column but the key, the label and assay's own."""
    signature = model.signature
    if signature is not None and signature.columns:
        named = [c.name for c in signature.columns]
        if missing := [c for c in named if c not in table.column_names]:
            raise UsageError(
                f"model {model.info.ref} needs column(s) {_names(missing)} that the data lacks"
            )
        return named
    if model.reads_names:
        never = {label, *key}
        return [c for c in table.column_names if c not in never and not c.startswith("_assay_")]
    raise UsageError(
        f"model {model.info.ref} takes an unnamed tensor, and nothing says which columns go "
        "in it; register it again with --sample FILE holding its input columns"
    )


def classifier_predictions(
    model: Model, frame: Any, y_raw: np.ndarray, *, binary: bool, source: str
) -> Predictions:
    """``model``'s answers on ``frame`` (the input columns) as class positions, aligned
    with the true labels ``y_raw``; a regressor (or, with ``binary``, a multiclass
    model) is a ``UsageError``."""
    task = task_of(y_raw)
    if task == "regression":
        raise UsageError(
            f"model {model.info.ref} is judged on a numeric label with many values; this "
            "diagnostic needs a classifier and a class label"
        )
    label = model.predict(frame, source=source)
    check_classes(model, label)
    proba = (
        np.asarray(model.predict_proba(frame, source=source), dtype=np.float64)
        if model.has_proba
        else None
    )
    known = getattr(model.raw, "classes_", None)
    classes = (
        list(np.asarray(known).tolist())
        if known is not None
        else sorted(set(np.unique(y_raw).tolist()) | set(np.unique(label).tolist()))
    )
    if binary and len(classes) > 2:
        raise UsageError(
            f"model {model.info.ref} has {len(classes)} classes; this diagnostic needs a "
            "binary classifier (the positive class is the second of two)"
        )
    index = {c: i for i, c in enumerate(classes)}
    if unknown := sorted({v for v in np.unique(y_raw).tolist() if v not in index}, key=repr):
        raise UsageError(
            f"model {model.info.ref} never predicts label value(s) {unknown[:5]} present in "
            "the data; check --label"
        )
    y = np.array([index[v] for v in y_raw.tolist()], dtype=np.int64)
    guess = np.array([index.get(v, -1) for v in label.tolist()], dtype=np.int64)
    return Predictions(
        "binary" if len(classes) <= 2 else "multiclass", y, guess, proba, tuple(classes)
    )


def check_classes(model: Model, answers: np.ndarray) -> None:
    """A ``UsageError`` when a model judged on a class label answers numbers that are
    no classes (a regressor): a fraction is never a class."""
    if answers.dtype.kind != "f":
        return
    finite = answers[np.isfinite(answers)]
    odd = finite[finite != np.round(finite)]
    if len(odd):
        raise UsageError(
            f"model {model.info.ref} answers numbers such as {odd[0]:.4g}, not classes; "
            "this diagnostic needs a classifier for a class label"
        )


def _names(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", … {len(columns) - limit} more" if len(columns) > limit else "")
