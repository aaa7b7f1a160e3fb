"""`verify` finds every kind of damage and `gc` removes exactly what nothing references."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import assay
from assay.data.keyindex import live_index_keys
from assay.errors import UsageError
from assay.integrity import Reason, VerifyReport, collect_garbage, verify
from assay.store import open_catalog
from assay.store.manifests import live_manifests
from assay.store.objects import open_object_store

ASSAY = Path(sys.executable).parent / "assay"
HOUR = 3600.0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with `t`: base, an upsert, a delete, and two recorded versions."""
    root = tmp_path_factory.mktemp("template")
    with assay.init_store(root / ".assay") as store:
        build(store, root)
    return root / ".assay"


@pytest.fixture
def built(template: Path, tmp_path: Path) -> Iterator[assay.Store]:
    """A fresh copy of the template store (a local folder)."""
    shutil.copytree(template, tmp_path / ".assay")
    with assay.open_store(tmp_path / ".assay") as store:
        yield store


@pytest.fixture(params=["local", "s3"])
def built_any(
    request: pytest.FixtureRequest, template: Path, tmp_path: Path
) -> Iterator[assay.Store]:
    """A fresh copy of the template store, its objects in a local folder or on S3."""
    if request.param == "local":
        yield request.getfixturevalue("built")
        return
    url = request.getfixturevalue("s3_bucket")
    for db in template.glob("catalog.db*"):
        shutil.copy(db, tmp_path / db.name)
    objects = open_object_store(f"{url}/objects")
    for path in (template / "objects").rglob("*.parquet"):
        objects.put_file(str(path.relative_to(template / "objects")), path)
    with assay.Store(url, objects, open_catalog(f"sqlite:///{tmp_path}/catalog.db")) as store:
        yield store


def build(store: assay.Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    assay.create_dataset(store, "t", ["id"], label="y")
    # Random doubles do not compress: a flipped byte in their page changes a value.
    base = pa.table({"id": np.arange(1000), "v": rng.random(1000), "y": rng.integers(0, 2, 1000)})
    pq.write_table(base, tmp_path / "base.parquet")
    assay.add_delta(store, "t", tmp_path / "base.parquet")
    fix = pa.table({"id": np.arange(990, 1010), "v": np.full(20, -1.0), "y": np.ones(20, int)})
    pq.write_table(fix, tmp_path / "fix.parquet")
    assay.add_delta(store, "t", tmp_path / "fix.parquet", op="upsert")
    pq.write_table(pa.table({"id": np.arange(10)}), tmp_path / "gone.parquet")
    assay.add_delta(store, "t", tmp_path / "gone.parquet", op="delete")
    assay.compose({"dataset": "t"}, store=store)
    assay.compose({"dataset": "t", "deltas": {"exclude": ["gone"]}}, store=store)


def key_of(store: assay.Store, name: str) -> str:
    return next(d.object_key for d in store.catalog.list_deltas("t") if d.name == name)


def found(report: VerifyReport) -> list[tuple[str, str]]:
    return sorted((p.reason.value, p.key) for p in report.problems)


def execute(sql: str, store: assay.Store, **params: object) -> None:
    """Change the catalog behind assay's back, as a hand edit or a bad migration would."""
    with store.catalog.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text(sql), params)


def rewrite(store: assay.Store, key: str, table: pa.Table, tmp_path: Path) -> None:
    """Store ``table`` under ``key`` and make the catalog record its hash (so only the
    row-level checks can tell)."""
    path = tmp_path / "rewritten.parquet"
    pq.write_table(table, path)
    store.objects.put_file(key, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    execute(
        "UPDATE deltas SET object_sha256 = :sha WHERE object_key = :key", store, sha=sha, key=key
    )


def stored(store: assay.Store, key: str) -> pa.Table:
    return pq.read_table(pa.BufferReader(store.objects.get_bytes(key)))


def replace_column(table: pa.Table, name: str, values: np.ndarray) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(values, table.schema.field(name).type))


# verify ---------------------------------------------------------------------------------


def test_a_sound_store_verifies(built_any: assay.Store) -> None:
    report = verify(built_any)
    assert report.ok and found(report) == []
    sizes = {o.key: o.size for o in built_any.objects.list_info()}
    # Manifests are not hashed; key index runs are re-derived from the deltas, not hashed.
    sizes = {k: n for k, n in sizes.items() if not k.startswith(("manifests/", "index/"))}
    assert (report.objects, report.deltas, report.versions) == (3, 3, 2)
    assert report.bytes == sum(sizes.values()) and report.unreferenced == 0
    assert report.to_dict()["problems"] == [] and report.to_dict()["ok"] is True


