"""Label issues: the rows whose given label a model confidently disagrees with, by
confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels").

From out-of-sample predicted probabilities ``p`` (rows × K classes) and the given
labels ``y``:

* **thresholds**: ``t_j`` = the mean of ``p_j`` over the rows labelled ``j`` (the class's
  average self-confidence), at least 2e-6;
* **confident joint** ``C`` (K × K, given × true): a row counts in ``C[y][j]`` when ``j``
  is the one class with ``p_j ≥ t_j − 1e-6``, or the most probable class when several
  pass; a row no class passes is left out. Each diagonal cell is at least 1. ``C`` is
  then calibrated: each row rescaled to the count of its given label, the whole to the
  number of rows, rounded keeping each row's total;
* **prune by noise rate** (the default rule): for each given class ``k`` and other class
  ``j``, the ``C[k][j]`` rows labelled ``k`` with the largest margin ``p_j − p_k`` are
  issues (``C`` first moved so that each class keeps at least one row: cleanlab's
  ``min_examples_per_class=1``);
* **prune by class**: the ``n_k − C[k][k]`` rows labelled ``k`` with the lowest ``p_k``;
* **both**: the rows both rules flag;
* a row whose most probable class is its given label (within 1e-6) is never an issue.

These are cleanlab's ``find_label_issues`` rules (cleanlab 2.9, ``filter_by``); the tests
hold the flagged set to cleanlab's on a stored fixture and the joint to a hand count.

Every issue is ranked by its **score**, the given label's quality, lowest (most likely
wrong) first: the self-confidence ``p_given`` (default), or the normalized margin
``(p_given − max_{j≠given} p_j + 1) / 2``. Its **suggested** label is the most probable
class. ``rate`` = issues / rows.

The probabilities come from a registered model (``model="NAME@REF"``: in-sample where
it was trained on these rows, which hides issues, so that case is warned about) or,
by default, from ``cv``-fold cross-validation of scikit-learn's
``HistGradientBoostingClassifier`` on every column but the key and the label (text
columns as categories). Gradient boosting rather than a logistic regression: on the
ACS data its probabilities flag a quarter fewer rows for a higher recall
(bench/README.md, "Labels — label issues vs cleanlab").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import UsageError
from assay.extras import require
from assay.labels._version import label_of, named_version, version_rows
from assay.results import Judged, ReasonCode
from assay.scoring.metrics import task_of

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.models import Model
    from assay.store import Store

__all__ = [
    "FILTERS",
    "QUEUE_COLUMNS",
    "RANKINGS",
    "IssueCode",
    "LabelIssue",
    "LabelIssues",
    "confident_joint",
    "confident_thresholds",
    "cross_val_proba",
    "find_issues",
    "label_issues",
    "label_quality",
]

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")
RANKINGS = ("self_confidence", "normalized_margin")
QUEUE_COLUMNS = ("given", "suggested", "score")  # the queue's own, after the key
_EPS = 1e-6  # cleanlab's FLOATING_POINT_COMPARISON
_MIN_THRESHOLD = 2 * _EPS
_MAX_CATEGORIES = 254  # HistGradientBoosting's categories must fit its 255 bins


# -- confident learning on arrays -----------------------------------------------------


def confident_thresholds(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per class ``j``: the mean of ``proba[:, j]`` over the rows labelled ``j`` (2 for a
    class no row has, so that no row is confidently of it), at least 2e-6."""
    k = proba.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros(k)
    np.add.at(sums, labels, proba[np.arange(len(labels)), labels])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), 2.0)
    return np.clip(mean, _MIN_THRESHOLD, None)


