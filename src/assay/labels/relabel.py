"""The relabelling loop: relabelled rows go back as an upsert delta, and models are
scored on the old labels against the new ones.

1. ``label_issues(...).write_queue("queue.csv")`` exports the suspected rows, ranked:
   the key, ``given``, ``suggested``, ``score`` and the row's columns, its label column
   holding the given label.
2. The relabeller changes the label column of the rows they correct (and leaves the
   others, or blanks them: a blank label is a row not reviewed).
3. ``apply_queue("queue.csv", dataset)`` commits the rows whose label changed as an
   upsert delta of the dataset (``assay data add --op upsert`` of those rows, without
   the queue's own columns), so the relabelling is versioned like any other change.
4. ``compare_models(old, new, models)`` scores each model on the version before and the
   version after (a recipe that takes every delta reads the new labels; the old
   version's fingerprint still rebuilds the old ones), overall and per slice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import UsageError
from assay.labels._version import label_of, named_version, version_rows
from assay.labels.issues import QUEUE_COLUMNS
from assay.results import GateStatus, ReasonCode, verdict
from assay.scoring.metrics import METRICS, Predictions, task_of

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.data.deltas import AddResult
    from assay.models import Model
    from assay.store import Store

__all__ = ["Applied", "ModelScores", "RelabelComparison", "apply_queue", "compare_models"]

OVERALL = "overall"


# -- the queue back into the dataset --------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What ``apply_queue`` committed: the upsert delta of the relabelled rows."""

    added: AddResult
    queued: int  # rows in the queue
    relabelled: int  # rows whose label changed (the delta's rows)
    unreviewed: int  # rows left blank

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.added.to_dict(),
            "queued": self.queued,
            "relabelled": self.relabelled,
            "unchanged": self.queued - self.relabelled - self.unreviewed,
            "unreviewed": self.unreviewed,
        }


def apply_queue(
    queue: str | os.PathLike[str] | pa.Table,
    dataset: str,
    *,
    name: str | None = None,
    message: str = "",
    store: Store | None = None,
) -> Applied:
    """Commit the queue's relabelled rows (label ≠ ``given``, not blank) to ``dataset``
    as an upsert delta named ``name`` (default: the queue file's stem)."""
    from assay.data.deltas import add_delta
    from assay.data.schema import read_table_file
    from assay.store import open_store

    own = store is None
    opened = store or open_store()
    try:
        info = opened.catalog.get_dataset(dataset)
        source = "the queue" if isinstance(queue, pa.Table) else f"queue {str(queue)!r}"
        if isinstance(queue, pa.Table):
            table = queue
            if name is None:
                raise UsageError("name the delta of a queue given as a table: pass name=")
        else:
            if not Path(queue).is_file():
                raise UsageError(f"{source} does not exist; give the file --queue wrote")
            table = read_table_file(Path(queue), info.schema)
            name = name or Path(queue).stem
        label = info.label
        if label is None:
            raise UsageError(f"dataset {dataset!r} declares no label column; nothing to relabel")
        if missing := [c for c in (*info.key, "given", label) if c not in table.column_names]:
            raise UsageError(
                f"{source} lacks column(s) {', '.join(map(repr, missing))}; give a queue that "
                f"`assay labels issues --queue` wrote for dataset {dataset!r}"
            )
        new, given = table.column(label), table.column("given")
        if not new.type.equals(given.type):
            given = given.cast(new.type, safe=False)
        blank = pc.is_null(new)
        changed = pc.and_(pc.invert(blank), pc.invert(pc.equal(new, given).fill_null(False)))
        relabelled = table.filter(changed)
        if relabelled.num_rows == 0:
            raise UsageError(
                f"{source} relabels no row (every {label!r} equals `given` or is blank); "
                f"change {label!r} in the rows to correct"
            )
        rows = relabelled.drop_columns([c for c in QUEUE_COLUMNS if c in table.column_names])
        added = add_delta(
            opened,
            dataset,
            rows,
            op="upsert",
            name=name,
            message=message or f"relabelled {rows.num_rows} row(s) from {source}",
        )
        return Applied(added, table.num_rows, rows.num_rows, int(pc.sum(blank).as_py() or 0))
    finally:
        if own:
            opened.close()


# -- models on the old labels and the new ---------------------------------------------


@dataclass(frozen=True)
class SliceScores:
    """One model's metrics on one slice under the old labels and the new ones."""

    slice: str
    rows_old: int
    rows_new: int
    old: dict[str, float | None]
    new: dict[str, float | None]

    def difference(self, metric: str) -> float | None:
        a, b = self.old[metric], self.new[metric]
        return None if a is None or b is None else b - a

    def to_dict(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "rows_old": self.rows_old,
            "rows_new": self.rows_new,
            "metrics": {
                m: {"old": self.old[m], "new": self.new[m], "difference": self.difference(m)}
                for m in self.old
            },
        }