def test_a_flipped_byte_fails_the_hash_and_the_rows(built_any: assay.Store) -> None:
    key = key_of(built_any, "base")
    data = bytearray(built_any.objects.get_bytes(key))
    meta = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata
    v = meta.row_group(0).column(meta.schema.names.index("v"))
    start = v.dictionary_page_offset or v.data_page_offset  # unique floats: no dictionary
    data[start + v.total_compressed_size // 2] ^= 0x01  # inside the values
    built_any.objects.put_bytes(key, bytes(data))
    report = verify(built_any)
    assert found(report) == [("content_mismatch", key), ("hash_mismatch", key)]
    assert {(p.dataset, p.delta) for p in report.problems} == {("t", "base")}


def test_rows_that_no_longer_hash_to_the_delta_id(built: assay.Store, tmp_path: Path) -> None:
    key = key_of(built, "base")
    table = stored(built, key)
    v = table.column("v").to_numpy().copy()
    v[500] += 1.0
    rewrite(built, key, replace_column(table, "v", v), tmp_path)
    assert found(verify(built)) == [("content_mismatch", key)]
    # A row lost (id 0: deleted later, so the upsert's flags still agree).
    rewrite(built, key, table.slice(1), tmp_path)
    report = verify(built)
    assert found(report) == [("content_mismatch", key)]
    assert "holds 999 rows, the catalog recorded 1000" in report.problems[0].message


def test_stored_key_hashes_must_match_the_keys(built: assay.Store, tmp_path: Path) -> None:
    key = key_of(built, "base")
    table = stored(built, key)
    h = table.column("_assay_key_hash").to_numpy().copy()
    h[[3, 700]] = h[[700, 3]]
    rewrite(built, key, replace_column(table, "_assay_key_hash", h), tmp_path)
    report = verify(built)
    assert found(report) == [("key_hash_mismatch", key)]
    assert report.problems[0].message.startswith("2 of 1000 stored key hashes differ")


def test_upsert_flags_must_match_the_history(built: assay.Store, tmp_path: Path) -> None:
    key = key_of(built, "fix")
    table = stored(built, key)
    flags = table.column("_assay_upd").to_numpy(zero_copy_only=False)
    assert flags.tolist() == [True] * 10 + [False] * 10  # 990–999 existed, 1000–1009 are new
    rewrite(built, key, replace_column(table, "_assay_upd", ~flags), tmp_path)
    report = verify(built)
    assert found(report) == [("upsert_flags_mismatch", key)]
    assert report.problems[0].message.startswith("20 of 20 rows")


def test_a_missing_object(built_any: assay.Store) -> None:
    key = key_of(built_any, "fix")
    built_any.objects.delete(key)
    report = verify(built_any)
    assert found(report) == [("missing_object", key)]
    assert report.problems[0].delta == "fix"


def test_versions_must_read_existing_deltas_in_order(built: assay.Store) -> None:
    everything, without_gone = sorted(
        built.catalog.list_versions(), key=lambda v: len(v.delta_ids)
    )[::-1]
    execute(
        "UPDATE versions SET delta_ids = :ids WHERE fingerprint = :fp",
        built,
        ids=json.dumps(list(without_gone.delta_ids[::-1])),
        fp=without_gone.fingerprint,
    )
    gone = key_of(built, "gone")
    execute("DELETE FROM deltas WHERE name = 'gone'", built)
    report = verify(built)
    assert found(report) == [
        ("dangling_version", everything.fingerprint),
        ("fingerprint_mismatch", without_gone.fingerprint),
    ]
    # The delete's object, its manifest and the key index run that covered it are now
    # referenced by nothing: gc's business, not a problem.
    assert report.unreferenced == 3 and built.objects.exists(gone)


def test_same_rows_in_two_datasets_keep_their_own_upsert_flags(
    store: assay.Store, tmp_path: Path
) -> None:
    # The same upsert content has the same delta id in both datasets, but its flags
    # differ: key 2 exists in `y` (an update), not in `x` (an add). Sharing one object
    # gave `x` the flags of `y`, so composing `x` lost the row of key 2.
    for name, ids in [("y", [1, 2]), ("x", [1])]:
        assay.create_dataset(store, name, ["id"])
        pq.write_table(pa.table({"id": ids, "v": [1.5] * len(ids)}), tmp_path / f"{name}.parquet")
        assay.add_delta(store, name, tmp_path / f"{name}.parquet")
    pq.write_table(pa.table({"id": [2, 3], "v": [9.0, 3.0]}), tmp_path / "up.parquet")
    up_y = assay.add_delta(store, "y", tmp_path / "up.parquet", op="upsert").delta
    up_x = assay.add_delta(store, "x", tmp_path / "up.parquet", op="upsert").delta
    assert up_x.delta_id == up_y.delta_id and up_x.object_key != up_y.object_key
    assert stored(store, up_y.object_key).column("_assay_upd").to_pylist() == [True, False]
    assert stored(store, up_x.object_key).column("_assay_upd").to_pylist() == [False, False]
    x = assay.compose({"dataset": "x"}, store=store).to_arrow()
    assert dict(zip(x["id"].to_pylist(), x["v"].to_pylist(), strict=True)) == {
        1: 1.5,
        2: 9.0,
        3: 3.0,
    }
    assert verify(store).ok


# gc -------------------------------------------------------------------------------------


def age(store: assay.Store, key: str, seconds: float) -> None:
    path = store.objects.local_path(key)
    assert path is not None
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_removes_exactly_the_old_unreferenced_objects(built: assay.Store) -> None:
    store = built
    before = assay.compose({"dataset": "t"}, store=store, record=False).to_arrow()
    referenced = set(store.catalog.referenced_objects()) | live_manifests(store.catalog)
    referenced |= live_index_keys(store.catalog)
    base = key_of(store, "base")
    junk = {
        "deltas/ab/abandoned.parquet": 2 * HOUR,  # a crash between object and commit
        f"{base}.tmp-0123456789abcdef": 2 * HOUR,  # an interrupted write
        "deltas/cd/in-flight.parquet": 60.0,  # a write that may yet commit
        f"{base}.tmp-fedcba9876543210": 60.0,  # a write still copying
    }
    for i, (key, seconds) in enumerate(junk.items()):
        store.objects.put_bytes(key, b"x" * (100 + i))
        age(store, key, seconds)
    age(store, base, 2 * HOUR)  # old but referenced: kept
    old = {k for k, s in junk.items() if s > HOUR}
    young = set(junk) - old

    dry = collect_garbage(store, dry_run=True)
    assert {o.key for o in dry.removed} == old
    assert {o.key for o in dry.kept_recent} == young
    assert dry.bytes_freed == 100 + 101 and dry.referenced == len(referenced)
    assert set(store.objects.list()) == referenced | set(junk)  # nothing removed
    assert {r["key"]: r["temporary"] for r in dry.to_dict()["removed"]} == {
        k: ".tmp-" in k for k in old
    }

    done = collect_garbage(store)
    assert [o.key for o in done.removed] == [o.key for o in dry.removed]
    assert set(store.objects.list()) == referenced | young
    assert assay.compose({"dataset": "t"}, store=store, record=False).to_arrow().equals(before)
    report = verify(store)
    assert report.ok and report.unreferenced == len(young)

    assert {o.key for o in collect_garbage(store, grace=0).removed} == young
    assert set(store.objects.list()) == referenced
    with pytest.raises(UsageError, match="negative"):
        collect_garbage(store, grace=-1)


def test_gc_by_age_of_remote_objects(built_any: assay.Store) -> None:
    referenced = set(built_any.catalog.referenced_objects())
    referenced |= live_manifests(built_any.catalog) & set(built_any.objects.list())
    referenced |= live_index_keys(built_any.catalog) & set(built_any.objects.list())
    built_any.objects.put_bytes("deltas/ab/abandoned.parquet", b"junk")
    kept = collect_garbage(built_any)  # just written: within the grace period
    assert kept.removed == () and [o.key for o in kept.kept_recent] == [
        "deltas/ab/abandoned.parquet"
    ]
    later = collect_garbage(built_any, now=time.time() + 2 * HOUR)
    assert [(o.key, o.size) for o in later.removed] == [("deltas/ab/abandoned.parquet", 4)]
    assert set(built_any.objects.list()) == referenced
    assert verify(built_any).ok


# the command ------------------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ASSAY_STORE", "ASSAY_DEBUG")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [str(ASSAY), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_verify_and_gc(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pq.write_table(
        pa.table({"id": np.arange(100), "v": np.arange(100) * 0.5}), tmp_path / "a.parquet"
    )
    key = assay.add_delta(store, "t", tmp_path / "a.parquet").delta.object_key
    orphan = "deltas/ab/abandoned.parquet"
    store.objects.put_bytes(orphan, b"junk")
    age(store, orphan, 2 * HOUR)

    # Start-up dominates: commands that only read run side by side.
    with ThreadPoolExecutor(2) as pool:
        ok, dry = pool.map(
            lambda a: cli(*a, cwd=tmp_path), [("verify", "--json"), ("gc", "--dry-run", "--json")]
        )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) | {"bytes": 0} == {
        "ok": True,
        "objects": 1,
        "bytes": 0,
        "deltas": 1,
        "versions": 0,
        "unreferenced": 1,
        "problems": [],
    }
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["removed"] == [{"key": orphan, "bytes": 4, "temporary": False}]
    assert store.objects.exists(orphan)

    path = store.objects.local_path(key)
    assert path is not None
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    with ThreadPoolExecutor(2) as pool:
        bad, human = pool.map(lambda a: cli(*a, cwd=tmp_path), [("verify", "--json"), ("verify",)])
    assert bad.returncode == 1, bad.stderr
    problems = json.loads(bad.stdout)["problems"]
    assert ("hash_mismatch", key) in {(p["reason"], p["key"]) for p in problems}
    assert human.returncode == 1 and human.stderr == ""
    assert (
        "hash_mismatch" in human.stdout and "1 object(s) are referenced by nothing" in human.stdout
    )


