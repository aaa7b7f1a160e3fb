"""The trade-off of a compressed model against its parent: what it weighs, how fast it
answers, and what it scores on each dataset × slice.

    report = tradeoff("employment@4", on=["recipes/test.yaml:test"])
    report.to_dict()["models"][1]["latency_p50_ms"]

Size, parameters, latency and throughput come from ``assay.scoring.efficiency`` (the
thread count fixed and stated); the metrics from ``assay.evaluation.evaluate`` on a spec
built in memory (the parent as ``baseline``, the compressed model as ``candidate``, the
datasets given, their recipes' slices), so the numbers are exactly the gate's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import UsageError

if TYPE_CHECKING:
    from assay.evaluation import Evaluation
    from assay.scoring.efficiency import Efficiency
    from assay.store import Store
    from assay.store.catalog import ModelVersion

__all__ = ["TradeoffReport", "tradeoff"]

PARENT, COMPRESSED = "parent", "compressed"
_ROLES = {PARENT: "baseline", COMPRESSED: "candidate"}  # trade-off role → spec role


@dataclass
class TradeoffReport:
    """The parent and the compressed model measured alike and evaluated alike."""

    models: list[dict[str, Any]]  # parent first: ref, role, size, speed, metrics
    measured: dict[str, Any]  # threads, provider, calls, batch, the rows timed
    metrics: list[str]
    datasets: list[str]
    evaluation: Evaluation | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool | None:
        return None  # a report, not a gate: the evaluation spec's thresholds judge

    def model(self, role: str) -> dict[str, Any]:
        return next(m for m in self.models if m["role"] == role)

    def ratio(self, number: str) -> float | None:
        """The compressed model's ``number`` over its parent's."""
        mine, theirs = self.model(COMPRESSED)[number], self.model(PARENT)[number]
        return None if mine is None or not theirs else mine / theirs

    def summary(self) -> str:
        size, p50 = self.ratio("size_bytes"), self.ratio("latency_p50_ms")
        speed = self.ratio("throughput")
        return (
            f"{self.model(COMPRESSED)['ref']} against {self.model(PARENT)['ref']}: "
            f"{_x(size)} the size, {_x(p50)} the p50 latency, {_x(speed)} the throughput "
            f"({self.measured['threads']} thread(s), {self.measured['provider']})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "measured": self.measured,
            "metrics": self.metrics,
            "datasets": self.datasets,
            "summary": self.summary(),
        }


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def tradeoff(
    ref: str,
    *,
    on: Sequence[str],
    against: str | None = None,
    metrics: Sequence[str] | None = None,
    threads: int = 1,
    provider: str = "cpu",
    calls: int = 200,
    batches: int = 20,
    store: Store | None = None,
) -> TradeoffReport:
    """Measure and evaluate the compressed version ``ref`` against ``against`` (default:
    the parent its lineage records) on the datasets ``on`` (each ``RECIPE[:split]`` or
    ``FINGERPRINT[:split]``, called by their file names; the first is also the rows
    timed)."""
    from assay.evaluation import evaluate
    from assay.models.registry import resolve_ref
    from assay.store import opened

    if not on:
        raise UsageError("no dataset to evaluate on; give --on RECIPE[:split] at least once")
    from assay.scoring.efficiency import check_settings

    check_settings(threads=threads, calls=calls, batches=batches, provider=provider)
    with opened(store) as s:
        info = resolve_ref(s, ref)
        parent = resolve_ref(s, against or _parent_of(info))
        named = _names(list(dict.fromkeys(on)))
        datasets = {named[text]: _dataset(text) for text in named}
        versions = {name: _version(s, source) for name, source in datasets.items()}
        slices, task = _slices_and_task(versions)
        chosen = list(metrics) if metrics else _default_metrics(s, task, [info, parent])
        spec = {
            "name": f"compress report {info.ref}",
            "models": {"candidate": info.ref, "baseline": parent.ref},
            "datasets": datasets,
            "slices": slices,
            "metrics": chosen,
            # The metrics' point values are the gate's; their intervals are not shown.
            "bootstrap": {"samples": 0},
            "min_slice_rows": 0,
        }
        evaluation = evaluate(spec, store=s, record=False)
        first = named[on[0]]
        timed = _timing_rows(s, versions[first], datasets[first].get("split"), [info, parent])
        measured = {
            role: _measure(s, version, timed[version.ref], threads, provider, calls, batches)
            for role, version in [(PARENT, parent), (COMPRESSED, info)]
        }
    from assay.scoring.efficiency import row, settings

    models = [
        row(measured[role], role, _metrics_of(evaluation, _ROLES[role]))
        for role in (PARENT, COMPRESSED)
    ]
    return TradeoffReport(
        models=models,
        measured={**settings(measured[PARENT]), "rows_from": named[on[0]]},
        metrics=chosen,
        datasets=list(datasets),
        evaluation=evaluation,
    )


def _parent_of(info: ModelVersion) -> str:
    parent = info.source.get("from")
    if not isinstance(parent, dict):
        raise UsageError(
            f"model {info.ref} records no parent version; give the model to compare with "
            "(--against NAME@VERSION)"
        )
    return f"{parent['name']}@{parent['version']}"


def _names(texts: list[str]) -> dict[str, str]:
    """What each ``--on`` is called in the report: its file name (``test.yaml:test``),
    or the whole text where two file names are the same."""
    short = {t: re.sub(r"^.*[/\\]", "", t) for t in texts}
    if len(set(short.values())) < len(short):
        return {t: t for t in texts}
    return short


def _dataset(text: str) -> dict[str, Any]:
    """``RECIPE[:split]`` or ``FINGERPRINT[:split]`` as an evaluation spec's dataset."""
    from assay.compress._data import parse_versioned

    kind, head, split = parse_versioned(text, "--on")
    return {kind: head, "split": split}