def confident_joint(labels: np.ndarray, proba: np.ndarray, *, calibrate: bool = True) -> np.ndarray:
    """The confident joint ``C[given][true]`` (see the module docstring), calibrated
    unless ``calibrate`` is False."""
    k = proba.shape[1]
    confident = proba >= confident_thresholds(labels, proba) - _EPS
    passing = confident.sum(axis=1)
    guess = np.where(passing > 1, proba.argmax(axis=1), confident.argmax(axis=1))
    some = passing > 0
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (labels[some], guess[some]), 1)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    if not calibrate:
        return joint
    counts = np.bincount(labels, minlength=k)
    scaled = joint / np.clip(joint.sum(axis=1), 1e-100, None)[:, None] * counts[:, None]
    scaled = scaled / max(scaled.sum(), 1e-100) * counts.sum()
    return np.vstack([_round_keeping_sum(row) for row in scaled])


def _round_keeping_sum(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to integers that keep their rounded sum (cleanlab's rule: the
    cells rounded furthest the wrong way move first)."""
    ints = values.round()
    want = values.sum().round()
    while abs(ints.sum().round() - want) > _EPS:
        diff = np.round(want - ints.sum().round())
        step = -1 if diff < 0 else 1
        changes = min(int(abs(diff)), len(values))
        for i in np.argsort(values - ints)[::-step][:changes]:
            ints[i] += step
    return ints.astype(np.int64)


def _keep_one_per_class(prune: np.ndarray) -> np.ndarray:
    """cleanlab's ``_keep_at_least_n_per_class`` with n = 1, on ``prune`` = ``C.T``
    (true × given): each diagonal at least 1, the rise taken evenly from the column's
    other non-zero cells, truncated to integers."""
    diagonal = prune.diagonal()
    raised = np.maximum(diagonal, 1)
    others = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    moved = prune - (raised - diagonal) / others
    moved[moved < 0] = 0
    np.fill_diagonal(moved, raised)
    return moved.astype(np.int64)  # cleanlab truncates (its rounding then keeps the ints)


def find_issues(
    labels: np.ndarray, proba: np.ndarray, *, filter_by: str = "prune_by_noise_rate"
) -> np.ndarray:
    """A boolean mask of the rows with a label issue (see the module docstring)."""
    if filter_by not in FILTERS:
        raise UsageError(f"no rule {filter_by!r}; use one of: {', '.join(FILTERS)}")
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = proba.shape[1]
    prune = _keep_one_per_class(confident_joint(labels, proba).T)
    by_noise = np.zeros(len(labels), dtype=bool)
    by_class = np.zeros(len(labels), dtype=bool)
    for given in range(k):
        rows = np.flatnonzero(labels == given)
        if len(rows) <= 1:  # a class of one row keeps it
            continue
        p = proba[rows]
        if filter_by != "prune_by_class":
            flagged = np.zeros(len(rows), dtype=bool)
            for true in range(k):
                count = int(prune[true, given])
                if true != given and count > 0:
                    # argsort as cleanlab sorts, so that ties fall the same way
                    flagged[np.argsort(-(p[:, true] - p[:, given]))[:count]] = True
            by_noise[rows] = flagged
        if filter_by != "prune_by_noise_rate":
            count = len(rows) - int(prune[given, given])
            if count >= 1:
                by_class[rows[np.argsort(p[:, given])[:count]]] = True
    mask = {"prune_by_noise_rate": by_noise, "prune_by_class": by_class}.get(
        filter_by, by_noise & by_class
    )
    nudged = proba.copy()
    nudged[np.arange(len(labels)), labels] += _EPS
    return mask & (nudged.argmax(axis=1) != labels)


def label_quality(
    labels: np.ndarray, proba: np.ndarray, *, rank_by: str = "self_confidence"
) -> np.ndarray:
    """Each row's label quality, lower is worse: ``p_given``, or the normalized margin
    ``(p_given − max_{j≠given} p_j + 1) / 2``."""
    if rank_by not in RANKINGS:
        raise UsageError(f"no ranking {rank_by!r}; use one of: {', '.join(RANKINGS)}")
    rows = np.arange(len(labels))
    given = proba[rows, labels]
    if rank_by == "self_confidence":
        return given
    others = proba.copy()
    others[rows, labels] = -np.inf
    return (given - others.max(axis=1) + 1) / 2


# -- out-of-sample probabilities ------------------------------------------------------


def _features(table: pa.Table, columns: Sequence[str]) -> tuple[np.ndarray, list[int], list[str]]:
    """The columns as a float matrix for gradient boosting: numbers and booleans as
    they are (null as NaN), text as category codes; the categorical columns'
    positions; the columns left out (other types)."""
    out: list[np.ndarray] = []
    categorical: list[int] = []
    left_out: list[str] = []
    for name in columns:
        col = table.column(name)
        kind = col.type
        if pa.types.is_dictionary(kind):
            col, kind = col.cast(kind.value_type), kind.value_type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            values = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            encoded = pc.dictionary_encode(col).combine_chunks()
            codes = encoded.indices.cast(pa.float64()).to_numpy(zero_copy_only=False)
            if len(encoded.dictionary) <= _MAX_CATEGORIES:
                categorical.append(len(out))
            values = codes
        else:
            left_out.append(name)
            continue
        out.append(np.asarray(values, dtype=np.float64))
    matrix = np.column_stack(out) if out else np.zeros((table.num_rows, 0))
    return matrix, categorical, left_out


def cross_val_proba(
    X: np.ndarray,
    y: np.ndarray,
    *,
    cv: int = 5,
    categorical: Sequence[int] = (),
    random_state: int = 0,
    threads: int | None = 1,
) -> np.ndarray:
    """Out-of-sample probabilities (rows × classes of ``y``'s codes): each row's from a
    ``HistGradientBoostingClassifier`` fitted on the other folds of a stratified,
    shuffled ``cv``-fold split seeded by ``random_state``.

    ``threads`` caps the OpenMP threads of the fits (None: one per core). One by
    default: on a busy machine OpenMP's spinning threads made the same fits 18× slower
    (92 s against 5 s for 20,000 rows at a load of 8 on 2 cores)."""
    ensemble = require("sklearn.ensemble", "label issues")
    selection = require("sklearn.model_selection", "label issues")
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    k = int(y.max()) + 1
    proba = np.zeros((len(y), k))
    folds = selection.StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    with threadpool_limits(limits=threads, user_api="openmp"):
        for train, test in folds.split(X, y):
            model = ensemble.HistGradientBoostingClassifier(
                random_state=random_state, categorical_features=list(categorical) or None
            )
            model.fit(X[train], y[train])
            proba[np.ix_(test, model.classes_)] = model.predict_proba(X[test])
    return proba


# -- the result -----------------------------------------------------------------------


class IssueCode(ReasonCode):
    """Why label issues failed a gate, or what to read with care."""

    ABOVE_MAX_RATE = "above_max_rate"
    IN_SAMPLE = "in_sample"  # the model was trained on the dataset under test
    LEFT_OUT = "left_out"  # columns of a type the cross-validated model cannot read


@dataclass(frozen=True)
class Note:
    """A failed threshold or something to read with care, with its reason code."""

    code: IssueCode
    message: str


@dataclass(frozen=True)
class LabelIssue:
    """One suspected label: the row's key, its given and suggested labels, its score."""

    key: dict[str, Any]
    given: Any
    suggested: Any
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "given": self.given,
            "suggested": self.suggested,
            "score": self.score,
        }


@dataclass(frozen=True)
class LabelIssues(Judged):
    """Every suspected label issue of a dataset version, ranked (lowest score first)."""

    dataset: str
    version: str
    split: str | None
    label: str
    key: tuple[str, ...]
    rows: int
    source: str  # where the probabilities came from
    filter_by: str
    rank_by: str
    classes: tuple[Any, ...]
    thresholds: tuple[float, ...]
    joint: tuple[tuple[int, ...], ...]
    issues: tuple[LabelIssue, ...]
    max_rate: float | None = None
    warnings: tuple[Note, ...] = ()
    table: pa.Table | None = field(default=None, repr=False, compare=False)  # issues' rows

    @property
    def rate(self) -> float:
        return len(self.issues) / self.rows if self.rows else 0.0

    @property
    def failures(self) -> tuple[Note, ...]:
        if self.max_rate is None or self.rate <= self.max_rate:
            return ()
        return (
            Note(
                IssueCode.ABOVE_MAX_RATE,
                f"{len(self.issues):,} of {self.rows:,} labels suspected ({self.rate:.2%}), "
                f"above the maximum rate {self.max_rate:.2%}",
            ),
        )

    def value(self, name: str) -> float | None:
        """A number a threshold may bound: ``rate`` (the share of rows suspected) or
        ``issues`` (how many)."""
        return {"rate": self.rate, "issues": float(len(self.issues))}.get(name)

    def summary(self) -> str:
        where = f"{self.dataset} {self.version[:12]}" + (f":{self.split}" if self.split else "")
        text = (
            f"{len(self.issues):,} suspected label issues in {self.rows:,} rows of {where} "
            f"(rate {self.rate:.2%})"
        )
        if self.max_rate is not None:
            text += f"; maximum {self.max_rate:.2%}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "summary": self.summary(),
            "dataset": self.dataset,
            "version": self.version,
            "split": self.split,
            "label": self.label,
            "key": list(self.key),
            "rows": self.rows,
            "source": self.source,
            "filter_by": self.filter_by,
            "rank_by": self.rank_by,
            "classes": list(self.classes),
            "thresholds": list(self.thresholds),
            "confident_joint": [list(r) for r in self.joint],
            "rate": self.rate,
            "max_rate": self.max_rate,
            "issues": [i.to_dict() for i in self.issues],
            "failures": [{"code": str(n.code), "message": n.message} for n in self.failures],
            "warnings": [{"code": str(n.code), "message": n.message} for n in self.warnings],
        }

    def queue(self) -> pa.Table:
        """The relabel queue: the key, ``given``, ``suggested``, ``score``, then the
        row's other columns (its label column holding the given label, for the
        relabeller to change), ranked. ``assay labels apply`` takes it back."""
        if self.table is None:
            raise UsageError("these label issues carry no rows; run label_issues() again")
        rows = self.table
        if clash := [c for c in QUEUE_COLUMNS if c in rows.column_names]:
            raise UsageError(
                f"dataset {self.dataset!r} has a column {clash[0]!r}, which the relabel queue "
                "uses for itself; rename that column to export a queue"
            )
        own = {
            "given": pa.array([i.given for i in self.issues], rows.schema.field(self.label).type),
            "suggested": pa.array(
                [i.suggested for i in self.issues], rows.schema.field(self.label).type
            ),
            "score": pa.array([i.score for i in self.issues], pa.float64()),
        }
        rest = [c for c in rows.column_names if c not in self.key and not c.startswith("_assay_")]
        arrays = (
            [rows.column(c) for c in self.key] + list(own.values()) + [rows.column(c) for c in rest]
        )
        return pa.Table.from_arrays(arrays, names=[*self.key, *own, *rest])

    def write_queue(self, path: str | os.PathLike[str]) -> Path:
        """Write ``queue()`` to ``path``: CSV or Parquet by its extension, whole or not at all."""
        from assay.files import atomic_write

        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise UsageError(f"--queue {str(target)!r}: name a .csv or .parquet file")
        if target.is_dir():
            raise UsageError(f"--queue {str(target)!r} is a folder; give a file name")
        table = self.queue()
        with atomic_write(target) as tmp:
            if suffix == ".csv":
                import pyarrow.csv as pacsv

                pacsv.write_csv(table, tmp)
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, tmp, compression="zstd")
        return target