@dataclass(frozen=True)
class ModelScores:
    """One model's scores per slice (``overall`` first)."""

    model: str
    slices: tuple[SliceScores, ...]

    def slice(self, name: str) -> SliceScores:
        for s in self.slices:
            if s.slice == name:
                return s
        raise UsageError(f"no slice {name!r}; slices: {', '.join(s.slice for s in self.slices)}")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "slices": [s.to_dict() for s in self.slices]}


class CompareCode(ReasonCode):
    """What to read with care in a comparison of old and new labels."""

    ROWS_DIFFER = "rows_differ"  # the versions do not hold the same keys


@dataclass(frozen=True)
class RelabelComparison:
    """Each model's metrics on the old labels and the new; a report, always passed."""

    old: dict[str, Any]  # dataset, version, split, rows
    new: dict[str, Any]
    label: str
    metrics: tuple[str, ...]
    common: int  # keys in both versions
    changed: int  # of those, keys whose label differs
    models: tuple[ModelScores, ...]
    warnings: tuple[tuple[CompareCode, str], ...] = ()

    @property
    def passed(self) -> bool:
        return True

    @property
    def status(self) -> GateStatus:
        return verdict(True)

    @property
    def reasons(self) -> list[ReasonCode]:
        return []

    def model(self, ref: str) -> ModelScores:
        for m in self.models:
            if m.model == ref:
                return m
        raise UsageError(f"no model {ref!r}; models: {', '.join(m.model for m in self.models)}")

    def summary(self) -> str:
        metric = self.metrics[0]
        moves = ", ".join(
            f"{m.model} {_signed(m.slices[0].difference(metric))}" for m in self.models
        )
        return f"{self.changed:,} of {self.common:,} labels changed; {metric} {moves}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": True,
            "status": str(self.status),
            "reasons": [],
            "summary": self.summary(),
            "old": self.old,
            "new": self.new,
            "label": self.label,
            "metrics": list(self.metrics),
            "common": self.common,
            "changed": self.changed,
            "models": [m.to_dict() for m in self.models],
            "warnings": [{"code": str(c), "message": m} for c, m in self.warnings],
        }


def _signed(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.4f}"


@dataclass(frozen=True)
class _Side:
    version: DatasetVersion
    split: str | None
    table: pa.Table
    positions: np.ndarray
    masks: dict[str, np.ndarray]

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.version.dataset.name,
            "version": self.version.fingerprint,
            "split": self.split,
            "rows": self.table.num_rows,
        }


def compare_models(
    old: str | DatasetVersion,
    new: str | DatasetVersion,
    models: Sequence[Model | str],
    *,
    metrics: Sequence[str] = ("accuracy",),
    label: str | None = None,
    split: str | None = None,
    store: Store | None = None,
) -> RelabelComparison:
    """Each model's ``metrics`` on ``old`` and on ``new`` (versions, or text naming them
    as ``recipe.yaml[:split]`` or a fingerprint ``[:split]``), overall and per slice of
    the recipes (the new recipe's slices, then the old one's it lacks)."""
    from assay.store import open_store

    if not models:
        raise UsageError("name at least one model to compare: MODEL@REF")
    if unknown := [m for m in metrics if m not in METRICS]:
        raise UsageError(f"no metric {unknown[0]!r}; use one of: {', '.join(METRICS)}")
    own = store is None
    opened = store or open_store()
    try:
        versions = [
            named_version(v, opened) if isinstance(v, str) else (v, split) for v in (old, new)
        ]
        (v_old, s_old), (v_new, s_new) = versions
        if tuple(v_old.dataset.key) != tuple(v_new.dataset.key):
            raise UsageError(
                f"the old version is keyed by {', '.join(v_old.dataset.key)} and the new one "
                f"by {', '.join(v_new.dataset.key)}; compare versions of one dataset"
            )
        label = label_of(v_new, label or v_old.dataset.label)
        label_of(v_old, label)
        slices = dict(v_old.recipe.slice_exprs())
        slices.update(v_new.recipe.slice_exprs())
        sides = [_side(v, s, slices) for v, s in ((v_old, s_old), (v_new, s_new))]
        common, changed = _changes(sides[0].table, sides[1].table, list(v_new.dataset.key), label)
        warnings: list[tuple[CompareCode, str]] = []
        if common != sides[0].table.num_rows or common != sides[1].table.num_rows:
            warnings.append(
                (
                    CompareCode.ROWS_DIFFER,
                    f"the versions share {common:,} keys of {sides[0].table.num_rows:,} old "
                    f"and {sides[1].table.num_rows:,} new rows: the metrics move with the rows "
                    "as well as the labels",
                )
            )
        task = task_of(sides[1].table.column(label).to_numpy(zero_copy_only=False))
        for m in metrics:
            if task not in METRICS[m].tasks:
                fits = ", ".join(n for n, x in METRICS.items() if task in x.tasks)
                raise UsageError(f"metric {m} does not apply to a {task} label; use: {fits}")
        scores = tuple(_score_model(model, sides, label, task, metrics, opened) for model in models)
        return RelabelComparison(
            old=sides[0].describe(),
            new=sides[1].describe(),
            label=label,
            metrics=tuple(metrics),
            common=common,
            changed=changed,
            models=scores,
            warnings=tuple(warnings),
        )
    finally:
        if own:
            opened.close()


