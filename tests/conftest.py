"""Shared fixtures: a fresh store per test, and the real ACS data split by year."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from backends import pg_database, postgres_url, s3_bucket, s3_endpoint

import assay
from tests_helpers import run_assay, year

__all__ = ["pg_database", "postgres_url", "s3_bucket", "s3_endpoint"]

ACS = Path(__file__).parents[1] / "examples" / "data" / "acs_employment_ma.parquet"


@pytest.fixture(scope="session")
def acs() -> pa.Table:
    """The real ACS employment table (277,677 rows)."""
    return pq.read_table(ACS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[assay.Store]:
    with assay.init_store(tmp_path / ".assay") as s:
        yield s


@pytest.fixture
def employment(store: assay.Store, acs: pa.Table, tmp_path: Path) -> assay.Store:
    """A store whose dataset `employment` has 2015 as `base` and 2016–2018 as deltas."""
    assay.create_dataset(store, "employment", ["id"], label="employed")
    for name, y in [("base", 2015), ("y2016", 2016), ("y2017", 2017), ("y2018", 2018)]:
        path = tmp_path / f"{name}.parquet"
        pq.write_table(year(acs, y), path)
        assay.add_delta(store, "employment", path, name=name, tags=("survey",))
    return store


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``assay demo --json``, run once per session (it takes a minute or two): the folder
    it built and its JSON. Tests that change the store work on a copy."""
    root = tmp_path_factory.mktemp("demo")
    built = run_assay("demo", "--dir", "demo", "--json", cwd=root, timeout=900)
    assert built.rc == 0, built.err
    return (root / "demo").resolve(), built.json()