# -- the whole test -------------------------------------------------------------------


def label_issues(
    data: str | DatasetVersion,
    *,
    model: Model | str | None = None,
    cv: int = 5,
    split: str | None = None,
    label: str | None = None,
    filter_by: str = "prune_by_noise_rate",
    rank_by: str = "self_confidence",
    max_rate: float | None = None,
    random_state: int = 0,
    store: Store | None = None,
) -> LabelIssues:
    """Suspected label errors in a dataset version (see the module docstring).

    ``data`` is a ``DatasetVersion`` or text naming one (``recipe.yaml[:split]``, a
    fingerprint ``[:split]``); ``split`` picks a split of a version given as such.
    ``model`` (a ``Model`` or ``NAME@REF``) gives the probabilities; without it they
    come from ``cv``-fold cross-validation. ``max_rate`` fails the result when more
    than that share of the rows is suspected.
    """
    from assay.store import open_store

    if filter_by not in FILTERS:
        raise UsageError(f"no rule {filter_by!r}; use one of: {', '.join(FILTERS)}")
    if rank_by not in RANKINGS:
        raise UsageError(f"no ranking {rank_by!r}; use one of: {', '.join(RANKINGS)}")
    if model is None and cv < 2:
        raise UsageError(f"--cv {cv}: cross-validation needs at least 2 folds")
    if max_rate is not None and not 0 <= max_rate <= 1:
        raise UsageError(f"--max-rate {max_rate}: give a share between 0 and 1, e.g. 0.02")
    if not isinstance(data, str):
        return _issues(data, split, model, cv, label, filter_by, rank_by, max_rate, random_state)
    opened = store or open_store()
    try:
        version, split = named_version(data, opened)
        return _issues(version, split, model, cv, label, filter_by, rank_by, max_rate, random_state)
    finally:
        if store is None:  # opened here, so closed here
            opened.close()


