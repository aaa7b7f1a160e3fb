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

A manifest whose catalog row was never committed (a crash, a lost race) is
unreferenced like its object, and ``assay gc`` removes both after the grace period.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from assay.store.catalog import Catalog, DatasetInfo, DeltaInfo, VersionInfo
from assay.store.objects import ObjectStore

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_PREFIX",
    "delta_from_manifest",
    "delta_manifest_key",
    "live_manifests",
    "version_from_manifest",
    "version_manifest_key",
    "write_delta_manifest",
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
        "dataset": {"name": info.name, "key": list(info.key), "label": info.label},
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


def live_manifests(catalog: Catalog) -> set[str]:
    """The manifest keys of every delta and version the catalog names (gc keeps them)."""
    keys = {version_manifest_key(v.fingerprint) for v in catalog.list_versions()}
    for info in catalog.list_datasets():
        for d in catalog.list_deltas(info.name):
            keys.add(delta_manifest_key(d.dataset, d.number, d.delta_id))
    return keys
