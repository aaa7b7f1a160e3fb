"""Manifests: small JSON objects that make the store's objects self-describing.

Each committed delta and each recorded dataset version has a manifest among the
objects, written *before* the catalog row (objects first, then the catalog), holding
everything the catalog row holds. ``assay recover`` rebuilds a lost or damaged
catalog from them; see docs/identities.md ("Manifests") for the format.

- ``manifests/deltas/<dataset>/<number:08d>-<delta id>.json``: the dataset (name,
  key, label), its schema after the delta, the delta's catalog row, and the id of
  the delta before it (``previous``), which tells, after a crash or a lost race, which
  of two manifests for one number the history continued from.
- ``manifests/versions/<fingerprint>.json``: the version's catalog row.
- ``manifests/runs/<run id>.json``: the run as the catalog holds it (``RunInfo``:
  params, metrics and their history, inputs, artifacts, status, times).
- ``manifests/models/<name>/<version:08d>.json``: a model version's row (golden
  examples included, aliases not).
- ``manifests/aliases/<name>/<alias>.json``: the version an alias names.
- ``manifests/experiments/<name>.json``: an online experiment, its history of changes
  and its outcome files.

Runs, model versions, aliases and experiments change after they are first written (a
run logs metrics, a golden set is attached, an alias moves, weights are ramped, outcomes
are recorded), so their manifests are snapshots
rewritten after each committed change from the row read back (decision 47).

A manifest whose catalog row was never committed (a crash, a lost race) is
unreferenced like its object, and ``assay gc`` removes both after the grace period.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from assay.store.catalog import (
    Catalog,
    DatasetInfo,
    DeltaInfo,
    ExperimentChange,
    ExperimentInfo,
    GoldenRef,
    ModelVersion,
    OutcomesInfo,
    RunArtifact,
    RunInfo,
    RunInput,
    VersionInfo,
)
from assay.store.objects import ObjectStore

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_PREFIX",
    "alias_manifest_key",
    "delta_from_manifest",
    "delta_manifest_key",
    "experiment_from_manifest",
    "experiment_manifest_key",
    "live_manifests",
    "model_from_manifest",
    "model_manifest_key",
    "run_from_manifest",
    "run_manifest_key",
    "version_from_manifest",
    "version_manifest_key",
    "write_delta_manifest",
    "write_experiment_manifest",
    "write_model_manifests",
    "write_run_manifest",
    "write_version_manifest",
]

MANIFEST_FORMAT = "assay-manifest-v1"
MANIFEST_PREFIX = "manifests"


def delta_manifest_key(dataset: str, number: int, delta_id: str) -> str:
    """Where the manifest of delta ``number`` of ``dataset`` is stored."""
    return f"{MANIFEST_PREFIX}/deltas/{dataset}/{number:08d}-{delta_id}.json"


def version_manifest_key(fingerprint: str) -> str:
    """Where the manifest of a recorded dataset version is stored."""
    return f"{MANIFEST_PREFIX}/versions/{fingerprint}.json"


def run_manifest_key(run_id: str) -> str:
    """Where the manifest of run ``run_id`` is stored."""
    return f"{MANIFEST_PREFIX}/runs/{run_id}.json"


def model_manifest_key(name: str, version: int) -> str:
    """Where the manifest of model version ``name@version`` is stored."""
    return f"{MANIFEST_PREFIX}/models/{name}/{version:08d}.json"


def alias_manifest_key(name: str, alias: str) -> str:
    """Where the manifest of alias ``name@alias`` is stored."""
    return f"{MANIFEST_PREFIX}/aliases/{name}/{alias}.json"


def experiment_manifest_key(name: str) -> str:
    """Where the manifest of experiment ``name`` is stored."""
    return f"{MANIFEST_PREFIX}/experiments/{name}.json"


def _dump(doc: dict[str, Any]) -> bytes:
    # Key order is kept, not sorted: a recipe's split fractions are ordered by it.
    return json.dumps(doc, indent=1, ensure_ascii=True).encode()


def write_delta_manifest(
    objects: ObjectStore,
    info: DatasetInfo,
    delta: DeltaInfo,
    schema: Iterable[tuple[str, str]],
    previous: str | None,
) -> str:
    """Store the manifest of ``delta`` (about to be committed); its key."""
    key = delta_manifest_key(delta.dataset, delta.number, delta.delta_id)
    doc = {
        "format": MANIFEST_FORMAT,
        "kind": "delta",
        "dataset": {
            "name": info.name,
            "key": list(info.key),
            "label": info.label,
            "owner": info.owner,
            "domain": info.domain,
            "description": info.description,
        },
        "schema": [list(c) for c in schema],
        "previous": previous,
        "delta": _delta_doc(delta),
    }
    objects.put_bytes(key, _dump(doc))
    return key


def write_version_manifest(objects: ObjectStore, version: VersionInfo) -> str:
    """Store the manifest of ``version`` (about to be recorded) unless it is there; its key."""
    key = version_manifest_key(version.fingerprint)
    if not objects.exists(key):
        doc = {"format": MANIFEST_FORMAT, "kind": "version", "version": _version_doc(version)}
        objects.put_bytes(key, _dump(doc))
    return key


def write_run_manifest(objects: ObjectStore, run: RunInfo) -> str:
    """Store (or replace) the manifest of ``run`` as it is now; its key."""
    key = run_manifest_key(run.id)
    doc = dataclasses.asdict(run)
    doc["command"] = list(run.command)
    objects.put_bytes(key, _dump({"format": MANIFEST_FORMAT, "kind": "run", "run": doc}))
    return key


def write_model_manifests(objects: ObjectStore, model: ModelVersion) -> list[str]:
    """Store (or replace) the manifests of ``model`` and of the aliases naming it; keys."""
    doc = dataclasses.asdict(model)
    del doc["aliases"]  # an alias moves on its own: it has its own manifest
    key = model_manifest_key(model.name, model.version)
    objects.put_bytes(key, _dump({"format": MANIFEST_FORMAT, "kind": "model", "model": doc}))
    keys = [key]
    for alias in model.aliases:
        keys.append(alias_manifest_key(model.name, alias))
        alias_doc = {"name": model.name, "alias": alias, "version": model.version}
        objects.put_bytes(
            keys[-1], _dump({"format": MANIFEST_FORMAT, "kind": "alias", "alias": alias_doc})
        )
    return keys


def write_experiment_manifest(
    objects: ObjectStore,
    info: ExperimentInfo,
    changes: Iterable[ExperimentChange],
    outcomes: Iterable[OutcomesInfo],
) -> str:
    """Store (or replace) the manifest of experiment ``info`` as it is now: its record,
    every change and every outcome file; its key."""
    key = experiment_manifest_key(info.name)
    doc = {
        "format": MANIFEST_FORMAT,
        "kind": "experiment",
        "experiment": dataclasses.asdict(info),
        "changes": [dataclasses.asdict(c) for c in changes],
        "outcomes": [dataclasses.asdict(o) for o in outcomes],
    }
    objects.put_bytes(key, _dump(doc))
    return key


def _delta_doc(delta: DeltaInfo) -> dict[str, Any]:
    doc = dataclasses.asdict(delta)
    doc["tags"], doc["added_columns"] = list(delta.tags), list(delta.added_columns)
    return doc


def _version_doc(version: VersionInfo) -> dict[str, Any]:
    doc = dataclasses.asdict(version)
    doc["delta_ids"] = list(version.delta_ids)
    return doc


def delta_from_manifest(doc: dict[str, Any]) -> DeltaInfo:
    """The catalog row a delta manifest describes."""
    d = dict(doc["delta"])
    d["tags"], d["added_columns"] = tuple(d["tags"]), tuple(d["added_columns"])
    return DeltaInfo(**d)


def version_from_manifest(doc: dict[str, Any]) -> VersionInfo:
    """The catalog row a version manifest describes."""
    v = dict(doc["version"])
    v["delta_ids"] = tuple(v["delta_ids"])
    return VersionInfo(**v)


def run_from_manifest(doc: dict[str, Any]) -> RunInfo:
    """The run (with its inputs and artifacts) a run manifest describes."""
    r = dict(doc["run"])
    r["command"] = tuple(r["command"])
    r["inputs"] = tuple(RunInput(**i) for i in r["inputs"])
    r["artifacts"] = tuple(RunArtifact(**a) for a in r["artifacts"])
    return RunInfo(**r)


def model_from_manifest(doc: dict[str, Any]) -> ModelVersion:
    """The model version (without its aliases) a model manifest describes."""
    m = dict(doc["model"])
    m["golden"] = None if m["golden"] is None else GoldenRef(**m["golden"])
    return ModelVersion(**m)


def experiment_from_manifest(
    doc: dict[str, Any],
) -> tuple[ExperimentInfo, list[ExperimentChange], list[OutcomesInfo]]:
    """The experiment, its changes and its outcome files an experiment manifest describes."""
    outcomes = []
    for o in doc["outcomes"]:
        o = dict(o)
        o["columns"] = tuple(tuple(c) for c in o["columns"])
        outcomes.append(OutcomesInfo(**o))
    changes = [ExperimentChange(**c) for c in doc["changes"]]
    return ExperimentInfo(**doc["experiment"]), changes, outcomes


def live_manifests(catalog: Catalog) -> set[str]:
    """The manifest keys of every row the catalog names (gc keeps them)."""
    keys = {version_manifest_key(v.fingerprint) for v in catalog.list_versions()}
    keys.update(run_manifest_key(r.id) for r in catalog.list_runs())
    for m in catalog.list_model_versions():
        keys.add(model_manifest_key(m.name, m.version))
        keys.update(alias_manifest_key(m.name, a) for a in m.aliases)
    for info in catalog.list_datasets():
        for d in catalog.list_deltas(info.name):
            keys.add(delta_manifest_key(d.dataset, d.number, d.delta_id))
    keys.update(experiment_manifest_key(e.name) for e in catalog.list_experiments())
    return keys