def _version(store: Store, source: dict[str, Any]) -> Any:
    from assay.data.compose import compose, load_version

    if source.get("recipe"):
        return compose(source["recipe"], store=store)
    return load_version(source["fingerprint"], store=store)


def _slices_and_task(versions: dict[str, Any]) -> tuple[list[str], str]:
    """Every slice the datasets' recipes name, and the task the first one's label implies."""
    from assay.scoring.metrics import task_of

    slices: dict[str, None] = {}
    task = None
    for version in versions.values():
        slices.update(dict.fromkeys(version.recipe.slice_exprs()))
        if task is None and version.dataset.label in version.table.column_names:
            label = version.table.column(version.dataset.label)
            task = task_of(label.to_numpy(zero_copy_only=False))
    return list(slices), task or "binary"


def _default_metrics(store: Store, task: str, infos: list[ModelVersion]) -> list[str]:
    """The task's usual metrics; those that need probabilities only if every model has them."""
    from assay.models.registry import load_version
    from assay.scoring.metrics import METRICS

    usual = {
        "binary": ["accuracy", "f1", "roc_auc", "log_loss"],
        "multiclass": ["accuracy", "f1", "log_loss"],
        "regression": ["mae", "rmse", "r2"],
    }[task]
    proba = all(load_version(store, i).has_proba for i in infos)
    return [m for m in usual if proba or not METRICS[m].needs_proba]


def _metrics_of(evaluation: Evaluation, role: str) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for c in evaluation.cells:
        if c.model == role:
            out.setdefault(c.dataset, {}).setdefault(c.slice, {})[c.metric] = c.value
    return out


def _timing_rows(
    store: Store, version: Any, split: str | None, infos: list[ModelVersion]
) -> dict[str, Any]:
    """Each model's input columns of the dataset's rows (its split applied)."""
    import pyarrow.compute as pc

    from assay.data.compose import SPLIT_COLUMN
    from assay.models.registry import load_version
    from assay.scoring.predictions import model_inputs

    table = version.table
    if split:
        table = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
    out = {}
    for info in infos:
        problems: list[str] = []
        label = version.dataset.label
        inputs = model_inputs(load_version(store, info), version, label, None, info.ref, problems)
        if inputs is None:
            raise UsageError(f"cannot time model {info.ref}: {problems[0]}")
        out[info.ref] = table.select(list(inputs.columns))
    return out


def _measure(
    store: Store,
    info: ModelVersion,
    rows: Any,
    threads: int,
    provider: str,
    calls: int,
    batches: int,
) -> Efficiency:
    from assay.scoring.efficiency import measure

    return measure(
        info, rows, store=store, threads=threads, provider=provider, calls=calls, batches=batches
    )
