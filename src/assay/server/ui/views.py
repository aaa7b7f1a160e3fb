"""What each dashboard page shows, as JSON-ready dicts (the API returns them, the pages
render them): thin reads of the library, no FastAPI here."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from assay.store import Store


def plain(value: Any) -> Any:
    """``value`` with every non-finite float as None, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


#: What is kept between requests, newest last: impacts by delta ids, loaded versions
#: by fingerprint (both immutable), a few of each.
_IMPACTS: dict[tuple[Any, ...], dict[str, Any]] = {}
_VERSIONS: dict[tuple[str, str], Any] = {}
KEEP = 4


_LOCK = threading.Lock()  # requests run in a thread pool


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Keep ``value`` under ``key`` (forgetting the oldest past ``KEEP``); returns it."""
    with _LOCK:
        cache.pop(key, None)
        cache[key] = value
        while len(cache) > KEEP:
            cache.pop(next(iter(cache)))
    return value


def loaded(store: Store, version: str) -> Any:
    """The version ``version`` names (a fingerprint or prefix), rows read, kept for the
    next what-if request on it."""
    from assay.data.compose import find_version, load_version

    fingerprint = find_version(version, store=store).fingerprint
    key = (store.url, fingerprint)
    found = _VERSIONS.get(key)
    return (
        found
        if found is not None
        else _remember(_VERSIONS, key, load_version(fingerprint, store=store))
    )


def datasets(store: Store) -> dict[str, Any]:
    """Every dataset with its key, label, columns and counts of deltas and versions."""
    out = []
    for info in store.catalog.list_datasets():
        out.append(
            {
                "name": info.name,
                "key": list(info.key),
                "label": info.label,
                "columns": info.columns,
                "deltas": len(store.catalog.list_deltas(info.name)),
                "versions": len(store.catalog.list_versions(info.name)),
                "created_at": info.created_at,
            }
        )
    return {"datasets": out}


def dataset(store: Store, name: str) -> dict[str, Any]:
    """One dataset: its delta history, each delta's impact on the data before it, and
    its recorded versions."""
    from assay.diagnostics.impact import delta_impact

    info = store.catalog.get_dataset(name)
    listed = store.catalog.list_deltas(name)
    # Deltas never change: the impact of the same ones is computed once per process.
    key = (store.url, name, tuple(d.delta_id for d in listed))
    impact = _IMPACTS.get(key)
    if impact is None:
        found = delta_impact(store, name) if info.schema else []
        impact = _remember(_IMPACTS, key, {i.name: i.to_dict() for i in found})
    deltas = []
    for d in listed:
        found = impact.get(d.name, {})
        deltas.append(
            {
                "number": d.number,
                "name": d.name,
                "id": d.short_id,
                "op": d.op,
                "rows": d.row_count,
                "message": d.message,
                "author": d.author,
                "created_at": d.created_at,
                "impact": found,
            }
        )
    versions = [
        {
            "fingerprint": v.fingerprint,
            "recipe": v.recipe,
            "deltas": len(v.delta_ids),
            "rows": v.summary.get("rows"),
            "created_at": v.created_at,
        }
        for v in store.catalog.list_versions(name)
    ]
    return {
        "name": name,
        "key": list(info.key),
        "label": info.label,
        "deltas": deltas,
        "versions": versions,
    }


def version_diff(store: Store, a: str, b: str, sample: int = 20) -> dict[str, Any]:
    """The row-level difference between versions ``a`` and ``b`` (fingerprints)."""
    from assay.data.diff import diff

    return diff(a, b, store=store, sample=sample).to_dict()


def runs(store: Store) -> dict[str, Any]:
    """Every run, newest first, with its status, commit and inputs."""
    from assay.runs import list_runs

    return {
        "runs": [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "started_at": r.started_at,
                "git_commit": r.git_commit,
                "inputs": [i.fingerprint for i in r.inputs],
                "metrics": r.metrics,
            }
            for r in sorted(list_runs(store=store), key=lambda r: r.started_at, reverse=True)
        ]
    }


def lineage(store: Store, run_id: str) -> dict[str, Any]:
    """A run's lineage as a graph: dataset versions → run ← commit, run → model versions."""
    from assay.models.registry import list_models
    from assay.runs import get_run, run_to_dict

    run = get_run(run_id, store=store)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    run_node = f"run:{run.id}"
    for i in run.inputs:
        node = f"version:{i.fingerprint}"
        nodes.append({"id": node, "kind": "version", "label": f"{i.dataset} {i.fingerprint[:12]}"})
        edges.append({"from": node, "to": run_node})
    if run.git_commit:
        commit = f"commit:{run.git_commit}"
        dirty = " (dirty)" if run.git_dirty else ""
        nodes.append(
            {"id": commit, "kind": "commit", "label": f"commit {run.git_commit[:10]}{dirty}"}
        )
        edges.append({"from": commit, "to": run_node})
    nodes.append({"id": run_node, "kind": "run", "label": f"run {run.name or run.id[:12]}"})
    for m in list_models(store=store):
        if m.run_id == run.id:
            node = f"model:{m.ref}"
            nodes.append({"id": node, "kind": "model", "label": m.ref})
            edges.append({"from": run_node, "to": node})
    return {"run": run_to_dict(run), "nodes": nodes, "edges": edges}