def _issues(
    version: DatasetVersion,
    split: str | None,
    model: Model | str | None,
    cv: int,
    label: str | None,
    filter_by: str,
    rank_by: str,
    max_rate: float | None,
    random_state: int,
) -> LabelIssues:
    label = label_of(version, label)
    table, positions = version_rows(version, split)
    if table.num_rows == 0:
        raise UsageError(f"version {version.short} has no rows{_in(split)}; nothing to test")
    given_raw = table.column(label)
    if given_raw.null_count:
        raise UsageError(
            f"{given_raw.null_count:,} rows{_in(split)} have no {label!r} label; label them "
            "or leave them out with the recipe's where:"
        )
    if task_of(given_raw.to_numpy()) == "regression":
        raise UsageError(
            f"{label!r} holds many numbers, not classes; label issues need a class label "
            "(name one with --label COL)"
        )
    warnings: list[Note] = []
    if model is None:
        classes, y = _codes(given_raw)
        proba = _cv_proba(version, table, label, y, classes, cv, random_state, warnings)
        source = f"{cv}-fold cross-validated HistGradientBoostingClassifier"
    else:
        classes, y, proba, source = _model_proba(version, model, table, positions, label, warnings)
    mask = find_issues(y, proba, filter_by=filter_by)
    quality = label_quality(y, proba, rank_by=rank_by)
    flagged = np.flatnonzero(mask)
    order = flagged[np.argsort(quality[flagged], kind="stable")]
    suggested = proba.argmax(axis=1)
    keys = table.select(list(version.dataset.key)).take(pa.array(order)).to_pylist()
    issues = tuple(
        LabelIssue(key, classes[y[i]], classes[suggested[i]], float(quality[i]))
        for key, i in zip(keys, order.tolist(), strict=True)
    )
    return LabelIssues(
        dataset=version.dataset.name,
        version=version.fingerprint,
        split=split,
        label=label,
        key=tuple(version.dataset.key),
        rows=table.num_rows,
        source=source,
        filter_by=filter_by,
        rank_by=rank_by,
        classes=tuple(classes),
        thresholds=tuple(float(t) for t in confident_thresholds(y, proba)),
        joint=tuple(tuple(int(c) for c in row) for row in confident_joint(y, proba)),
        issues=issues,
        max_rate=max_rate,
        warnings=tuple(warnings),
        table=_dataset_columns(table, version).take(pa.array(order, pa.int64())),
    )


