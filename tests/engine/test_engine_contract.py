"""The engine contract, run against every engine (``engines.py``), and end-to-end
parity: the same versions, diffs, impacts, verdicts and metrics on each of them, with
the store on local objects + SQLite and on S3 (a moto server) + PostgreSQL."""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from backends import missing_service, new_bucket, new_database
from engines import UnorderedEngine

import assay
from assay.diagnostics.impact import delta_impact
from assay.engine import ROW_NUMBER_COLUMN, DuckDBEngine, Engine
from assay.errors import EngineUnsupported, UsageError
from assay.store.objects import open_object_store
from tests_helpers import run_assay, year

# Py4J (Spark's bridge) leaves its gateway sockets for the garbage collector.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning"
)

ACS = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"

DATA = pa.table(
    {
        "id": pa.array([3, 1, 4, 1_000_000_000_000, 5], pa.int64()),
        "x": pa.array([1.5, None, -2.0, 0.25, 8.0], pa.float64()),
        "n": pa.array([7, 8, None, 10, 11], pa.int32()),
        "s": pa.array(["b", None, "a", "é", ""], pa.string()),
    }
)


# -- the primitive and what derives from it ------------------------------------------------


def test_batches_stream_arrow_in_the_expressions_types(engine: Engine) -> None:
    t = engine.table(DATA)
    expr = t.filter(t.id > 1).order_by("id").select("id", "x", "n", "s")
    with engine.batches(expr, chunk_size=2) as reader:
        assert isinstance(reader, pa.RecordBatchReader)
        batches = list(reader)
    assert all(b.num_rows <= 2 for b in batches) and len(batches) == 2
    got = pa.Table.from_batches(batches)
    assert got.schema == expr.schema().to_pyarrow()
    assert got.to_pydict() == {
        "id": [3, 4, 5, 1_000_000_000_000],
        "x": [1.5, -2.0, 8.0, 0.25],
        "n": [7, None, 11, 10],
        "s": ["b", "a", "", "é"],
    }


def test_batches_are_the_callers_to_change(engine: Engine, tmp_path: Path) -> None:
    """Compose compacts rows within a batch's own buffers: no other table, file or later
    query may see that memory, whether the rows came from memory or from a file."""
    path = tmp_path / "d.parquet"
    pq.write_table(DATA, path)
    for source in (engine.table(DATA), engine.read_parquet_files([str(path)])):
        expr = source.select("id")
        with engine.batches(expr) as reader:
            batches = list(reader)
        for batch in batches:
            data = batch.column(0).buffers()[1]
            raw = (ctypes.c_char * data.size).from_address(data.address)
            np.frombuffer(raw, np.int64)[:] = -1
        again = engine.to_arrow(expr).column("id").to_pylist()
        assert sorted(again) == sorted(DATA.column("id").to_pylist())
    assert DATA.column("id").to_pylist() == [3, 1, 4, 1_000_000_000_000, 5]


def test_to_arrow_answers_aggregates_in_ibis_types(engine: Engine) -> None:
    t = engine.table(DATA)
    # DuckDB sums integers to HUGEINT (Arrow decimal128); every engine answers int64.
    got = engine.to_arrow(t.aggregate(total=t.id.sum(), rows=t.count(), mean=t.x.mean()))
    assert got.schema.field("total").type == pa.int64()
    assert got.to_pylist() == [{"total": 1_000_000_000_013, "rows": 5, "mean": 1.9375}]


def test_mask_keeps_the_datas_order(engine: Engine) -> None:
    got = engine.mask(DATA, lambda t: t.x > 0)
    assert got.tolist() == [True, False, False, True, True]  # null counts as no