def models(store: Store) -> dict[str, Any]:
    """Every model version with its aliases, flavor and run."""
    from assay.models.registry import list_models

    return {
        "models": [
            {
                "name": m.name,
                "version": m.version,
                "ref": m.ref,
                "flavor": m.flavor,
                "aliases": list(m.aliases),
                "run_id": m.run_id,
                "description": m.description,
                "created_at": m.created_at,
                "columns": [c["name"] for c in (m.signature or {}).get("columns", [])],
            }
            for m in list_models(store=store)
        ]
    }


def checks(store: Store, limit: int = 100) -> dict[str, Any]:
    """The latest check results (summaries; the report page shows one in full)."""
    out = []
    for report in store.catalog.list_checks(limit=limit):
        out.append(
            {
                "id": report.get("id"),
                "suite": report.get("suite"),
                "dataset": report.get("dataset"),
                "fingerprint": report.get("fingerprint"),
                "passed": report.get("passed"),
                "summary": report.get("summary"),
                "checked_at": report.get("checked_at"),
            }
        )
    return {"checks": out}


def evaluations(store: Store, limit: int = 100) -> dict[str, Any]:
    """The latest evaluations (summaries; the report page shows one in full)."""
    out = []
    for report in store.catalog.list_evaluations(limit=limit):
        out.append(
            {
                "id": report.get("id"),
                "name": report.get("name"),
                "passed": report.get("passed"),
                "summary": report.get("summary"),
                "models": {
                    role: f"{m['name']}@{m['version']}" if isinstance(m, dict) else m
                    for role, m in report.get("models", {}).items()
                },
                "created_at": report.get("created_at"),
            }
        )
    return {"evaluations": out}


def experiments(store: Store) -> dict[str, Any]:
    """Every experiment with its weights and live counts per arm (from its log)."""
    from assay.errors import AssayError
    from assay.experiments.analysis import analyze
    from assay.experiments.records import list_experiments

    out = []
    for info in list_experiments(store):
        try:
            analysis: dict[str, Any] | None = analyze(store, info.name).to_dict()
        except AssayError as error:  # no log yet: shown as such
            analysis = {"error": str(error)}
        arms = (analysis or {}).get("arms", [])
        out.append(
            {
                "name": info.name,
                "endpoint": info.endpoint,
                "weights": info.weights,
                "updated_at": info.updated_at,
                "counts": {a["arm"]: a["requests"] for a in arms},
                "analysis": analysis,
            }
        )
    return {"experiments": out}


def experiment(store: Store, name: str, metric: str | None) -> dict[str, Any]:
    """One experiment's analysis (``assay ab analyze``), as data: on ``metric``, else on
    its first recorded outcome metric (a page cannot pass ``--metric``; counts alone
    when no outcomes were recorded)."""
    from assay.experiments.analysis import analyze

    return analyze(store, name, metric or next(iter(outcome_metrics(store, name)), None)).to_dict()


def outcome_metrics(store: Store, name: str) -> list[str]:
    """The numeric outcome columns recorded for experiment ``name`` (none: [])."""
    from assay.experiments.records import read_outcomes

    return list(read_outcomes(store, name).metrics)


def pipeline(store: Store, path: Path | None) -> dict[str, Any]:
    """``assay pipeline status`` for the pipeline file the dashboard was given."""
    if path is None:
        return {"pipeline": None, "stages": [], "note": "start assay ui with --pipeline FILE"}
    from assay.pipeline import status

    return status(path, store=store).to_dict()


def all_versions(store: Store) -> list[dict[str, Any]]:
    """Every recorded version of every dataset, newest first (the what-if picker)."""
    out = [
        {"dataset": info.name, "fingerprint": v.fingerprint, "created_at": v.created_at}
        for info in store.catalog.list_datasets()
        for v in store.catalog.list_versions(info.name)
    ]
    return sorted(out, key=lambda v: v["created_at"], reverse=True)


def version_row(store: Store, version: str, index: int, model: str | None) -> dict[str, Any]:
    """Row ``index`` of ``version``: the features ``model`` reads (else every column but
    the key and the label), and the row's key and label for reference."""
    from assay.diagnostics.whatif import features_of
    from assay.errors import UsageError
    from assay.models.registry import load_model

    data = loaded(store, version)
    table = data.table
    if not 0 <= index < table.num_rows:
        raise UsageError(
            f"version {data.short} has {table.num_rows} rows; give a row from 0 to {table.num_rows - 1}"
        )
    if model:
        features = features_of(load_model(model, store=store), data)
    else:
        info = data.dataset
        features = [c for c in table.column_names if c not in info.key and c != info.label]
    values = table.slice(index, 1).to_pylist()[0]
    return {
        "version": data.fingerprint,
        "index": index,
        "rows": table.num_rows,
        "features": features,
        "row": {f: values[f] for f in features},
        "key": {k: values[k] for k in data.dataset.key},
        "label": values.get(data.dataset.label) if data.dataset.label else None,
    }