def _dataset_columns(table: pa.Table, version: DatasetVersion) -> pa.Table:
    """Only the dataset's own columns (not the split a recipe adds): what an upsert takes."""
    own = {name for name, _ in version.dataset.schema}
    return table.select([c for c in table.column_names if c in own])


def _in(split: str | None) -> str:
    return f" in split {split!r}" if split else ""


def _codes(values: pa.ChunkedArray) -> tuple[list[Any], np.ndarray]:
    """The distinct labels, sorted, and each row's position among them."""
    classes = sorted(pc.unique(values).to_pylist())
    index = pc.index_in(values, value_set=pa.array(classes, values.type))
    return classes, index.to_numpy(zero_copy_only=False).astype(np.int64)


def _cv_proba(
    version: DatasetVersion,
    table: pa.Table,
    label: str,
    y: np.ndarray,
    classes: list[Any],
    cv: int,
    random_state: int,
    warnings: list[Note],
) -> np.ndarray:
    from assay.data.compose import SPLIT_COLUMN

    if len(classes) < 2:
        raise UsageError(
            f"every row has the label {classes[0]!r}; label issues need at least two classes"
        )
    counts = np.bincount(y, minlength=len(classes))
    few = int(counts.argmin())
    if counts[few] < cv:
        raise UsageError(
            f"label {classes[few]!r} has {counts[few]} row(s), fewer than the {cv} folds; "
            f"use --cv {max(2, int(counts.min()))} or more rows"
        )
    never = {label, SPLIT_COLUMN, *version.dataset.key}
    columns = [c for c in table.column_names if c not in never and not c.startswith("_assay_")]
    X, categorical, left_out = _features(table, columns)
    if left_out:
        warnings.append(
            Note(
                IssueCode.LEFT_OUT,
                f"column(s) {', '.join(left_out)} are neither numbers nor text; the "
                "cross-validated model does not read them",
            )
        )
    if X.shape[1] == 0:
        raise UsageError(
            f"version {version.short} has no feature columns besides the key and the label; "
            "give --model MODEL@REF instead"
        )
    return cross_val_proba(X, y, cv=cv, categorical=categorical, random_state=random_state)