@pytest.mark.parametrize("where", ["local", "memory", "s3"])
def test_read_parquet_from_a_local_and_a_remote_object_store(
    engine: Engine, where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {
        "local": lambda: str(tmp_path / "objects"),
        "memory": lambda: f"memory://assay-contract-{engine.name}",
        "s3": lambda: request.getfixturevalue("s3_bucket") + "/objects",  # the moto server
    }[where]()
    objects = open_object_store(url)
    path = tmp_path / "d.parquet"
    pq.write_table(DATA, path)
    key = f"aa/{where}-delta.parquet"
    objects.put_file(key, path)
    t = engine.read_parquet(objects, [key])
    assert engine.to_arrow(t.order_by("id")).column("id").to_pylist() == sorted(
        DATA.column("id").to_pylist()
    )
    assert (objects.local_path(key) is not None) is (where == "local")
    if where == "s3":
        assert objects.fs.endpoint_url.startswith("http://127.0.0.1:")  # type: ignore[attr-defined]


def test_row_numbers_count_file_positions(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(DATA, path, row_group_size=2)  # three row groups
    t = engine.read_parquet_files([str(path)], row_numbers=True)
    got = engine.to_arrow(t.order_by(ROW_NUMBER_COLUMN).select("id", ROW_NUMBER_COLUMN))
    assert got.column(ROW_NUMBER_COLUMN).to_pylist() == [0, 1, 2, 3, 4]
    assert got.column("id").to_pylist() == DATA.column("id").to_pylist()


def test_views_are_named_and_dropped(engine: Engine) -> None:
    t = engine.table(DATA)
    view = engine.create_view(t.filter(t.n > 7), "assay_contract_view")
    assert engine.to_arrow(view.count().as_table()).column(0)[0].as_py() == 3
    engine.drop_view("assay_contract_view")


def test_an_unsupported_thing_is_named_with_the_engine() -> None:
    class Minimal(DuckDBEngine):
        name = "minimal"

        create_view = Engine.create_view

    with pytest.raises(EngineUnsupported, match=r"^minimal does not support named views; "):
        Minimal().create_view(ibis.memtable(DATA), "v")
    assert issubclass(EngineUnsupported, NotImplementedError)


def test_the_order_flag_is_truthful() -> None:
    """``unordered`` really scrambles an unordered scan (so the parity below is a test);
    DuckDB, which claims order, keeps it."""
    for e, kept in ((DuckDBEngine(), True), (UnorderedEngine(), False)):
        got = e.to_arrow(e.table(DATA)).column("id").to_pylist()
        assert (got == DATA.column("id").to_pylist()) is kept
        assert e.preserves_scan_order is kept


# -- end-to-end parity on the ACS data ------------------------------------------------------

RECIPE = """
dataset: employment
deltas: {include: [all], exclude: [y2017]}
where: "AGEP >= 18"
split: {seed: 5, fractions: {train: 0.6, valid: 0.2, test: 0.2}}
slices: {women: "SEX = 2", over_65: "AGEP >= 65"}
"""
OLDER = """
dataset: employment
deltas: {include: [base, y2016]}
split: {seed: 5, fractions: {train: 0.6, valid: 0.2, test: 0.2}}
"""
SUITE = {
    "suite": "parity",
    "expectations": [
        {"row_count": {"min": 1000}},
        {"not_null": {"column": "AGEP"}},
        {"unique": {"column": "id"}},
        {"between": {"column": "AGEP", "min": 18, "max": 90}},
        {"in_set": {"column": "SEX", "values": [1]}},
        {"not_in_set": {"column": "RAC1P", "values": [4, 5], "severity": "warn"}},
        {"compare": {"left": "AGEP", "op": ">", "right": "SCHL", "mostly": 0.9}},
        {"expression": {"expr": "AGEP >= 30 or ESP > 0", "mostly": 0.5}},
        {"mean_between": {"column": "employed", "min": 0.4, "max": 0.6}},
        {"distinct_values": {"column": "SEX", "subset_of": [1]}},
        {
            "slice": {
                "name": "women",
                "expectations": [{"mean_between": {"column": "employed", "min": 0.5, "max": 0.9}}],
            }
        },
    ],
}
FEATURES = ["AGEP", "SCHL", "MAR", "SEX", "DIS", "RAC1P"]


#: Where the scenario's store lives: its objects and its catalog.
BACKENDS = ("local+sqlite", "s3+postgresql")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, assay.Store]]:
    """A store on local objects + SQLite with the scenario's data and models."""
    root = tmp_path_factory.mktemp("parity")
    with assay.init_store(root / ".assay") as store:
        yield _build(root, store)


