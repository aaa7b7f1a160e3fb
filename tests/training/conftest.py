"""The ``project`` fixture: a store with ACS years and a git repository of training code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from training_project import RECIPE, ROWS_PER_YEAR, SCRIPTS, Project

import assay
from tests_helpers import git, year


@pytest.fixture
def project(tmp_path: Path, acs: pa.Table) -> Project:
    """ACS 2015 (``base``) and 2016 (``y2016``), 1,000 rows each; the scripts committed."""
    p = Project(tmp_path)
    with assay.init_store(p.store) as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        path = tmp_path / "base.parquet"
        pq.write_table(year(acs, 2015).slice(0, ROWS_PER_YEAR), path)
        assay.add_delta(store, "employment", path, name="base")
    p.add_year(acs, 2016)
    p.code.mkdir()
    git(p.code, "init", "-q")
    for script in SCRIPTS.glob("*.py"):
        shutil.copy(script, p.code / script.name)
    (p.code / "train.yaml").write_text(RECIPE)
    p.commit("training code")
    return p
