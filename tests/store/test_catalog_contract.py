"""The catalog contract: every backend (SQLite, PostgreSQL) must pass all of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from assay.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    ModelNotFound,
    NotFound,
    UsageError,
    VersionNotFound,
)
from assay.store.catalog import (
    Catalog,
    DeltaInfo,
    GoldenRef,
    ModelVersion,
    RunArtifact,
    RunInfo,
    RunInput,
    VersionInfo,
    open_catalog,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{tmp_path}/catalog.db", create=True)
    else:
        cat = open_catalog(request.getfixturevalue("pg_database"), create=True)
    yield cat
    cat.close()


def delta(number: int, name: str | None = None, **kw: object) -> DeltaInfo:
    base = DeltaInfo(
        dataset="d",
        number=number,
        delta_id=f"{number:064x}",
        name=name or f"n{number}",
        op="insert",
        row_count=10 * number,
        object_key=f"deltas/{number}",
        object_sha256="0" * 64,
        tags=("t",),
        stats={"x": {"mean": 1.5}},
        label_counts={"0": 3, "1": 4},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_datasets(catalog: Catalog) -> None:
    info = catalog.create_dataset("d", ["a", "b"], "y")
    assert (info.name, info.key, info.label) == ("d", ("a", "b"), "y")
    assert catalog.get_dataset("d").key == ("a", "b")
    catalog.create_dataset("c", ["k"], None)
    assert [i.name for i in catalog.list_datasets()] == ["c", "d"]
    with pytest.raises(UsageError, match="already exists"):
        catalog.create_dataset("d", ["a"], None)
    with pytest.raises(DatasetNotFound, match=r"no dataset 'e'.*datasets: c, d"):
        catalog.get_dataset("e")


def test_commit_is_ordered_and_sets_schema(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    catalog.commit_delta(delta(1), [("k", "int64")])
    catalog.commit_delta(delta(2), [("k", "int64"), ("x", "double")])
    got = catalog.list_deltas("d")
    assert [d.number for d in got] == [1, 2]
    assert got[1] == delta(2)  # every field round-trips, JSON included
    assert catalog.get_dataset("d").schema == (("k", "int64"), ("x", "double"))
    assert catalog.referenced_objects() == {"deltas/1": "0" * 64, "deltas/2": "0" * 64}


def test_conflicts_are_atomic(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    catalog.commit_delta(delta(1), [("k", "int64")])
    # Another writer took number 2 first: retry-able, and the schema change is rolled back.
    catalog.commit_delta(delta(2), [("k", "int64")])
    with pytest.raises(ConcurrentWriteError, match="retry"):
        catalog.commit_delta(
            delta(2, name="late", delta_id="f" * 64), [("k", "int64"), ("z", "string")]
        )
    with pytest.raises(UsageError, match="already has a delta named 'n1'"):
        catalog.commit_delta(
            delta(3, name="n1", delta_id="e" * 64), [("k", "int64"), ("z", "string")]
        )
    assert catalog.get_dataset("d").schema == (("k", "int64"),)
    assert [d.name for d in catalog.list_deltas("d")] == ["n1", "n2"]


def test_concurrent_committers_all_land_once(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    landed: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(5):
            while True:
                head = len(catalog.list_deltas("d"))
                try:
                    catalog.commit_delta(
                        delta(head + 1, name=f"w{w}-{i}", delta_id=f"{w:032x}{i:032x}"),
                        [("k", "int64")],
                    )
                except ConcurrentWriteError:
                    continue
                with lock:
                    landed.append(head + 1)
                break

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [d.number for d in catalog.list_deltas("d")]
    assert numbers == list(range(1, 21))
    assert sorted(landed) == numbers


def test_versions(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    v = VersionInfo("ab" * 32, "d", {"dataset": "d"}, ("1" * 64,), {"rows": 5})
    first = catalog.record_version(v)
    again = catalog.record_version(replace(v, summary={"rows": 6}))
    assert again == first and first.summary == {"rows": 5}  # recording twice is a no-op
    catalog.record_version(replace(v, fingerprint="ababab" + "0" * 58))
    assert catalog.get_version("ab" * 32).delta_ids == ("1" * 64,)
    assert catalog.get_version("abababab").fingerprint == "ab" * 32
    with pytest.raises(UsageError, match="too short"):
        catalog.get_version("abab")
    with pytest.raises(UsageError, match="ambiguous"):
        catalog.get_version("ababab")
    with pytest.raises(VersionNotFound, match="no dataset version"):
        catalog.get_version("ffffff")
    assert len(catalog.list_versions("d")) == 2 and catalog.list_versions("nope") == []
    # A LIKE wildcard in a prefix is a literal character, not a pattern.
    with pytest.raises(VersionNotFound):
        catalog.get_version("ab%%%%")


# --------------------------------------------------------------------------- runs


def a_run(run_id: str, **kw: object) -> RunInfo:
    base = RunInfo(
        id=run_id,
        name="fit",
        status="running",
        started_at="2024-01-01T00:00:00.000+00:00",
        git_commit="c" * 40,
        git_dirty=True,
        git_diff_sha256="d" * 64,
        git_root="/src/project",
        command=("python", "train.py"),
        params={"lr": 0.1, "layers": [64, 32], "deep": True, "opt": {"name": "adam"}},
        environment={"python": "3.11.7", "packages": {"numpy": "2.0.0"}},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_runs_round_trip_and_lookup(catalog: Catalog) -> None:
    first = a_run("abcd00000001")
    assert catalog.create_run(first) == first  # every field round-trips, JSON included
    second = a_run(
        "abcd00000002",
        name=None,
        started_at="2024-01-02T00:00:00.000+00:00",
        git_commit=None,
        git_dirty=None,
        git_diff_sha256=None,
        git_root=None,
        git_note="not a git repository",
    )
    third = a_run("ef0000000003", started_at="2024-01-03T00:00:00.000+00:00", git_dirty=False)
    catalog.create_run(second)
    catalog.create_run(third)
    assert catalog.get_run("abcd00000002") == second
    assert catalog.get_run(" EF00 ") == third  # a prefix, any case
    assert catalog.get_run("ef0000000003").git_dirty is False
    assert [r.id for r in catalog.list_runs()] == [third.id, second.id, first.id]  # newest first
    with pytest.raises(UsageError, match="ambiguous"):
        catalog.get_run("abcd")
    with pytest.raises(UsageError, match="too short"):
        catalog.get_run("abc")
    with pytest.raises(NotFound, match="assay runs list"):
        catalog.get_run("ffff")
    with pytest.raises(NotFound):
        catalog.get_run("abc%")  # a LIKE wildcard is a literal character
    with pytest.raises(UsageError, match="already taken"):
        catalog.create_run(replace(first, name="again"))
    assert catalog.get_run(first.id).name == "fit"


def test_run_params_metrics_and_end(catalog: Catalog) -> None:
    run = catalog.create_run(a_run("run000000001", params={"lr": 0.1}))
    assert catalog.log_run_params(run.id, {"epochs": 3, "lr": 0.1}) == {"lr": 0.1, "epochs": 3}
    with pytest.raises(UsageError, match=r"param 'lr' of run run000000001 is already 0.1"):
        catalog.log_run_params(run.id, {"lr": 0.2, "other": 1})
    assert catalog.get_run(run.id).params == {"lr": 0.1, "epochs": 3}  # nothing of it landed

    assert catalog.log_run_metrics(run.id, {"loss": 1.0, "acc": 0.5}) == {"loss": 1.0, "acc": 0.5}
    catalog.log_run_metrics(run.id, {"loss": 0.5})
    catalog.log_run_metrics(run.id, {"loss": 0.25}, step=10)
    assert catalog.log_run_metrics(run.id, {"loss": 0.125}) == {"loss": 0.125, "acc": 0.5}
    got = catalog.get_run(run.id)
    assert got.metrics == {"loss": 0.125, "acc": 0.5}
    loss = [(h["step"], h["value"]) for h in got.metric_history["loss"]]
    assert loss == [(0, 1.0), (1, 0.5), (10, 0.25), (11, 0.125)]  # steps follow the last one
    assert [(h["step"], h["value"]) for h in got.metric_history["acc"]] == [(0, 0.5)]
    assert all(h["at"] >= got.started_at for h in got.metric_history["loss"])

    with pytest.raises(UsageError, match="ends 'finished' or 'failed'"):
        catalog.end_run(run.id, "running")
    ended = catalog.end_run(run.id, "failed", exit_code=3, error="exited with status 3")
    assert (ended.status, ended.exit_code, ended.error) == ("failed", 3, "exited with status 3")
    assert ended.ended_at is not None and ended.ended_at >= ended.started_at
    assert ended.metrics == got.metrics and ended.params == got.params
    for late in (
        lambda: catalog.log_run_metrics(run.id, {"loss": 0.1}),
        lambda: catalog.log_run_params(run.id, {"x": 1}),
        lambda: catalog.end_run(run.id, "finished"),
    ):
        with pytest.raises(UsageError, match=r"already ended \(failed\)"):
            late()
    assert catalog.get_run(run.id).status == "failed"
    with pytest.raises(NotFound, match="no run 'nope00000000'"):
        catalog.log_run_metrics("nope00000000", {"loss": 1.0})


def test_run_inputs_and_artifacts(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    catalog.commit_delta(delta(1), [("k", "int64")])
    fp, other = "ab" * 32, "cd" * 32
    catalog.record_version(VersionInfo(fp, "d", {"dataset": "d"}, ("1" * 64,), {}))
    run = catalog.create_run(a_run("run000000001"))
    catalog.record_run_input(run.id, RunInput(fp, "d", "train.yaml"))
    catalog.record_run_input(run.id, RunInput(fp, "d", "again.yaml"))  # the first read stands
    with pytest.raises(VersionNotFound, match="not recorded"):
        catalog.record_run_input(run.id, RunInput(other, "d"))
    key, sha = "artifacts/ee/" + "e" * 64, "e" * 64
    model = catalog.record_run_artifact(run.id, RunArtifact("model.onnx", key, sha, 123))
    assert (model.name, model.object_key, model.sha256, model.size) == ("model.onnx", key, sha, 123)
    assert catalog.record_run_artifact(run.id, RunArtifact("model.onnx", key, sha, 123)) == model
    catalog.record_run_artifact(run.id, RunArtifact("copy.onnx", key, sha, 123))
    with pytest.raises(UsageError, match=r"already has an artifact named 'model\.onnx'"):
        catalog.record_run_artifact(
            run.id, RunArtifact("model.onnx", "artifacts/ff/x", "f" * 64, 1)
        )

    got = catalog.get_run(run.id)
    assert [(i.fingerprint, i.dataset, i.recipe_source) for i in got.inputs] == [
        (fp, "d", "train.yaml")
    ]
    assert got.inputs[0].read_at >= got.started_at
    assert [a.name for a in got.artifacts] == ["model.onnx", "copy.onnx"]
    assert catalog.list_runs()[0] == got
    # gc and verify see artifacts as referenced objects, beside the deltas'.
    assert catalog.referenced_objects() == {"deltas/1": "0" * 64, key: sha}

    catalog.end_run(run.id, "finished")
    with pytest.raises(UsageError, match="already ended"):
        catalog.record_run_input(run.id, RunInput(fp, "d"))
    with pytest.raises(UsageError, match="already ended"):
        catalog.record_run_artifact(run.id, RunArtifact("late", key, sha, 123))
    with pytest.raises(NotFound):
        catalog.record_run_input("nope00000000", RunInput(fp, "d"))


def test_concurrent_metric_writers_lose_nothing(catalog: Catalog) -> None:
    run = catalog.create_run(a_run("run000000001"))

    def writer(w: int) -> None:
        for i in range(10):
            catalog.log_run_metrics(run.id, {"loss": float(100 * w + i), f"w{w}": float(i)})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = catalog.get_run(run.id)
    loss = got.metric_history["loss"]
    assert [h["step"] for h in loss] == list(range(40))  # automatic steps never collide
    assert sorted(h["value"] for h in loss) == sorted(
        float(100 * w + i) for w in range(4) for i in range(10)
    )
    for w in range(4):
        mine = got.metric_history[f"w{w}"]
        assert [(h["step"], h["value"]) for h in mine] == [(i, float(i)) for i in range(10)]
        # each writer's own values of the shared key are in its order
        own = [h["value"] for h in loss if 100 * w <= h["value"] < 100 * (w + 1)]
        assert own == [float(100 * w + i) for i in range(10)]


def test_catalog_made_before_runs_gains_run_tables(catalog: Catalog) -> None:
    # A catalog of a release before runs (and before migrations: no alembic_version).
    engine = sa.create_engine(catalog.url)
    with engine.begin() as conn:
        for table in ("run_artifacts", "run_inputs", "runs", "alembic_version"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
    older = open_catalog(catalog.url)
    try:
        assert older.list_runs() == []
        assert older.referenced_objects() == {}
        assert older.create_run(a_run("run000000001")).id == "run000000001"
    finally:
        older.close()


# --------------------------------------------------------------------------- checks


def _check_report(suite: str, fingerprint: str | None, passed: bool, at: str) -> dict:
    return {
        "suite": suite,
        "stage": "raw",
        "target": f"version {fingerprint}" if fingerprint else "file x.parquet",
        "fingerprint": fingerprint,
        "dataset": "d" if fingerprint else None,
        "split": None,
        "passed": passed,
        "summary": "1 passed" if passed else "1 failed",
        "checked_at": at,
        "results": [{"position": "0", "observed": 1.5, "sample": [{"id": 3}]}],
    }


def test_check_results_are_recorded_and_listed(catalog: Catalog) -> None:
    a = catalog.record_check(_check_report("s1", "ab" * 32, True, "2026-01-01T00:00:00"))
    b = catalog.record_check(_check_report("s2", "ab" * 32, False, "2026-01-02T00:00:00"))
    c = catalog.record_check(_check_report("s1", None, True, "2026-01-03T00:00:00"))
    assert len({a, b, c}) == 3
    assert [r["id"] for r in catalog.list_checks()] == [c, b, a]  # newest first
    assert [r["id"] for r in catalog.list_checks(fingerprint="abab")] == [b, a]
    assert [r["id"] for r in catalog.list_checks(suite="s1")] == [c, a]
    assert [r["id"] for r in catalog.list_checks(limit=1)] == [c]
    got = catalog.get_check(b[:6])
    assert got["passed"] is False and got["results"][0]["sample"] == [{"id": 3}]
    with pytest.raises(NotFound):
        catalog.get_check("ffffffff")
    with pytest.raises(NotFound):
        catalog.get_check(b[:3])  # too short to look up


# --------------------------------------------------------------------------- models


def a_model(name: str = "m", **kw: object) -> ModelVersion:
    sha = "a" * 64
    base = ModelVersion(
        name=name,
        version=0,
        flavor="sklearn",
        object_key=f"artifacts/aa/{sha}",
        sha256=sha,
        size=42,
        options={"k": [1, 2]},
        signature={"inputs": {"kind": "table", "columns": [{"name": "x", "dtype": "int64"}]}},
        source={"kind": "file", "path": "/m.skops"},
        description="d",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_model_versions_aliases_and_golden(catalog: Catalog) -> None:
    v1 = catalog.register_model_version(a_model(aliases=("baseline", "production")))
    v2 = catalog.register_model_version(a_model(object_key="artifacts/bb/b", sha256="b" * 64))
    other = catalog.register_model_version(a_model("n", aliases=("production",)))
    assert [(v.ref, v.aliases) for v in (v1, v2, other)] == [
        ("m@1", ("baseline", "production")),
        ("m@2", ()),
        ("n@1", ("production",)),  # aliases are per name
    ]
    assert replace(v1, created_at="") == a_model(version=1, aliases=("baseline", "production"))
    assert catalog.get_model_version("m") == catalog.get_model_version("m", 2)
    assert catalog.get_model_alias("m", "production").version == 1

    moved = catalog.set_model_alias("m", 2, "production")
    assert moved.aliases == ("production",)
    assert catalog.get_model_version("m", 1).aliases == ("baseline",)
    v3 = catalog.register_model_version(a_model(aliases=("baseline",)))  # moves it too
    assert [(v.ref, v.aliases) for v in catalog.list_model_versions("m")] == [
        ("m@1", ()),
        ("m@2", ("production",)),
        ("m@3", ("baseline",)),
    ]
    assert [v.ref for v in catalog.list_model_versions()] == ["m@1", "m@2", "m@3", "n@1"]

    with pytest.raises(ModelNotFound, match=r"no model 'x' is registered .*models: m, n"):
        catalog.get_model_version("x")
    with pytest.raises(ModelNotFound, match=r"model 'm' has no version 9 \(versions 1–3\)"):
        catalog.get_model_version("m", 9)
    with pytest.raises(ModelNotFound, match=r"no alias 'prod' \(aliases: baseline, production\)"):
        catalog.get_model_alias("m", "prod")
    with pytest.raises(ModelNotFound, match="no version 9"):
        catalog.set_model_alias("m", 9, "baseline")
    with pytest.raises(NotFound, match="no run 'nope00000000'"):
        catalog.register_model_version(a_model(run_id="nope00000000"))
    assert len(catalog.list_model_versions("m")) == 3  # the refusal numbered nothing

    golden = GoldenRef("artifacts/cc/c", "c" * 64, 5)
    with_golden = catalog.set_model_golden("m", 3, golden)
    assert with_golden.golden is not None
    assert replace(with_golden.golden, attached_at="") == golden
    with pytest.raises(ModelNotFound):
        catalog.set_model_golden("m", 7, golden)
    # gc keeps and verify checks model artifacts and golden files.
    assert catalog.referenced_objects() == {
        v1.object_key: "a" * 64,
        "artifacts/bb/b": "b" * 64,
        "artifacts/cc/c": "c" * 64,
    }
    run = catalog.create_run(a_run("run000000001"))
    assert catalog.register_model_version(a_model(run_id=run.id)).run_id == run.id
    assert v3.version == 3


def test_concurrent_registrations_get_distinct_numbers(catalog: Catalog) -> None:
    got: list[int] = []

    def writer() -> None:
        for _ in range(5):
            got.append(catalog.register_model_version(a_model(aliases=("latest-ish",))).version)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 21))
    holders = [v for v in catalog.list_model_versions("m") if v.aliases]
    assert len(holders) == 1  # one alias, one version


def test_experiments_keep_their_history(catalog: Catalog) -> None:
    config = {"endpoint": "e", "routes": [{"arm": "control"}, {"arm": "treatment"}]}
    start = catalog.put_experiment("x", "e", config, {"control": 0.9, "treatment": 0.1})
    assert (start.name, start.endpoint, start.revision) == ("x", "e", 1)
    assert start.config == config
    assert list(start.weights.items()) == [("control", 0.9), ("treatment", 0.1)]
    assert catalog.put_experiment("x", "e", config, {"control": 0.5, "treatment": 0.5}) == start
    ramp = catalog.set_experiment_weights("x", {"control": 0.8, "treatment": 0.2}, by="ops")
    assert (ramp.revision, ramp.created_at) == (2, start.created_at)
    assert ramp.weights == {"control": 0.8, "treatment": 0.2}
    changed = {**config, "shadow": ["m@3"]}
    again = catalog.put_experiment("x", "e", changed, {"control": 0.9, "treatment": 0.1}, by="ci")
    assert (again.revision, again.config, again.weights["treatment"]) == (3, changed, 0.1)
    history = catalog.experiment_changes("x")
    assert [(c.number, c.kind, c.by, c.config) for c in history] == [
        (1, "start", None, config),
        (2, "weights", "ops", None),
        (3, "config", "ci", changed),
    ]
    assert [c.weights["treatment"] for c in history] == [0.1, 0.2, 0.1]
    assert history[0].at <= history[1].at <= history[2].at
    with pytest.raises(UsageError, match="recorded for endpoint 'e', not 'f'"):
        catalog.put_experiment("x", "f", config, {"control": 1.0})
    catalog.put_experiment("a", "e", config, {"control": 1.0})
    assert [i.name for i in catalog.list_experiments()] == ["a", "x"]
    with pytest.raises(NotFound, match=r"no experiment 'y' .*\(experiments: a, x\)"):
        catalog.get_experiment("y")
    with pytest.raises(NotFound, match="no experiment 'y'"):
        catalog.set_experiment_weights("y", {"control": 1.0})
    assert len(catalog.experiment_changes("x")) == 3  # the refusals changed nothing


def test_concurrent_weight_changes_all_land_in_order(catalog: Catalog) -> None:
    catalog.put_experiment("x", "e", {}, {"a": 1.0, "b": 0.0})

    def writer(w: int) -> None:
        for i in range(5):
            catalog.set_experiment_weights("x", {"a": 0.5, "b": 0.5}, by=f"w{w}-{i}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = catalog.experiment_changes("x")
    assert [c.number for c in history] == list(range(1, 22))
    writers = sorted(f"w{w}-{i}" for w in range(4) for i in range(5))
    assert sorted(c.by or "" for c in history[1:]) == writers
    assert catalog.get_experiment("x").revision == 21


def test_outcomes_are_numbered_and_referenced(catalog: Catalog) -> None:
    from assay.store.catalog import OutcomesInfo

    def outcomes(content: str, by: str = "request_id") -> OutcomesInfo:
        return OutcomesInfo(
            experiment="x",
            number=0,
            id=content * 64,
            by=by,
            columns=(("request_id", "string"), ("converted", "bool")),
            rows=3,
            object_key=f"experiments/x/outcomes/{content}.parquet",
            sha256=content * 64,
            source="o.csv",
        )

    with pytest.raises(NotFound, match="no experiment 'x'"):
        catalog.record_outcomes(outcomes("a"))
    catalog.put_experiment("x", "e", {}, {"a": 1.0})
    first = catalog.record_outcomes(outcomes("a"))
    assert replace(first, recorded_at="") == replace(outcomes("a"), number=1)
    assert catalog.record_outcomes(outcomes("b")).number == 2
    assert catalog.record_outcomes(outcomes("a")) == first  # the same content again
    with pytest.raises(UsageError, match="keyed by 'request_id'; record these by 'request_id'"):
        catalog.record_outcomes(outcomes("c", by="sticky_key"))
    assert [o.number for o in catalog.list_outcomes("x")] == [1, 2]
    assert catalog.referenced_objects() == {
        "experiments/x/outcomes/a.parquet": "a" * 64,
        "experiments/x/outcomes/b.parquet": "b" * 64,
    }


def test_an_experiment_is_restored_exactly(catalog: Catalog) -> None:
    """What `assay recover` does from an experiment's manifest."""
    from assay.store.catalog import OutcomesInfo

    catalog.put_experiment("x", "e", {"routes": []}, {"a": 0.5, "b": 0.5}, by="serve")
    catalog.set_experiment_weights("x", {"a": 1.0, "b": 0.0}, by="ops")
    key = "experiments/x/outcomes/" + "d" * 64 + ".parquet"
    columns = (("request_id", "string"), ("y", "double"))
    catalog.record_outcomes(OutcomesInfo("x", 0, "d" * 64, "request_id", columns, 2, key, "d" * 64))
    saved = (
        catalog.get_experiment("x"),
        catalog.experiment_changes("x"),
        catalog.list_outcomes("x"),
    )
    with catalog.engine.begin() as conn:
        for table in ("experiment_outcomes", "experiment_changes", "experiments"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    assert catalog.list_experiments() == []
    catalog.restore_experiment(saved[0], saved[1], saved[2])
    assert (
        catalog.get_experiment("x"),
        catalog.experiment_changes("x"),
        catalog.list_outcomes("x"),
    ) == saved
    assert catalog.referenced_objects() == {key: "d" * 64}
