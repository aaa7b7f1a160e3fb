"""A store made by the last release (0.1.0) opens with this code, upgrades in place, and
loses nothing; a catalog from a newer assay is refused with one line.

The fixture store and the facts it must still show were made by the released code
(tests/store/fixtures/make_release_store.py, run with commit 59e4c2b).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import assay
from assay.errors import UsageError
from assay.store.catalog import Catalog, DeltaInfo, open_catalog
from assay.store.catalog._base import metadata
from assay.store.catalog._schema import MIGRATIONS, head
from tests_helpers import run_assay

RELEASE = Path(__file__).parent / "fixtures" / "release-0.1.0"
EXPECTED: dict[str, Any] = json.loads((RELEASE / "expected.json").read_text())
BASELINE = importlib.import_module("assay.store.catalog.migrations.versions.0001_release_0_1_0")


def rows_sha256(table: pa.Table) -> str:
    """The fixture script's hash of a table's rows in order."""
    doc = json.dumps(table.to_pylist(), sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


@pytest.fixture
def release_store(tmp_path: Path) -> Path:
    """A copy of the release's store: the tests upgrade it in place."""
    shutil.copytree(RELEASE / "store", tmp_path / "store")
    return tmp_path / "store"


def revision(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def assert_catalog_facts(catalog: Catalog) -> None:
    """Every fact the release reported about its catalog, read through this code."""
    want = EXPECTED["dataset"]
    info = catalog.get_dataset(want["name"])
    assert (list(info.key), info.label) == (want["key"], want["label"])
    assert [list(c) for c in info.schema] == want["schema"]
    deltas = [
        {
            "number": d.number,
            "delta_id": d.delta_id,
            "name": d.name,
            "op": d.op,
            "row_count": d.row_count,
            "tags": list(d.tags),
            "object_key": d.object_key,
        }
        for d in catalog.list_deltas(want["name"])
    ]
    assert deltas == EXPECTED["deltas"]
    versions = {v.fingerprint: list(v.delta_ids) for v in catalog.list_versions()}
    assert versions == {fp: v["delta_ids"] for fp, v in EXPECTED["versions"].items()}
    skipped = {d["delta_id"] for d in EXPECTED["deltas"] if d["name"] == "y2017"}
    assert not skipped & set(versions[EXPECTED["train"]])  # the recipe skipped y2017

    (run,) = EXPECTED["runs"]
    got = catalog.get_run(run["id"])
    assert (got.name, got.status, got.params) == (run["name"], run["status"], run["params"])
    assert got.metrics == run["metrics"] and got.metric_history == run["metric_history"]
    assert [i.fingerprint for i in got.inputs] == run["inputs"]
    assert [{"name": a.name, "sha256": a.sha256} for a in got.artifacts] == run["artifacts"]

    models = [
        {
            "name": m.name,
            "version": m.version,
            "flavor": m.flavor,
            "sha256": m.sha256,
            "run_id": m.run_id,
            "aliases": list(m.aliases),
            "golden": None
            if m.golden is None
            else {"sha256": m.golden.sha256, "count": m.golden.count},
        }
        for m in catalog.list_model_versions()
    ]
    assert models == EXPECTED["models"]
    assert catalog.get_model_alias("employment", "production").ref == EXPECTED["registered"]

    checks = [
        {"id": c["id"], "suite": c["suite"], "passed": c["passed"], "fingerprint": c["fingerprint"]}
        for c in catalog.list_checks()
    ]
    assert checks == EXPECTED["checks"]
    assert catalog.get_check(EXPECTED["check_id"][:8])["id"] == EXPECTED["check_id"]
    evaluations = [
        {"id": e["id"], "passed": e["passed"], "name": e.get("name")}
        for e in catalog.list_evaluations()
    ]
    assert evaluations == EXPECTED["evaluations"]
    assert catalog.get_evaluation(EXPECTED["evaluation_id"])["passed"] is True
    assert catalog.find_predictions("employment", 1, EXPECTED["train"]) is not None
    assert len(catalog.referenced_objects()) == EXPECTED["referenced_objects"]


def test_the_fixture_is_the_release_schema_without_migrations() -> None:
    # What the other tests upgrade: no alembic_version, the tables 0.1.0 made.
    engine = sa.create_engine(f"sqlite:///{RELEASE / 'store' / 'catalog.db'}")
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(EXPECTED["tables"]) == set(BASELINE.release.tables)
    assert "alembic_version" not in tables
    assert sum(p.stat().st_size for p in RELEASE.rglob("*") if p.is_file()) < 1_000_000


def test_release_store_upgrades_in_place_and_loses_nothing(release_store: Path) -> None:
    with assay.open_store(release_store) as store:
        assert revision(store.catalog.url) == [head()]
        assert_catalog_facts(store.catalog)
        for fingerprint, want in EXPECTED["versions"].items():
            rows = assay.load_version(fingerprint, store=store).to_arrow()
            assert (rows.num_rows, rows_sha256(rows)) == (want["rows"], want["rows_sha256"])
        assert assay.verify(store).ok
        # The upgraded store takes new work in every area.
        delta = DeltaInfo(
            dataset="employment",
            number=6,
            delta_id="f" * 64,
            name="later",
            op="insert",
            row_count=0,
            object_key="deltas/later",
            object_sha256="0" * 64,
        )
        schema = store.catalog.get_dataset("employment").schema
        assert store.catalog.commit_delta(delta, schema).number == 6
        model = store.catalog.get_model_version("employment", 1)
        assert store.catalog.register_model_version(model).version == 2


def test_release_store_opened_twice_is_upgraded_once(release_store: Path) -> None:
    url = f"sqlite:///{release_store / 'catalog.db'}"

    def snapshot() -> dict[str, list[Any]]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return {
                    name: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {name}"))]
                    for name in sorted(sa.inspect(conn).get_table_names())
                }
        finally:
            engine.dispose()

    open_catalog(url).close()
    first = snapshot()
    catalog = open_catalog(url)
    try:
        assert_catalog_facts(catalog)
    finally:
        catalog.close()
    assert snapshot() == first
    assert first["alembic_version"] == [(head(),)]


def test_release_store_opened_by_many_at_once_is_upgraded_once(release_store: Path) -> None:
    # Four processes (as four CLI commands would) race to upgrade the same catalog.
    url = f"sqlite:///{release_store / 'catalog.db'}"
    code = "import sys; from assay.store.catalog import open_catalog; open_catalog(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert revision(url) == [head()]
    catalog = open_catalog(url)
    try:
        assert_catalog_facts(catalog)
    finally:
        catalog.close()


def _open_at_the_barrier(url: str, barrier: Any) -> str:
    barrier.wait()
    try:
        open_catalog(url).close()
    except Exception as e:  # reported to the parent, which shows all of them
        return f"{type(e).__name__}: {e}"
    return ""


def test_release_store_converted_to_wal_by_many_at_once(tmp_path: Path) -> None:
    # The 0.1.0 catalog is in rollback-journal mode; the first connection of this code
    # converts it to WAL, which needs an exclusive lock SQLite refuses at once (no busy
    # wait) when other connections want it too. Eight processes released together by a
    # barrier, 20 rounds: before the fix one round in five or so lost one.
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(8) as pool:
        for round_ in range(20):
            store = tmp_path / f"store{round_}"
            shutil.copytree(RELEASE / "store", store)
            url = f"sqlite:///{store / 'catalog.db'}"
            barrier = manager.Barrier(8)
            errors = pool.starmap(_open_at_the_barrier, [(url, barrier)] * 8)
            assert [e for e in errors if e] == []
            assert revision(url) == [head()]
            with sqlite3.connect(store / "catalog.db") as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_release_store_through_the_cli(release_store: Path, tmp_path: Path) -> None:
    store = ["--store", str(release_store)]
    for fingerprint, want in EXPECTED["versions"].items():
        out = tmp_path / f"{fingerprint[:12]}.parquet"
        shown = run_assay("data", "show", fingerprint[:12], "--out", out, *store, cwd=tmp_path)
        assert shown.rc == 0, shown.err
        rows = pq.read_table(out)
        assert (rows.num_rows, rows_sha256(rows)) == (want["rows"], want["rows_sha256"])
    (run,) = EXPECTED["runs"]
    shown = run_assay("runs", "show", run["id"], "--json", *store, cwd=tmp_path)
    assert shown.rc == 0, shown.err
    assert shown.json()["params"] == run["params"]
    verified = run_assay("verify", *store, cwd=tmp_path)
    assert verified.rc == 0, verified.out + verified.err
    assert revision(f"sqlite:///{release_store / 'catalog.db'}") == [head()]


def test_catalog_from_a_newer_assay_is_refused(release_store: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{release_store / 'catalog.db'}"
    open_catalog(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(
        UsageError, match=r"made by a newer assay \(schema revision 9999; .*upgrade assay"
    ):
        open_catalog(url)
    listed = run_assay("data", "list", "--store", release_store, cwd=tmp_path)
    assert listed.rc == 2
    assert "made by a newer assay" in listed.error_line()
    assert revision(url) == ["9999"]  # left as it was


def test_a_table_that_assay_did_not_make_is_not_adopted(release_store: Path) -> None:
    url = f"sqlite:///{release_store / 'catalog.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE model_aliases"))
        conn.execute(sa.text("CREATE TABLE model_aliases (name TEXT, note TEXT)"))
    engine.dispose()
    with pytest.raises(
        assay.AssayError, match=r"table 'model_aliases' lacks column\(s\) alias, version"
    ):
        open_catalog(url)


def test_migrations_make_the_schema_the_areas_declare(release_store: Path, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [head()]
    for url in (
        f"sqlite:///{tmp_path / 'new.db'}",  # created at head
        f"sqlite:///{release_store / 'catalog.db'}",  # upgraded from the release
    ):
        open_catalog(url, create=True).close()
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        finally:
            engine.dispose()


# PostgreSQL: the release's schema and rows (those of the fixture), without migrations.

_SERIAL = ("datasets", "deltas", "run_inputs", "run_artifacts", "model_versions")


def _release_on_postgresql(pg_url: str, *, without: tuple[str, ...] = ()) -> None:
    """The fixture's catalog as 0.1.0 would have left it on PostgreSQL."""
    source = sa.create_engine(f"sqlite:///{RELEASE / 'store' / 'catalog.db'}")
    target = sa.create_engine(pg_url)
    tables = [t for t in BASELINE.release.sorted_tables if t.name not in without]
    BASELINE.release.create_all(target, tables=tables)
    with source.connect() as src, target.begin() as dst:
        for table in tables:
            rows = [r._asdict() for r in src.execute(sa.select(table))]
            if rows:
                dst.execute(table.insert(), rows)
        for name in _SERIAL:  # as if the release had inserted them one by one
            if name not in without:
                dst.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
                    )
                )
    source.dispose()
    target.dispose()


def test_release_catalog_on_postgresql_upgrades_in_place(pg_database: str) -> None:
    _release_on_postgresql(pg_database)
    catalog = open_catalog(pg_database)
    try:
        assert revision(pg_database) == [head()]
        assert_catalog_facts(catalog)
        model = catalog.get_model_version("employment", 1)
        assert catalog.register_model_version(model).version == 2
    finally:
        catalog.close()
    again = open_catalog(pg_database)
    try:
        assert [m.version for m in again.list_model_versions()] == [1, 2]
        assert revision(pg_database) == [head()]
    finally:
        again.close()


def test_release_catalog_on_postgresql_before_models_gains_their_tables(
    pg_database: str,
) -> None:
    # 0.1.0 created the model tables on first use: a catalog may lack them.
    _release_on_postgresql(pg_database, without=("model_versions", "model_aliases"))
    catalog = open_catalog(pg_database)
    try:
        assert catalog.list_model_versions() == []
        assert [d.name for d in catalog.list_deltas("employment")] == [
            d["name"] for d in EXPECTED["deltas"]
        ]
        assert revision(pg_database) == [head()]
    finally:
        catalog.close()
