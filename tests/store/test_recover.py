"""A lost or damaged catalog: a one-line refusal naming `assay recover`, and a recovery
that rebuilds the same deltas and fingerprints from the manifests beside the objects."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import UsageError
from assay.integrity import collect_garbage, recover, verify
from assay.store.manifests import MANIFEST_PREFIX
from tests_helpers import run_assay, year

HOUR = 3600.0


@pytest.fixture(scope="module")
def project_template(employment_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`employment` (base 2015, 2016–2018) plus an upsert, and two recorded versions,
    built once: each test breaks its own copy (``project``)."""
    tmp_path = tmp_path_factory.mktemp("recover-project")
    shutil.copytree(employment_template, tmp_path, dirs_exist_ok=True)
    employment = assay.open_store(tmp_path / ".assay")
    fix = year(pq.read_table(tmp_path / "y2016.parquet"), 2016).slice(0, 200)
    fix = fix.to_pandas().assign(employed=1)
    fix.to_csv(tmp_path / "fix.csv", index=False)
    assay.add_delta(employment, "employment", tmp_path / "fix.csv", op="upsert", message="relabel")
    (tmp_path / "skip.yaml").write_text(
        "dataset: employment\ndeltas: {exclude: [y2017]}\nwhere: AGEP >= 16\n"
        "split: {seed: 7}\nslices: {women: SEX = 2}\n"
    )
    (tmp_path / "all.yaml").write_text("dataset: employment\n")
    for recipe in ("skip.yaml", "all.yaml"):
        assay.compose(tmp_path / recipe, store=employment)
    employment.close()
    return tmp_path


