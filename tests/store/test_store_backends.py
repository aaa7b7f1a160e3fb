"""A whole store on S3 + PostgreSQL behaves exactly like the embedded one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from backends import missing_service

import assay
from assay.errors import StoreNotFound, UsageError
from tests_helpers import year


def build(store: assay.Store, acs: pa.Table, tmp_path: Path) -> assay.DatasetVersion:
    assay.create_dataset(store, "employment", ["id"], label="employed")
    for y in (2015, 2016, 2017):
        path = tmp_path / f"y{y}.parquet"
        pq.write_table(year(acs, y).slice(0, 20_000), path)
        assay.add_delta(store, "employment", path)
    fix = year(acs, 2016).slice(0, 500).to_pandas().assign(employed=1)
    fix.to_csv(tmp_path / "fix.csv", index=False)
    assay.add_delta(store, "employment", tmp_path / "fix.csv", op="upsert")
    recipe = {
        "dataset": "employment",
        "deltas": {"exclude": ["y2017"]},
        "where": "AGEP >= 16",
        "slices": {"women": "SEX = 2"},
    }
    return assay.compose(recipe, store=store)


def test_s3_and_postgres_store_matches_local(
    acs: pa.Table, tmp_path: Path, s3_bucket: str, pg_database: str
) -> None:
    with (
        assay.init_store(tmp_path / "local") as local_store,
        assay.init_store(s3_bucket, catalog=pg_database) as remote_store,
    ):
        local = build(local_store, acs, tmp_path)
        remote = build(remote_store, acs, tmp_path)
        assert remote.fingerprint == local.fingerprint
        assert remote.table.equals(local.table)
        assert remote.summary()["slices"] == local.summary()["slices"]
    with assay.open_store(s3_bucket) as reopened:
        assert reopened.catalog.url == pg_database
        assert assay.load_version(remote.fingerprint, store=reopened).table.equals(local.table)
        assert any(k.startswith("deltas/") for k in reopened.objects.list())


def test_remote_store_needs_a_catalog(s3_bucket: str) -> None:
    with pytest.raises(UsageError, match="--catalog postgresql://"):
        assay.init_store(s3_bucket)
    with pytest.raises(StoreNotFound, match="assay init"):
        assay.open_store(s3_bucket)


def test_a_backend_that_cannot_run_is_skipped_here_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no PostgreSQL$"):
        missing_service("no PostgreSQL")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^no PostgreSQL; CI runs every backend$"):
        missing_service("no PostgreSQL")
