"""Store integrity: ``verify`` re-checks every object and reference; ``collect_garbage``
removes the objects nothing references.

``verify`` re-hashes every object the catalog names against the SHA-256 it recorded,
re-derives each delta's content id and key hashes from the rows it holds, and checks
that every recorded dataset version reads deltas that exist. It returns a
``VerifyReport`` whose ``problems`` carry a machine-readable ``Reason``; it raises
nothing for a damaged store, so every problem is reported at once.

An object that nothing references is not a problem: a writer that crashed (or is
still running) between storing an object and committing the catalog row that names
it leaves exactly that. ``collect_garbage`` removes such objects, and the temporary
files of interrupted writes, once they are older than a grace period, so that it
never removes the object of a write still in flight.

``recover`` rebuilds a lost or damaged catalog from the manifests written beside the
objects (``assay.store.manifests``): the same deltas and dataset versions, under the
same ids and fingerprints, then the runs, model versions and aliases.

The prediction logs of experiments (``experiments/<name>/log/…``) are named by nothing
in the catalog by design (servers write them without it): verify does not count them,
gc keeps them (a temporary file of an interrupted write among them excepted), and
recover leaves them where they are without listing them. Experiments, their history and
their outcome files are restored from their manifests.

Known limits: a writer that re-puts an *old* unreferenced object (same content
again) in the instant between gc's listing and its delete can lose it, and gc cannot
see unfinished S3 multipart uploads (give the bucket a lifecycle rule for those).
Run gc when no writer is busy to rule out the first.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from assay.data.compose import fingerprint
from assay.data.deltas import (
    HASH_COLUMN,
    UPD_COLUMN,
    KeyHashes,
    delta_key_hashes,
    delta_object_key,
    key_history,
)
from assay.data.hashing import as_is_content_id, content_id, key_hash
from assay.data.keyindex import PREFIX as INDEX_PREFIX
from assay.data.keyindex import live_index_keys, verify_runs
from assay.data.recipe import load_recipe
from assay.errors import AssayError, NotFound, UsageError
from assay.experiments.log import log_prefix
from assay.results import GateStatus, ReasonCode, verdict
from assay.store import DatasetInfo, DeltaInfo, Store, VersionInfo
from assay.store.catalog import (
    DEFAULT_DOMAIN,
    Catalog,
    ExperimentChange,
    ExperimentInfo,
    ModelVersion,
    OutcomesInfo,
    RunInfo,
)
from assay.store.manifests import (
    MANIFEST_FORMAT,
    MANIFEST_PREFIX,
    delta_from_manifest,
    experiment_from_manifest,
    live_manifests,
    model_from_manifest,
    run_from_manifest,
    version_from_manifest,
)
from assay.store.objects import TMP_MARK, ObjectInfo, ObjectStore
from assay.store.verified import Verifier

__all__ = [
    "DEFAULT_GRACE",
    "GcReport",
    "Problem",
    "Reason",
    "RecoverReport",
    "VerifyReport",
    "collect_garbage",
    "recover",
    "verify",
]

DEFAULT_GRACE = 3600.0  # seconds an unreferenced object is kept: longer than any write
_BLOCK = 1 << 20
#: Objects under this prefix are derived caches, named by what they were computed from:
#: nothing in the catalog names them, so verify does not count them and gc keeps them.
CACHE_PREFIX = "cache/"

Progress = Callable[[str, int, int], None]  # (what, done, total)


def _is_log(key: str) -> bool:
    """Whether ``key`` is a prediction-log object (not a temporary file of one)."""
    parts = key.split("/", 2)
    return len(parts) == 3 and key.startswith(log_prefix(parts[1])) and TMP_MARK not in key


class Reason(ReasonCode):
    """Why ``verify`` reports a problem."""

    MISSING_OBJECT = "missing_object"  # the catalog names an object that is not stored
    HASH_MISMATCH = "hash_mismatch"  # the stored bytes do not hash to the recorded SHA-256
    UNREADABLE_OBJECT = "unreadable_object"  # a delta's object is not readable Parquet
    CONTENT_MISMATCH = "content_mismatch"  # a delta's rows do not hash to its id
    KEY_HASH_MISMATCH = "key_hash_mismatch"  # the stored key hashes differ from the keys'
    UPSERT_FLAGS_MISMATCH = "upsert_flags_mismatch"  # update/add marks disagree with history
    MISPLACED_OBJECT = "misplaced_object"  # a delta's object key is not the one its id gives
    DANGLING_VERSION = "dangling_version"  # a recorded version reads a delta that is gone
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"  # a version's deltas no longer hash to it
    INDEX_MISMATCH = "index_mismatch"  # a key index run differs from the deltas it covers


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong: why, where (object key or version), and what."""

    reason: Reason
    key: str  # the object key, or the version fingerprint for version problems
    message: str
    dataset: str | None = None
    delta: str | None = None  # the delta's name, for delta problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason.value,
            "key": self.key,
            "message": self.message,
            "dataset": self.dataset,
            "delta": self.delta,
        }


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` checked, and the problems it found (none: the store is sound)."""

    problems: tuple[Problem, ...]
    objects: int  # referenced objects re-hashed
    bytes: int  # bytes re-hashed
    deltas: int
    versions: int
    unreferenced: int  # stored objects nothing names: `collect_garbage`'s, not a problem

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def passed(self) -> bool:
        return self.ok

    @property
    def status(self) -> GateStatus:
        return verdict(self.ok)

    @property
    def reasons(self) -> list[ReasonCode]:
        return [p.reason for p in self.problems]

    def summary(self) -> str:
        """One line: what was checked and how many problems it has."""
        found = f"{len(self.problems):,} problem(s)" if self.problems else "no problems"
        return (
            f"{found} in {self.objects:,} object(s), {self.deltas:,} delta(s), "
            f"{self.versions:,} version(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "objects": self.objects,
            "bytes": self.bytes,
            "deltas": self.deltas,
            "versions": self.versions,
            "unreferenced": self.unreferenced,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class GcReport:
    """What ``collect_garbage`` removed (or, with ``dry_run``, would remove)."""

    removed: tuple[ObjectInfo, ...]
    kept_recent: tuple[ObjectInfo, ...]  # unreferenced, but younger than the grace period
    referenced: int
    dry_run: bool
    grace: float

    @property
    def bytes_freed(self) -> int:
        return sum(o.size for o in self.removed)

    def to_dict(self) -> dict[str, Any]:
        def row(o: ObjectInfo) -> dict[str, Any]:
            return {"key": o.key, "bytes": o.size, "temporary": TMP_MARK in o.key}

        return {
            "dry_run": self.dry_run,
            "grace_seconds": self.grace,
            "removed": [row(o) for o in self.removed],
            "bytes_freed": self.bytes_freed,
            "kept_recent": [row(o) for o in self.kept_recent],
            "referenced": self.referenced,
        }


# verify -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    """An object the catalog names: the hashes recorded for it, and the deltas it holds."""

    key: str
    sha256: frozenset[str]
    deltas: tuple[tuple[DatasetInfo, DeltaInfo], ...]


def verify(store: Store, *, progress: Progress | None = None, workers: int = 4) -> VerifyReport:
    """Re-hash every referenced object and check every catalog reference.

    Objects are checked ``workers`` at a time (remote stores are latency-bound);
    ``progress`` is called as ``("verifying objects", done, total)``.
    """
    catalog = store.catalog
    refs = _references(store)
    problems: list[Problem] = []
    total_bytes = 0
    done = 0
    if progress:
        progress("verifying objects", 0, len(refs))
    sound: set[str] = set()  # objects that just hashed to what the catalog recorded
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checked = pool.map(lambda r: _check_object(store, r), refs)
        for ref, (found, size) in zip(refs, checked, strict=True):
            problems.extend(found)
            total_bytes += size
            if not any(p.reason in (Reason.MISSING_OBJECT, Reason.HASH_MISMATCH) for p in found):
                sound.add(ref.key)
            done += 1
            if progress:
                progress("verifying objects", done, len(refs))

    versions = catalog.list_versions()
    deltas_of: dict[str, list[DeltaInfo]] = defaultdict(list)
    for ref in refs:
        for info, d in ref.deltas:
            deltas_of[info.name].append(d)
    for info in catalog.list_datasets():
        deltas_of.setdefault(info.name, [])
    verifier = Verifier(store.objects, confirmed=sound)  # no second hash of a local object
    for name in sorted(deltas_of):
        problems.extend(_check_upsert_flags(store, sorted(deltas_of[name], key=_number), verifier))
        problems.extend(_check_index(store, name))
    for v in versions:
        problems.extend(_check_version(v, deltas_of.get(v.dataset, [])))

    named = {r.key for r in refs} | live_manifests(catalog) | live_index_keys(catalog)
    unreferenced = sum(
        1
        for key in store.objects.list()
        if key not in named and not key.startswith(CACHE_PREFIX) and not _is_log(key)
    )
    return VerifyReport(
        problems=tuple(problems),
        objects=len(refs),
        bytes=total_bytes,
        deltas=sum(len(r.deltas) for r in refs),
        versions=len(versions),
        unreferenced=unreferenced,
    )


def _references(store: Store) -> list[_Ref]:
    shas: dict[str, set[str]] = defaultdict(set)
    deltas: dict[str, list[tuple[DatasetInfo, DeltaInfo]]] = defaultdict(list)
    for key, sha in store.catalog.referenced_objects().items():
        shas[key].add(sha)
    for info in store.catalog.list_datasets():
        for d in store.catalog.list_deltas(info.name):
            shas[d.object_key].add(d.object_sha256)
            deltas[d.object_key].append((info, d))
    return [_Ref(key, frozenset(shas[key]), tuple(deltas.get(key, ()))) for key in sorted(shas)]


def _check_object(store: Store, ref: _Ref) -> tuple[list[Problem], int]:
    """The problems of one referenced object, and how many bytes it holds."""

    only = ref.deltas[0][1] if len(ref.deltas) == 1 else None

    def problem(reason: Reason, message: str, d: DeltaInfo | None = only) -> Problem:
        return Problem(reason, ref.key, message, d.dataset if d else None, d.name if d else None)

    names = ", ".join(f"delta {d.name!r} of {d.dataset!r}" for _, d in ref.deltas) or "it"
    local = store.objects.local_path(ref.key)
    data: bytes | None = None
    try:
        if local is not None or not ref.deltas:
            with store.objects.open(ref.key) as f:
                sha, size = _sha256(f)
        else:  # a remote delta object: fetch it once, for the hash and for its rows
            data = store.objects.get_bytes(ref.key)
            sha, size = hashlib.sha256(data).hexdigest(), len(data)
    except (NotFound, FileNotFoundError):
        return [
            problem(
                Reason.MISSING_OBJECT, f"the object is missing; the catalog names it for {names}"
            )
        ], 0
    problems = [
        problem(
            Reason.HASH_MISMATCH,
            f"the stored bytes hash to {sha[:12]}, the catalog recorded {want[:12]} for {names}",
        )
        for want in sorted(ref.sha256)
        if want != sha
    ]
    if not ref.deltas:
        return problems, size
    try:
        source: Any = local if local is not None else pa.BufferReader(data)
        table = pq.read_table(source)
    except Exception as e:  # any damage to the file: report it, verify goes on
        for _, d in ref.deltas:
            problems.append(problem(Reason.UNREADABLE_OBJECT, f"cannot read its rows ({e})", d))
        return problems, size
    for info, d in ref.deltas:
        problems.extend(
            problem(reason, text, d) for reason, text in _check_rows(info, d, ref.key, table)
        )
    return problems, size


def _check_rows(
    info: DatasetInfo, d: DeltaInfo, key: str, table: pa.Table
) -> Iterable[tuple[Reason, str]]:
    """Check a delta's stored rows against its id, row count and key hashes."""
    if key not in (delta_object_key(d.delta_id), delta_object_key(d.delta_id, d.object_sha256)):
        yield (
            Reason.MISPLACED_OBJECT,
            f"delta {d.short_id} should be stored under {delta_object_key(d.delta_id)}",
        )
    if table.num_rows != d.row_count:
        yield (
            Reason.CONTENT_MISMATCH,
            f"holds {table.num_rows} rows, the catalog recorded {d.row_count}",
        )
        return
    if d.as_is:
        yield from _check_as_is(info, d, table)
        return
    rows = table.drop_columns([c for c in table.column_names if c.startswith("_assay_")])
    try:
        found = content_id(rows, op=d.op, key=info.key)
    except Exception as e:  # a column of a type or shape assay never writes
        yield Reason.CONTENT_MISMATCH, f"its rows cannot be hashed ({e})"
        return
    if found != d.delta_id:
        yield (
            Reason.CONTENT_MISMATCH,
            f"its rows hash to {found[:12]}, not to the delta id {d.short_id}",
        )
        return
    if d.op == "upsert" and UPD_COLUMN not in table.column_names:
        yield Reason.CONTENT_MISMATCH, f"an upsert without its {UPD_COLUMN} column"
    if HASH_COLUMN not in table.column_names:
        yield Reason.KEY_HASH_MISMATCH, f"the {HASH_COLUMN} column is missing"
        return
    stored = table.column(HASH_COLUMN).to_numpy()
    wrong = int(np.count_nonzero(stored != key_hash(rows, info.key)))
    if wrong:
        yield (
            Reason.KEY_HASH_MISMATCH,
            f"{wrong} of {len(stored)} stored key hashes differ from the keys' hashes",
        )


def _check_as_is(info: DatasetInfo, d: DeltaInfo, table: pa.Table) -> Iterable[tuple[Reason, str]]:
    """Check a delta stored as given: its id names its bytes' hash (which the object's
    check confirmed), and its keys are present and distinct."""
    if d.delta_id != as_is_content_id(d.object_sha256, op=d.op, key=info.key):
        yield Reason.CONTENT_MISMATCH, f"its bytes' hash does not give the delta id {d.short_id}"
        return
    missing = [k for k in info.key if k not in table.column_names]
    if missing:
        yield Reason.CONTENT_MISMATCH, f"it lacks the key column(s) {', '.join(missing)}"
        return
    if any(table.column(k).null_count for k in info.key):
        yield Reason.CONTENT_MISMATCH, "a row has no key"
        return
    hashes = np.sort(key_hash(table, info.key))
    repeated = int(np.count_nonzero(hashes[1:] == hashes[:-1]))
    if repeated:
        yield Reason.CONTENT_MISMATCH, f"{repeated} row(s) repeat a key"


def _number(d: DeltaInfo) -> int:
    return d.number


def _check_upsert_flags(store: Store, deltas: list[DeltaInfo], verifier: Verifier) -> list[Problem]:
    """Re-derive each upsert's update/add marks from the deltas before it."""
    cache: KeyHashes = {}
    problems: list[Problem] = []
    for i, d in enumerate(deltas):
        if d.op != "upsert":
            continue
        try:
            cache[d.number] = delta_key_hashes(store, d, verifier)
            hashes, flags = cache[d.number]
            _, live = key_history(store, deltas[:i], hashes, cache, verifier)
        except Exception:  # a missing or unreadable object, already reported
            break
        wrong = int(np.count_nonzero(flags != live)) if flags is not None else 0
        if wrong:
            problems.append(
                Problem(
                    Reason.UPSERT_FLAGS_MISMATCH,
                    d.object_key,
                    f"{wrong} of {len(hashes)} rows are marked update/add against the "
                    "dataset's history; composing would apply them wrongly",
                    d.dataset,
                    d.name,
                )
            )
    return problems


def _check_index(store: Store, dataset: str) -> list[Problem]:
    """The stored key index runs of ``dataset`` that differ from their deltas."""
    try:
        wrong = list(verify_runs(store, store.catalog.list_deltas(dataset)))
    except AssayError:  # a missing or damaged delta object, already reported
        return []
    return [
        Problem(
            Reason.INDEX_MISMATCH,
            key,
            f"key index run {what}; delete the object: assay rebuilds it from the deltas",
            dataset,
        )
        for key, what in wrong
    ]


def _check_version(v: VersionInfo, deltas: list[DeltaInfo]) -> list[Problem]:
    by_id = {d.delta_id: d for d in deltas}
    missing = [i for i in v.delta_ids if i not in by_id]
    if missing:
        return [
            Problem(
                Reason.DANGLING_VERSION,
                v.fingerprint,
                f"version {v.fingerprint[:12]} reads {len(missing)} delta(s) the catalog lacks "
                f"(e.g. {missing[0][:12]})",
                v.dataset,
            )
        ]
    try:
        again = fingerprint(load_recipe(v.recipe), [by_id[i] for i in v.delta_ids])
    except Exception as e:  # a recorded recipe this assay cannot read
        again = f"(its recipe does not load: {e})"
    if again != v.fingerprint:
        return [
            Problem(
                Reason.FINGERPRINT_MISMATCH,
                v.fingerprint,
                f"version {v.fingerprint[:12]} no longer hashes to its fingerprint: {again[:60]}",
                v.dataset,
            )
        ]
    return []


def _sha256(f: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for block in iter(lambda: f.read(_BLOCK), b""):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


# gc -----------------------------------------------------------------------------------


def collect_garbage(
    store: Store,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    now: float | None = None,
    caches: bool = False,
) -> GcReport:
    """Remove the objects nothing references, once they are older than ``grace`` seconds.

    Derived caches (under ``cache/``: incremental check states) are referenced by nothing
    and kept unless ``caches``; they are rebuilt when next needed. Prediction logs are
    referenced by nothing either, and always kept.

    Temporary files of interrupted writes count as unreferenced objects. An
    unreferenced object younger than ``grace`` is kept: a writer may have stored it
    and not yet committed the row that names it. Writers renew the modification time
    of an object they reuse, so a commit within ``grace`` of its write is safe.
    """
    if grace < 0:
        raise UsageError(f"grace {grace} is negative; give the seconds to keep new objects")
    # List before reading the catalog: an object stored after the listing is not seen,
    # and one listed and committed before the catalog is read counts as referenced.
    listed = list(store.objects.list_info())
    referenced = set(store.catalog.referenced_objects()) | live_manifests(store.catalog)
    referenced |= live_index_keys(store.catalog)  # derived, but what readers use now
    now = time.time() if now is None else now
    removed: list[ObjectInfo] = []
    recent: list[ObjectInfo] = []
    for obj in listed:
        if obj.key in referenced or (obj.key.startswith(CACHE_PREFIX) and not caches):
            continue
        if _is_log(obj.key):  # named by nothing by design, and never derived: kept
            continue
        (recent if now - obj.modified < grace else removed).append(obj)
    if not dry_run:
        for obj in removed:
            store.objects.delete(obj.key)
    return GcReport(
        removed=tuple(removed),
        kept_recent=tuple(recent),
        referenced=len(listed) - len(removed) - len(recent),
        dry_run=dry_run,
        grace=grace,
    )


# recover ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoverReport:
    """What ``recover`` rebuilt, from which manifests, and what it could not attribute."""

    catalog: str  # the rebuilt catalog's URL
    moved_to: str | None  # where the damaged catalog file was moved (never deleted)
    datasets: tuple[str, ...]
    deltas: int
    versions: int
    skipped: tuple[str, ...]  # manifests not replayed, each with why
    unattributed: tuple[str, ...]  # objects no recovered row or manifest names
    runs: int = 0
    models: int = 0  # model versions
    aliases: int = 0
    experiments: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog": self.catalog,
            "moved_to": self.moved_to,
            "datasets": list(self.datasets),
            "deltas": self.deltas,
            "versions": self.versions,
            "runs": self.runs,
            "models": self.models,
            "aliases": self.aliases,
            "experiments": self.experiments,
            "skipped": list(self.skipped),
            "unattributed": list(self.unattributed),
        }


def recover(url: str | None = None, *, force: bool = False) -> RecoverReport:
    """Rebuild the catalog of the store at ``url`` from the manifests among its objects.

    A SQLite catalog file is moved aside to ``catalog.db.damaged-<UTC time>``, never
    deleted; a PostgreSQL catalog is rebuilt into the database the store names, which
    must be empty. A catalog that reads soundly is left alone unless ``force``.
    Datasets, deltas and dataset versions are restored exactly (same ids, same
    fingerprints), then runs, model versions (same numbers), aliases and experiments
    (with their history and outcome files); checks, evaluations and stored predictions
    are not (their objects stay, listed as unattributed; prediction logs stay and are
    not listed).
    Objects written before manifests existed cannot be attributed either.
    """
    import os

    from assay.store import locate, sqlite_file, without_password
    from assay.store.catalog import open_catalog
    from assay.store.objects import open_object_store

    root, _, catalog_url = locate(url)
    objects = open_object_store(f"{root}/objects")
    # Read everything first: nothing is moved if the manifests cannot be read.
    deltas, versions, registry, skipped = _read_manifests(objects)

    moved_to = None
    file = sqlite_file(catalog_url)
    if file is not None and os.path.exists(file):
        if not force and os.path.getsize(file) and _catalog_sound(catalog_url):
            raise UsageError(
                f"catalog {file} reads soundly; recover only rebuilds a lost or damaged "
                "catalog (pass --force to rebuild it anyway; the old one is moved aside)"
            )
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved_to = f"{file}.damaged-{stamp}"
        for suffix in ("", "-wal", "-shm"):  # SQLite's side files belong to the old file
            if os.path.exists(file + suffix):
                os.replace(file + suffix, moved_to + suffix)
    catalog = open_catalog(catalog_url, create=True)
    try:
        if file is None and (catalog.list_datasets() or catalog.list_versions()):
            raise UsageError(
                f"catalog {without_password(catalog_url)} is not empty; recover rebuilds into "
                "an empty database only: create one and point the store's assay.json at it"
            )
        recovered = _replay(catalog, deltas, versions, skipped)
        runs, models, aliases = _replay_registry(catalog, registry, skipped)
        for info, changes, outcomes in sorted(registry.experiments, key=lambda e: e[0].name):
            catalog.restore_experiment(info, changes, outcomes)
        named = set(catalog.referenced_objects())
    finally:
        catalog.close()
    unattributed = tuple(
        k
        for k in objects.list()
        if k not in named
        and not k.startswith((f"{MANIFEST_PREFIX}/", f"{INDEX_PREFIX}/", CACHE_PREFIX))
        and TMP_MARK not in k
        and not _is_log(k)
    )  # manifests are what recover read; the key index and caches are derived; logs stay
    return RecoverReport(
        catalog=without_password(catalog_url),  # printed: the password comes from the environment
        moved_to=moved_to,
        datasets=tuple(sorted({d.dataset for d in recovered})),
        deltas=len(recovered),
        versions=sum(1 for v in versions if v.fingerprint not in _skipped_versions(skipped)),
        skipped=tuple(skipped),
        unattributed=unattributed,
        runs=runs,
        models=models,
        aliases=aliases,
        experiments=len(registry.experiments),
    )


def _catalog_sound(catalog_url: str) -> bool:
    """Whether a SQLite catalog opens, passes SQLite's own check, and lists its rows."""
    from assay.errors import AssayError
    from assay.store.catalog import SqlCatalog, open_catalog

    try:
        catalog = open_catalog(catalog_url)
    except AssayError:
        return False
    try:
        assert isinstance(catalog, SqlCatalog)
        with catalog.engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA quick_check").scalar() != "ok":
                return False
        for info in catalog.list_datasets():
            catalog.list_deltas(info.name)
        catalog.list_versions()
        return True
    except Exception:  # any failure to read it is damage
        return False
    finally:
        catalog.close()


_Manifest = dict[str, Any]


@dataclass
class _Registry:
    """The runs, model versions and alias positions the manifests describe."""

    runs: list[RunInfo]
    models: list[ModelVersion]
    aliases: list[dict[str, Any]]  # {"name", "alias", "version"}
    experiments: list[tuple[ExperimentInfo, list[ExperimentChange], list[OutcomesInfo]]]


def _read_manifests(
    objects: ObjectStore,
) -> tuple[list[_Manifest], list[VersionInfo], _Registry, list[str]]:
    import json

    deltas: list[_Manifest] = []
    versions: list[VersionInfo] = []
    registry = _Registry([], [], [], [])
    skipped: list[str] = []
    for key in objects.list(f"{MANIFEST_PREFIX}/"):
        if not key.endswith(".json") or TMP_MARK in key:
            continue
        try:
            doc = json.loads(objects.get_bytes(key))
            if doc.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            if doc["kind"] == "delta":
                delta_from_manifest(doc)  # check that it describes a row
                deltas.append(doc)
            elif doc["kind"] == "version":
                versions.append(version_from_manifest(doc))
            elif doc["kind"] == "run":
                registry.runs.append(run_from_manifest(doc))
            elif doc["kind"] == "model":
                registry.models.append(model_from_manifest(doc))
            elif doc["kind"] == "experiment":
                registry.experiments.append(experiment_from_manifest(doc))
            elif doc["kind"] == "alias":
                alias = doc["alias"]
                registry.aliases.append(
                    {"name": alias["name"], "alias": alias["alias"], "version": alias["version"]}
                )
            else:
                raise ValueError(f"kind {doc['kind']!r}")
        except Exception as e:  # a damaged manifest: say so, recover the rest
            skipped.append(f"{key}: unreadable ({type(e).__name__}: {e})")
    return deltas, versions, registry, skipped


def _replay(
    catalog: Catalog, docs: list[_Manifest], versions: list[VersionInfo], skipped: list[str]
) -> list[DeltaInfo]:
    """Commit each dataset's chain of deltas in order, then the versions that read them."""
    by_dataset: dict[str, dict[int, list[_Manifest]]] = defaultdict(lambda: defaultdict(list))
    for doc in docs:
        by_dataset[doc["dataset"]["name"]][doc["delta"]["number"]].append(doc)
    recovered: list[DeltaInfo] = []
    for name in sorted(by_dataset):
        numbers = by_dataset[name]
        chain = _chain(numbers, skipped)
        if not chain:
            continue
        ds = chain[0]["dataset"]
        # Manifests written before issue 18 have no owner, domain or description.
        catalog.create_dataset(
            name,
            ds["key"],
            ds["label"],
            owner=ds.get("owner"),
            domain=ds.get("domain", DEFAULT_DOMAIN),
            description=ds.get("description", ""),
        )
        for doc in chain:
            recovered.append(
                catalog.commit_delta(delta_from_manifest(doc), [tuple(c) for c in doc["schema"]])
            )
    by_id = {(d.dataset, d.delta_id): d for d in recovered}
    for v in sorted(versions, key=lambda v: v.created_at):
        chosen = [by_id.get((v.dataset, i)) for i in v.delta_ids]
        if any(d is None for d in chosen):
            skipped.append(f"version {v.fingerprint}: reads a delta no manifest restores")
            continue
        if fingerprint(load_recipe(v.recipe), [d for d in chosen if d]) != v.fingerprint:
            skipped.append(f"version {v.fingerprint}: its recipe and deltas no longer hash to it")
            continue
        catalog.record_version(v)
    return recovered


def _replay_registry(
    catalog: Catalog, registry: _Registry, skipped: list[str]
) -> tuple[int, int, int]:
    """Insert the runs (after the versions they read), then each model's versions in
    number order (after the runs they name), then the aliases; how many of each."""
    recorded = {v.fingerprint for v in catalog.list_versions()}
    runs: set[str] = set()
    for run in sorted(registry.runs, key=lambda r: (r.started_at, r.id)):
        lost = [i.fingerprint for i in run.inputs if i.fingerprint not in recorded]
        if lost:
            skipped.append(f"run {run.id}: read dataset version {lost[0][:12]}, not restored")
            continue
        catalog.restore_run(run)
        runs.add(run.id)
    by_name: dict[str, list[ModelVersion]] = defaultdict(list)
    for m in registry.models:
        by_name[m.name].append(m)
    models: set[tuple[str, int]] = set()
    for name in sorted(by_name):
        # The catalog numbers versions 1, 2, …: a gap would renumber the rest, so the
        # versions after one that cannot be restored are skipped, not shifted.
        restored = 0
        for m in sorted(by_name[name], key=lambda m: m.version):
            if m.version != restored + 1:
                skipped.append(f"model {m.ref}: an earlier version of {name!r} is not restored")
            elif m.run_id is not None and m.run_id not in runs:
                skipped.append(f"model {m.ref}: its run {m.run_id} is not restored")
            else:
                catalog.register_model_version(m)
                models.add((name, m.version))
                restored += 1
    aliases = 0
    for a in sorted(registry.aliases, key=lambda a: (a["name"], a["alias"])):
        if (a["name"], a["version"]) not in models:
            skipped.append(f"alias {a['name']}@{a['alias']}: version {a['version']} not restored")
            continue
        catalog.set_model_alias(a["name"], a["version"], a["alias"])
        aliases += 1
    return len(runs), len(models), aliases


def _chain(numbers: dict[int, list[_Manifest]], skipped: list[str]) -> list[_Manifest]:
    """A dataset's history: delta 1, 2, … each built on the one before it.

    Two manifests for one number come from a crash before a commit or a lost race;
    the one the next delta names as ``previous`` is the history, else the earliest.
    """
    chain: list[_Manifest] = []
    previous = None
    for n in sorted(numbers):
        fits = [c for c in numbers[n] if c["previous"] == previous]
        if n != len(chain) + 1 or not fits:
            for c in numbers[n]:
                skipped.append(
                    f"delta {c['delta']['name']!r} of {c['dataset']['name']!r} "
                    f"(number {n}): does not continue the recovered history"
                )
            continue
        following = {c["previous"] for c in numbers.get(n + 1, [])}
        fits.sort(key=lambda c: (c["delta"]["delta_id"] not in following, c["delta"]["created_at"]))
        chain.append(fits[0])
        previous = fits[0]["delta"]["delta_id"]
        for c in fits[1:]:
            skipped.append(
                f"delta {c['delta']['name']!r} of {c['dataset']['name']!r} (number {n}): "
                "another delta holds that number (a crash or a lost race left it)"
            )
    return chain


def _skipped_versions(skipped: list[str]) -> set[str]:
    return {s.split()[1].rstrip(":") for s in skipped if s.startswith("version ")}