@pytest.fixture
def project(project_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``project_template`` (the catalog names objects relative
    to the store, so a copy is a whole store)."""
    shutil.copytree(project_template, tmp_path, dirs_exist_ok=True)
    return tmp_path


def snapshot(root: Path) -> tuple[list[assay.DeltaInfo], list[assay.VersionInfo]]:
    with assay.open_store(root / ".assay") as s:
        return s.catalog.list_deltas("employment"), s.catalog.list_versions()


def show(root: Path, fp: str, out: str) -> dict[str, object]:
    r = run_assay("data", "show", fp, "--out", out, "--json", cwd=root)
    assert r.rc == 0, r.err
    return r.json()


def test_a_deleted_catalog_is_rebuilt_with_the_same_fingerprints(project: Path) -> None:
    deltas, versions = snapshot(project)
    fp = next(v.fingerprint for v in versions if len(v.delta_ids) == 4)  # skips y2017
    before = show(project, fp, "before.parquet")
    for f in (project / ".assay").glob("catalog.db*"):
        f.unlink()

    lost = run_assay("data", "show", fp, cwd=project)
    assert lost.rc == 1 and "is missing" in lost.error_line()
    assert "`assay recover`" in lost.error_line() and "catalog.db" in lost.error_line()

    r = run_assay("recover", "--json", cwd=project)
    assert r.rc == 0, r.err
    report = r.json()
    assert (report["datasets"], report["deltas"], report["versions"]) == (["employment"], 5, 2)
    assert report["skipped"] == [] and report["unattributed"] == [] and report["moved_to"] is None

    assert snapshot(project) == (deltas, versions)  # every field, times and stats included
    after = show(project, fp, "after.parquet")
    assert after["fingerprint"] == before["fingerprint"] == fp
    assert after["rows"] == before["rows"]
    assert (project / "after.parquet").read_bytes() == (project / "before.parquet").read_bytes()
    with assay.open_store(project / ".assay") as s:
        assert verify(s).ok
        # gc keeps the manifests of live deltas and versions, and every delta object.
        assert collect_garbage(s, grace=0).removed == ()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_catalog_gets_one_line_then_recovers(project: Path, damage: str) -> None:
    deltas, versions = snapshot(project)
    db = project / ".assay" / "catalog.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2 if damage == "truncated" else 0)

    for args in [("data", "log", "employment"), ("data", "show", versions[0].fingerprint)]:
        r = run_assay(*args, cwd=project)
        assert r.rc == 1, r.err
        line = r.error_line()
        assert str(db) in line and "`assay recover`" in line
    init = run_assay("init", cwd=project)
    assert init.rc == 2 and "`assay recover" in init.error_line()
    assert db.stat().st_size == (size // 2 if damage == "truncated" else 0)  # init wrote nothing

    r = run_assay("recover", cwd=project)
    assert r.rc == 0, r.err
    assert "Recovered 1 dataset(s), 5 delta(s) and 2 version(s)" in r.out
    moved = list((project / ".assay").glob("catalog.db.damaged-*"))
    assert [m.stat().st_size for m in moved if not m.name.endswith(("-wal", "-shm"))] == [
        size // 2 if damage == "truncated" else 0
    ]
    assert snapshot(project) == (deltas, versions)


def test_recover_leaves_a_sound_catalog_alone(project: Path) -> None:
    r = run_assay("recover", cwd=project)
    assert r.rc == 2 and "reads soundly" in r.error_line() and "--force" in r.error_line()
    assert not list((project / ".assay").glob("catalog.db.damaged-*"))
    forced = run_assay("recover", "--force", "--json", cwd=project)
    assert forced.rc == 0, forced.err
    assert Path(forced.json()["moved_to"]).exists()


def test_a_manifest_without_a_commit_is_not_history(project: Path) -> None:
    """A crash between the manifest and the commit leaves a manifest nothing names: gc
    removes it after the grace period, and recover keeps the committed history."""
    store_dir = project / ".assay"
    deltas, versions = snapshot(project)
    ghost = dict(json.loads(_manifest_of(store_dir, 5).read_text()))
    ghost["delta"] = {**ghost["delta"], "number": 6, "delta_id": "f" * 64, "name": "ghost"}
    ghost["previous"] = "0" * 64  # does not continue the history
    key = f"{MANIFEST_PREFIX}/deltas/employment/00000006-{'f' * 64}.json"
    path = store_dir / "objects" / key
    path.write_text(json.dumps(ghost))
    old = time.time() - 2 * HOUR
    os.utime(path, (old, old))
    with assay.open_store(store_dir) as s:
        assert verify(s).unreferenced == 1
    for f in store_dir.glob("catalog.db*"):
        f.unlink()
    report = recover(str(store_dir))
    assert report.deltas == 5 and snapshot(project) == (deltas, versions)
    assert report.skipped == (
        "delta 'ghost' of 'employment' (number 6): does not continue the recovered history",
    )
    with assay.open_store(store_dir) as s:
        assert [o.key for o in collect_garbage(s).removed] == [key]


def _manifest_of(store_dir: Path, number: int) -> Path:
    folder = store_dir / "objects" / MANIFEST_PREFIX / "deltas" / "employment"
    found = list(folder.glob(f"{number:08d}-*.json"))
    assert len(found) == 1
    return found[0]


def test_objects_without_manifests_are_listed_not_guessed(project: Path) -> None:
    """A store written before manifests existed: nothing to replay, every object named."""
    store_dir = project / ".assay"
    deltas, _ = snapshot(project)
    for f in (store_dir / "objects" / MANIFEST_PREFIX).rglob("*.json"):
        f.unlink()
    for f in store_dir.glob("catalog.db*"):
        f.unlink()
    report = recover(str(store_dir))
    assert report.deltas == 0 and report.datasets == ()
    assert set(report.unattributed) == {d.object_key for d in deltas}


def test_recover_into_postgres_needs_an_empty_database(
    project: Path, tmp_path: Path, pg_database: str
) -> None:
    src = project / ".assay"
    deltas, versions = snapshot(project)
    store_dir = tmp_path / "pg-store"
    store_dir.mkdir()
    shutil.copytree(src / "objects", store_dir / "objects")
    (store_dir / "assay.json").write_text(json.dumps({"format": 1, "catalog": pg_database}))
    report = recover(str(store_dir))
    assert report.deltas == 5 and report.moved_to is None
    with assay.open_store(store_dir) as s:
        assert s.catalog.list_deltas("employment") == deltas
        assert s.catalog.list_versions() == versions
    with pytest.raises(UsageError, match="not empty"):
        recover(str(store_dir))


FEATURES = ["AGEP", "SCHL", "MAR", "SEX"]


@pytest.fixture(scope="module")
def registry_template(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`project` plus a finished run (params, metrics, an input, an artifact) and two
    registered versions each of two sklearn models, with golden examples and aliases
    moved twice; built once."""
    from sklearn.linear_model import LogisticRegression

    project = tmp_path_factory.mktemp("recover-registry")
    shutil.copytree(project_template, project, dirs_exist_ok=True)

    with assay.open_store(project / ".assay") as s:
        with assay.start_run("fit", {"C": 0.5, "features": FEATURES}, store=s) as run:
            frame = run.read(project / "all.yaml").to_pandas().head(2000)
            for step, loss in enumerate([0.9, 0.7, 0.6]):
                run.log_metrics({"loss": loss}, step=step)
            model = LogisticRegression(C=0.5, max_iter=500).fit(frame[FEATURES], frame["employed"])
            (project / "notes.txt").write_text("fitted on 2,000 rows\n")
            run.log_artifact(project / "notes.txt")
            for _ in range(2):
                assay.register_model("employment", model, sample=frame[FEATURES].head(50), store=s)
        simple = LogisticRegression(C=0.01, max_iter=500).fit(frame[["AGEP"]], frame["employed"])
        for _ in range(2):
            assay.register_model("by-age", simple, sample=frame[["AGEP"]].head(5), store=s)
    rows = frame[FEATURES].head(4).to_dict("records")
    golden = project / "golden.jsonl"
    golden.write_text(
        "".join(
            json.dumps({"input": r, "expected": int(y)}) + "\n"
            for r, y in zip(rows, model.predict(frame[FEATURES].head(4)), strict=True)
        )
    )
    for args in [
        ("models", "alias", "employment", "1", "production"),
        ("models", "alias", "employment", "1", "staging"),
        ("models", "alias", "by-age", "2", "production"),
        ("models", "golden", "employment@1", str(golden)),
        ("models", "alias", "employment", "2", "production"),  # moved twice
        ("models", "alias", "employment", "2", "staging"),
        ("models", "alias", "employment", "1", "staging"),
    ]:
        r = run_assay(*args, cwd=project)
        assert r.rc == 0, r.err
    frame[FEATURES].head(200).to_parquet(project / "frame.parquet")
    return project


@pytest.fixture
def registry(registry_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``registry_template``."""
    shutil.copytree(registry_template, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _registry_views(root: Path, run_id: str) -> dict[str, object]:
    views: dict[str, object] = {}
    for args in [
        ("models", "list", "--json"),
        ("models", "show", "employment@production", "--json"),
        ("models", "show", "employment@staging", "--json"),
        ("models", "show", "by-age@production", "--json"),
        ("runs", "show", run_id, "--json"),
        ("runs", "list", "--json"),
    ]:
        r = run_assay(*args, cwd=root)
        assert r.rc == 0, r.err
        views[" ".join(args)] = r.json()
    return views


def test_recover_restores_runs_models_aliases_and_golden_examples(registry: Path) -> None:
    import pandas as pd

    store_dir = registry / ".assay"
    with assay.open_store(store_dir) as s:
        (run,) = s.catalog.list_runs()
        models = s.catalog.list_model_versions()
        rows = pd.read_parquet(registry / "frame.parquet")
        predicted = assay.load_model("employment@production", store=s).predict(rows)
    before = _registry_views(registry, run.id)
    for f in store_dir.glob("catalog.db*"):
        f.unlink()

    r = run_assay("recover", "--json", cwd=registry)
    assert r.rc == 0, r.err
    report = r.json()
    assert (report["runs"], report["models"], report["aliases"]) == (1, 4, 3)
    assert report["skipped"] == [] and report["unattributed"] == []

    # Every field is compared, times included: recover restores them, not "now".
    assert _registry_views(registry, run.id) == before
    with assay.open_store(store_dir) as s:
        assert s.catalog.list_runs() == [run]
        assert s.catalog.list_model_versions() == models
        assert verify(s).ok
        assert collect_garbage(s, grace=0).removed == ()  # every manifest is live
        again = assay.load_model("employment@production", store=s).predict(rows)
    assert list(again) == list(predicted) and len(set(predicted)) == 2
    # The fixture really built what is compared: lineage, golden examples, aliases.
    employment = [m for m in models if m.name == "employment"]
    assert [m.run_id for m in employment] == [run.id, run.id]
    assert employment[0].golden is not None and employment[0].golden.count == 4
    assert [m.aliases for m in employment] == [("staging",), ("production",)]
    assert run.metric_history["loss"][-1]["value"] == 0.6 and run.artifacts and run.inputs


def test_models_of_a_run_without_a_manifest_are_skipped_not_renumbered(registry: Path) -> None:
    """A store whose run manifest is gone (as one written before run manifests): the
    run's models, and the aliases naming them, are skipped with why; their objects are
    listed as unattributed; the rest is restored."""
    store_dir = registry / ".assay"
    with assay.open_store(store_dir) as s:
        (run,) = s.catalog.list_runs()
        employment = s.catalog.list_model_versions("employment")
        by_age = s.catalog.list_model_versions("by-age")
    (store_dir / "objects" / MANIFEST_PREFIX / "runs" / f"{run.id}.json").unlink()
    for f in store_dir.glob("catalog.db*"):
        f.unlink()

    report = recover(str(store_dir))
    assert (report.runs, report.models, report.aliases) == (0, 2, 1)
    assert report.skipped == (
        f"model employment@1: its run {run.id} is not restored",
        "model employment@2: an earlier version of 'employment' is not restored",
        "alias employment@production: version 2 not restored",
        "alias employment@staging: version 1 not restored",
    )
    golden = employment[0].golden
    assert golden is not None
    assert set(report.unattributed) == {
        *(a.object_key for a in run.artifacts),
        golden.object_key,
    } | {m.object_key for m in employment if m.object_key not in {b.object_key for b in by_age}}
    with assay.open_store(store_dir) as s:
        assert s.catalog.list_model_versions() == by_age
        assert s.catalog.list_runs() == []


def test_a_run_or_model_manifest_without_a_commit_is_removed_by_gc(registry: Path) -> None:
    """A crash between a manifest and its row: the manifest is unreferenced, and gc
    removes it after the grace period; the live ones stay."""
    store_dir = registry / ".assay"
    manifests = store_dir / "objects" / MANIFEST_PREFIX
    (run_manifest,) = (manifests / "runs").glob("*.json")
    models, aliases = manifests / "models" / "by-age", manifests / "aliases" / "by-age"
    ghosts = {  # copies of live manifests, under keys no row names
        f"{MANIFEST_PREFIX}/runs/{'e' * 12}.json": run_manifest,
        f"{MANIFEST_PREFIX}/models/by-age/00000003.json": models / "00000002.json",
        f"{MANIFEST_PREFIX}/aliases/by-age/canary.json": aliases / "production.json",
    }
    old = time.time() - 2 * HOUR
    for key, like in ghosts.items():
        path = store_dir / "objects" / key
        path.write_bytes(like.read_bytes())
        os.utime(path, (old, old))
    with assay.open_store(store_dir) as s:
        assert verify(s).unreferenced == 3
        assert {o.key for o in collect_garbage(s).removed} == set(ghosts)
        assert run_manifest.exists() and verify(s).ok


def test_runs_and_models_recover_into_postgres(
    registry: Path, tmp_path: Path, pg_database: str
) -> None:
    with assay.open_store(registry / ".assay") as s:
        runs, models = s.catalog.list_runs(), s.catalog.list_model_versions()
    store_dir = tmp_path / "pg-store"
    store_dir.mkdir()
    shutil.copytree(registry / ".assay" / "objects", store_dir / "objects")
    (store_dir / "assay.json").write_text(json.dumps({"format": 1, "catalog": pg_database}))
    report = recover(str(store_dir))
    assert (report.runs, report.models, report.aliases, report.skipped) == (1, 4, 3, ())
    with assay.open_store(store_dir) as s:
        assert s.catalog.list_runs() == runs
        assert s.catalog.list_model_versions() == models
        assert verify(s).ok


def test_experiments_are_recovered_and_prediction_logs_left_alone(project: Path) -> None:
    """An experiment, its history and its outcome files come back from its manifest; the
    logs are named by no catalog row, by design: recover neither fails on them nor lists
    them, and gc keeps them and the outcome files afterwards."""
    from assay.experiments import (
        LogWriter,
        read_log,
        read_outcomes,
        record_outcomes,
        set_weights,
        start_experiment,
    )
    from assay.experiments.records import experiment_history

    store_dir = project / ".assay"
    routes = [{"model": "m@1", "weight": 1, "arm": "a"}, {"model": "m@2", "weight": 0, "arm": "b"}]
    row = {"experiment": "x", "endpoint": "e", "role": "live", "arm": "a", "model": "m@1"}
    row |= {"inputs": "[]", "outputs": "[]", "latency_ms": 0.5, "status": "ok", "weights": "{}"}
    with assay.open_store(store_dir) as s:
        start_experiment(s, {"endpoint": "e", "experiment": "x", "routes": routes})
        writer = LogWriter(s, "x", worker="w")
        for i in range(3):
            writer.append({**row, "request_id": f"r{i}", "time": i})
        writer.close()
        logs = set(s.objects.list("experiments/x/log/"))
        record_outcomes(s, "x", pa.table({"request_id": ["r1", "r2"], "y": [1.0, 2.0]}))
        set_weights(s, "x", {"a": 0.5, "b": 0.5}, by="ops")
        record_outcomes(s, "x", pa.table({"request_id": ["r2"], "y": [3.0]}))
        before = (s.catalog.get_experiment("x"), experiment_history(s, "x"), read_outcomes(s, "x"))
    for f in store_dir.glob("catalog.db*"):
        f.unlink()
    r = run_assay("recover", cwd=project)
    assert r.rc == 0, r.err
    assert "Recovered 1 experiment(s) with their outcome files." in r.out
    assert "no manifest" not in r.out  # nothing unattributed
    r = run_assay("recover", "--force", "--json", cwd=project)
    report = r.json()
    assert (report["deltas"], report["experiments"], report["skipped"]) == (5, 1, [])
    assert report["unattributed"] == []
    with assay.open_store(store_dir) as s:
        after = (s.catalog.get_experiment("x"), experiment_history(s, "x"), read_outcomes(s, "x"))
        assert after == before and after[2].table["y"].to_pylist() == [1.0, 3.0]
        assert set(s.objects.list("experiments/x/log/")) == logs and len(logs) == 1
        assert read_log(s, "x")["request_id"].to_pylist() == ["r0", "r1", "r2"]
        assert collect_garbage(s, grace=0).removed == ()
        assert verify(s).ok