@pytest.fixture(scope="module")
def remote_project(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, postgres_url: str | None
) -> Iterator[tuple[Path, assay.Store]]:
    """The same project with its objects on S3 (moto) and its catalog on PostgreSQL."""
    if postgres_url is None:
        missing_service("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    root = tmp_path_factory.mktemp("parity-remote")
    with assay.init_store(new_bucket(), catalog=new_database(postgres_url)) as store:
        assert store.url.startswith("s3://") and store.catalog.url.startswith("postgresql")
        yield _build(root, store)


def _build(root: Path, store: assay.Store) -> tuple[Path, assay.Store]:
    """Four survey years, the recipes, and two registered models, in ``store``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    acs = pq.read_table(ACS)
    assay.create_dataset(store, "employment", ["id"], label="employed")
    for name, y in [("base", 2015), ("y2016", 2016), ("y2017", 2017), ("y2018", 2018)]:
        rows = year(acs, y)
        if name == "y2016":  # stored as given, its rows not in key order
            rows = rows.take(np.random.default_rng(16).permutation(rows.num_rows))
        pq.write_table(rows, root / f"{name}.parquet", row_group_size=8192)
        assay.add_delta(
            store, "employment", root / f"{name}.parquet", name=name, as_is=name == "y2016"
        )
    (root / "recipe.yaml").write_text(RECIPE)
    (root / "older.yaml").write_text(OLDER)
    train = assay.compose(root / "recipe.yaml", store=store).to_pandas(split="train")
    train = train.sample(5_000, random_state=0)
    X, y = train[FEATURES], train["employed"]
    for model, alias in [
        (LogisticRegression(max_iter=300), "baseline"),
        (DecisionTreeClassifier(max_depth=6, random_state=0), "candidate"),
    ]:
        assay.register_model(
            "employment", model.fit(X, y), sample=X.head(50), aliases=[alias], store=store
        )
    return root, store


def _everything(root: Path, store: assay.Store, engine: Engine) -> dict[str, Any]:
    """The scenario's outputs, run on ``engine``."""
    on = store.with_engine(engine)
    version = assay.compose(root / "recipe.yaml", store=on, record=False)
    out = root / f"version-{engine.name}.parquet"
    version.write_parquet(out)
    streamed = root / f"streamed-{engine.name}.parquet"  # compose --out: never materialised
    streamed_summary = assay.compose(
        root / "recipe.yaml", store=on, record=False, out=streamed
    ).summary()
    changes = root / f"diff-{engine.name}.parquet"
    difference = assay.diff(
        str(root / "older.yaml"), str(root / "recipe.yaml"), store=on, out=changes
    )
    report = assay.check(SUITE, version, store=on, record=False)
    spec = {
        "models": {"candidate": "employment@candidate", "baseline": "employment@baseline"},
        "datasets": {"test": {"recipe": str(root / "recipe.yaml"), "split": "test"}},
        "slices": ["women", "over_65", "SEX = 1 and AGEP < 30"],
        "metrics": ["accuracy", "roc_auc"],
        "thresholds": [{"metric": "roc_auc", "min": 0.5}],
        "bootstrap": {"samples": 50, "seed": 1},
    }
    evaluation = assay.evaluate(spec, store=on, record=False)
    impact = delta_impact(on, "employment")
    return {
        "fingerprint": version.fingerprint,
        "summary": version.summary(),
        "bytes": out.read_bytes(),
        "streamed": (streamed.read_bytes(), streamed_summary),
        "diff": {k: v for k, v in difference.to_dict().items() if k != "out"},
        "diff_rows": pq.read_table(changes),
        "verdicts": [
            {k: v for k, v in r.to_dict().items() if k != "seconds"} for r in report.results
        ],
        "engine": report.engine,
        "cells": [json.dumps(c, sort_keys=True) for c in evaluation.to_dict()["cells"]],
        "gate": evaluation.to_dict()["gate"],
        "impact": [json.dumps(i.to_dict(), sort_keys=True, default=str) for i in impact],
    }


@pytest.fixture(scope="module")
def reference(project: tuple[Path, assay.Store]) -> dict[str, Any]:
    """The scenario on DuckDB with the store on local objects + SQLite."""
    root, store = project
    return _everything(root, store, DuckDBEngine())


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_engine_gives_the_same_versions_verdicts_and_metrics(
    engine: Engine, backend: str, request: pytest.FixtureRequest, reference: dict[str, Any]
) -> None:
    fixture = "project" if backend == "local+sqlite" else "remote_project"
    root, store = request.getfixturevalue(fixture)
    got = _everything(root, store, engine)
    assert got["engine"] == engine.name
    assert got["fingerprint"] == reference["fingerprint"]
    assert got["summary"] == reference["summary"]
    assert got["bytes"] == reference["bytes"]  # rows, order, splits: byte-identical
    assert got["streamed"] == (reference["bytes"], reference["summary"])
    assert got["diff"] == reference["diff"]
    assert got["diff_rows"].equals(reference["diff_rows"])
    assert got["verdicts"] == reference["verdicts"]
    assert got["cells"] == reference["cells"]
    assert got["gate"] == reference["gate"]
    assert got["impact"] == reference["impact"]
    # And the scenario is not trivial: rows were dropped, checks failed, slices measured.
    assert reference["summary"]["slices"]["women"]["rows"] > 1000
    assert any(not v["passed"] for v in reference["verdicts"])
    assert any(v["sample"] for v in reference["verdicts"])


# -- choosing the engine -----------------------------------------------------------------


def test_the_cli_names_the_engine_and_refuses_unknown_ones(
    project: tuple[Path, assay.Store], tmp_path: Path
) -> None:
    root, _ = project
    ok = run_assay("data", "compose", root / "recipe.yaml", "--json", cwd=root)
    assert ok.rc == 0, ok.err
    assert ok.json()["engine"] == "duckdb"

    bad = run_assay("--engine", "sparkle", "data", "compose", root / "recipe.yaml", cwd=root)
    assert bad.rc == 2
    assert bad.error_line() == (
        "error: Invalid value for '--engine': 'sparkle' is not one of 'duckdb', 'spark'; "
        "see `assay --help`"
    )
    env = run_assay("data", "compose", root / "recipe.yaml", cwd=root, env={"ASSAY_ENGINE": "x"})
    assert env.rc == 2
    assert (
        env.error_line() == "error: ASSAY_ENGINE: 'x' is not an engine; use one of: duckdb, spark"
    )


def test_a_stores_config_picks_its_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_ENGINE", raising=False)
    assay.init_store(tmp_path / ".assay").close()
    config = tmp_path / ".assay" / "assay.json"
    doc = json.loads(config.read_text())
    with assay.open_store(tmp_path / ".assay") as s:
        assert s.engine.name == "duckdb"
    config.write_text(json.dumps({**doc, "engine": "nope"}))
    with (
        assay.open_store(tmp_path / ".assay") as s,
        pytest.raises(UsageError, match=r'^assay.json "engine": \'nope\' is not an engine'),
    ):
        _ = s.engine
    monkeypatch.setenv("ASSAY_ENGINE", "duckdb")  # the environment wins over the file
    with assay.open_store(tmp_path / ".assay") as s:
        assert s.engine.name == "duckdb"