def _side(version: DatasetVersion, split: str | None, slices: dict[str, Any]) -> _Side:
    table, positions = version_rows(version, split)
    engine = version.store.engine
    masks = {OVERALL: np.ones(table.num_rows, dtype=bool)}
    for name, node in slices.items():
        masks[name] = engine.mask(table, node.predicate)
    return _Side(version, split, table, positions.to_numpy(zero_copy_only=False), masks)


def _changes(old: pa.Table, new: pa.Table, key: list[str], label: str) -> tuple[int, int]:
    """How many keys both tables hold, and of those how many changed their label."""
    right = new.select([*key, label]).rename_columns([*key, "_assay_new"])
    joined = old.select([*key, label]).join(right, keys=key, join_type="inner")
    same = pc.equal(
        joined.column(label), joined.column("_assay_new").cast(old.schema.field(label).type)
    )
    return joined.num_rows, int(pc.sum(pc.invert(same.fill_null(False))).as_py() or 0)


def _score_model(
    model: Model | str,
    sides: list[_Side],
    label: str,
    task: str,
    metrics: Sequence[str],
    store: Store,
) -> ModelScores:
    from assay.errors import SpecError
    from assay.models.registry import load_model
    from assay.scoring.predictions import model_inputs, model_output

    loaded = load_model(model, store=store) if isinstance(model, str) else model
    ref = loaded.info.ref
    if any(METRICS[m].needs_proba for m in metrics) and not loaded.has_proba:
        raise UsageError(f"model {ref} gives no probabilities, which {', '.join(metrics)} need")
    predictions = []
    for side in sides:
        problems: list[str] = []
        inputs = model_inputs(loaded, side.version, label, None, ref, problems)
        if inputs is None:
            raise SpecError("compare-models", problems)
        out = model_output(store, loaded, side.version, inputs, f"version {side.version.short}")
        predictions.append(_predictions(out, side, label, task, ref))
    rows = []
    for name in sides[1].masks | sides[0].masks:
        per_side = []
        for side, p in zip(sides, predictions, strict=True):
            mask = side.masks.get(name)
            chosen = p.subset(mask) if mask is not None else None
            per_side.append(
                (0 if chosen is None else len(chosen.y), {m: _point(m, chosen) for m in metrics})
            )
        (n_old, old), (n_new, new) = per_side
        rows.append(SliceScores(name, n_old, n_new, old, new))
    return ModelScores(ref, tuple(rows))


def _predictions(out: Any, side: _Side, label: str, task: str, ref: str) -> Predictions:
    """A model's answers on one side's rows, labels as class positions (as the gate)."""
    guess_raw = out.label[side.positions]
    y_raw = side.table.column(label).to_numpy(zero_copy_only=False)
    if task == "regression":
        return Predictions(task, y_raw.astype(np.float64), guess_raw.astype(np.float64))
    classes = list(out.classes) or sorted(
        set(np.unique(y_raw).tolist()) | set(np.unique(guess_raw).tolist())
    )
    index = {c: i for i, c in enumerate(classes)}
    if unknown := sorted({v for v in np.unique(y_raw).tolist() if v not in index}, key=repr):
        raise UsageError(
            f"model {ref} never predicts label value(s) {unknown[:5]} present in the data"
        )
    y = np.array([index[v] for v in y_raw.tolist()], dtype=np.int64)
    guess = np.array([index.get(v, -1) for v in guess_raw.tolist()], dtype=np.int64)
    proba = None if out.proba is None else out.proba[side.positions]
    return Predictions(task, y, guess, proba, tuple(classes))


def _point(metric: str, p: Predictions | None) -> float | None:
    """The metric's point estimate, None where undefined (no rows, one class for AUC)."""
    if p is None or len(p.y) == 0:
        return None
    try:
        value = float(METRICS[metric].point(p))
    except ValueError:
        return None
    return value if np.isfinite(value) else None
