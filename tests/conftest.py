"""Shared fixtures: a fresh store per test, and the real ACS data split by year."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from backends import pg_database, postgres_url, s3_bucket, s3_endpoint

import assay
import forked_cli
from tests_helpers import ASSAY, cli_env, run_assay, year

__all__ = ["pg_database", "postgres_url", "s3_bucket", "s3_endpoint"]

ACS = Path(__file__).parents[1] / "examples" / "data" / "acs_employment_ma.parquet"

# The suite runs a worker per core (make test), so each process's libraries run one
# thread: OpenMP's idle threads spin, and two workers each starting a team per core
# starve each other (two `assay demo` side by side took 212 s each, 89 s held to one
# thread; decision 106). Set here, before any test imports scikit-learn, and inherited
# by every worker and command; a value the caller exported stands.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")


@pytest.fixture(scope="session", autouse=True)
def _machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The machine cache (remote stores' key index runs, skops' estimator list) goes to a
    temporary folder (the CLI subprocesses inherit it), never to the user's ~/.cache."""
    saved = os.environ.get("ASSAY_CACHE_DIR")
    os.environ["ASSAY_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    # The warm interpreter the CLI tests fork from starts importing now, beside the tests.
    forked_cli.start(ASSAY, cli_env())
    yield
    if saved is None:
        os.environ.pop("ASSAY_CACHE_DIR", None)
    else:
        os.environ["ASSAY_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def acs() -> pa.Table:
    """The real ACS employment table (277,677 rows)."""
    return pq.read_table(ACS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[assay.Store]:
    with assay.init_store(tmp_path / ".assay") as s:
        yield s


@pytest.fixture(scope="session")
def employment_template(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """A folder with `.assay` (the store `employment` describes) and each year's Parquet
    file, built once per session: adding four years of ACS takes seconds, and some 30
    tests start from it."""
    root = tmp_path_factory.mktemp("employment")
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        for name, y in [("base", 2015), ("y2016", 2016), ("y2017", 2017), ("y2018", 2018)]:
            path = root / f"{name}.parquet"
            pq.write_table(year(acs, y), path)
            assay.add_delta(store, "employment", path, name=name, tags=("survey",))
    return root


@pytest.fixture
def employment(employment_template: Path, tmp_path: Path) -> Iterator[assay.Store]:
    """A store whose dataset `employment` has 2015 as `base` and 2016–2018 as deltas, at
    ``tmp_path/.assay`` with the years' files beside it: this test's own copy."""
    # The catalog names objects relative to the store, so a copy is a whole store.
    shutil.copytree(employment_template, tmp_path, dirs_exist_ok=True)
    with assay.open_store(tmp_path / ".assay") as s:
        yield s


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``assay demo --json``, run once per session (it takes a minute or two): the folder
    it built and its JSON. Tests that change the store work on a copy.

    Under pytest-xdist the workers share it: the first to ask builds it in the folder
    their temporary folders sit in, under a lock the others wait on.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    answer = root / "demo.json"
    with (root / "demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not answer.exists():
            built = run_assay("demo", "--dir", "demo", "--json", cwd=root, timeout=900)
            assert built.rc == 0, built.err
            answer.write_text(json.dumps(built.json()))
    return (root / "demo").resolve(), json.loads(answer.read_text())