def test_reasons_are_stable_strings() -> None:
    # Scripts match on these; renaming one is a breaking change.
    assert {r.value for r in Reason} == {
        "missing_object",
        "hash_mismatch",
        "unreadable_object",
        "content_mismatch",
        "key_hash_mismatch",
        "upsert_flags_mismatch",
        "misplaced_object",
        "dangling_version",
        "fingerprint_mismatch",
        "index_mismatch",
    }


def test_gc_keeps_derived_caches_unless_asked(built: assay.Store) -> None:
    store = built
    cache = "cache/checks/ab/abcdef"  # an incremental check state: named by nothing
    store.objects.put_bytes(cache, b"state")
    age(store, cache, 2 * HOUR)
    assert verify(store).unreferenced == 0  # a cache is not garbage
    assert cache not in {o.key for o in collect_garbage(store).removed}
    assert store.objects.exists(cache)
    swept = collect_garbage(store, caches=True)
    assert [o.key for o in swept.removed] == [cache] and not store.objects.exists(cache)


# experiments: prediction logs (named by nothing) and outcome files (named by the catalog)

EXPERIMENT = {
    "endpoint": "employment",
    "experiment": "exp",
    "routes": [{"model": "m@1", "weight": 1.0, "arm": "control"}],
}


def log_and_outcomes(store: assay.Store) -> tuple[str, str]:
    """An experiment with one prediction-log object and one outcome file; their keys."""
    from assay.experiments import LogWriter, record_outcomes, start_experiment

    start_experiment(store, EXPERIMENT)
    writer = LogWriter(store, "exp", worker="w1")
    writer.append(
        {
            "request_id": "r1",
            "time": 0,
            "experiment": "exp",
            "endpoint": "employment",
            "role": "live",
            "arm": "control",
            "model": "m@1",
            "inputs": "[{}]",
            "outputs": "[1]",
            "latency_ms": 1.0,
            "status": "ok",
            "weights": '{"control":1.0}',
        }
    )
    writer.close()
    (log,) = store.objects.list("experiments/exp/log/")
    outcomes = record_outcomes(store, "exp", pa.table({"request_id": ["r1"], "converted": [1]}))
    return log, outcomes.object_key