def _model_proba(
    version: DatasetVersion,
    model: Model | str,
    table: pa.Table,
    positions: pa.Array,
    label: str,
    warnings: list[Note],
) -> tuple[list[Any], np.ndarray, np.ndarray, str]:
    """A registered model's probabilities on the rows, in its class order, with the given
    labels as positions in it."""
    from assay.errors import SpecError
    from assay.models.registry import load_model
    from assay.scoring.predictions import model_inputs, model_output

    loaded = load_model(model, store=version.store) if isinstance(model, str) else model
    ref = loaded.info.ref
    if not loaded.has_proba:
        raise UsageError(f"model {ref} gives no probabilities; label issues need predict_proba")
    problems: list[str] = []
    inputs = model_inputs(loaded, version, label, None, "--model", problems)
    if inputs is None:
        raise SpecError("--model", problems)
    out = model_output(version.store, loaded, version, inputs, f"version {version.short}")
    assert out.proba is not None
    at = positions.to_numpy(zero_copy_only=False)
    proba = out.proba[at]
    classes = list(out.classes)
    index = {c: i for i, c in enumerate(classes)}
    given = table.column(label).to_pylist()
    if unknown := sorted({v for v in given if v not in index}, key=repr):
        raise UsageError(
            f"model {ref} never predicts label value(s) {unknown[:5]} present in "
            f"{label!r}; check --label or the model"
        )
    y = np.array([index[v] for v in given], dtype=np.int64)
    if _trained_on(loaded, version):
        warnings.append(
            Note(
                IssueCode.IN_SAMPLE,
                f"model {ref} was trained by a run that read dataset {version.dataset.name!r}: "
                "its probabilities on rows it learned are in-sample, which hides issues; "
                "use --cv K, or a split the model never saw",
            )
        )
    return classes, y, proba, f"model {ref}"


def _trained_on(model: Model, version: DatasetVersion) -> bool:
    """Whether the run that made ``model`` read any version of ``version``'s dataset."""
    run_id = model.info.run_id
    if run_id is None:
        return False
    run = version.store.catalog.get_run(run_id)
    return any(i.dataset == version.dataset.name for i in run.inputs)