def test_gc_keeps_prediction_logs_and_outcomes_and_verify_checks_outcomes(
    built: assay.Store,
) -> None:
    store = built
    log, outcomes = log_and_outcomes(store)
    interrupted = f"{log}.tmp-0123456789abcdef"  # an interrupted log write: garbage
    store.objects.put_bytes(interrupted, b"half")
    for key in (log, outcomes, interrupted):
        age(store, key, 2 * HOUR)
    report = verify(store)
    assert report.ok and report.unreferenced == 1  # the temporary file only
    assert outcomes in store.catalog.referenced_objects()
    assert [o.key for o in collect_garbage(store).removed] == [interrupted]
    assert store.objects.exists(log) and store.objects.exists(outcomes)

    good = store.objects.get_bytes(outcomes)
    store.objects.put_bytes(outcomes, good[:-9] + bytes([good[-9] ^ 1]) + good[-8:])
    assert found(verify(store)) == [("hash_mismatch", outcomes)]
    from assay.errors import IntegrityError
    from assay.experiments import read_outcomes

    with pytest.raises(IntegrityError, match=r"outcomes file 1 \(outcomes table\) of experiment"):
        read_outcomes(store, "exp")
    store.objects.delete(outcomes)
    assert found(verify(store)) == [("missing_object", outcomes)]


def test_gc_keeps_prediction_logs_on_every_object_store(built_any: assay.Store) -> None:
    log, outcomes = log_and_outcomes(built_any)
    later = collect_garbage(built_any, now=time.time() + 2 * HOUR)
    assert later.removed == () and later.kept_recent == ()
    assert built_any.objects.exists(log) and built_any.objects.exists(outcomes)
    report = verify(built_any)
    assert report.ok and report.unreferenced == 0 and report.objects == 3 + 1  # + outcomes
