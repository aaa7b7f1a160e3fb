"""A real project for training tests: a store with ACS survey years as deltas and a git
repository holding the training scripts in ``scripts/`` and their recipe.

(Not in conftest.py: ``from conftest import …`` would find tests/store/conftest.py.)"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import assay
from tests_helpers import CliResult, git, run_assay, year

SCRIPTS = Path(__file__).parent / "scripts"
ROWS_PER_YEAR = 1000
RECIPE = """\
dataset: employment
split: {seed: 1, fractions: {train: 0.8, test: 0.2}}
"""


@dataclass
class Project:
    """``root/.assay`` (the store) and ``root/code`` (a git repository with one commit)."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def store(self) -> Path:
        return self.root / ".assay"

    def assay(self, *args: Any, cwd: Path | None = None) -> CliResult:
        """``assay ARGS`` in the code folder; git looks no higher than the project."""
        return run_assay(
            *args, cwd=cwd or self.code, env={"GIT_CEILING_DIRECTORIES": str(self.root)}
        )

    def add_year(self, acs: pa.Table, y: int) -> None:
        """Commit the first rows of survey year ``y`` as delta ``y<year>``."""
        path = self.root / f"y{y}.parquet"
        pq.write_table(year(acs, y).slice(0, ROWS_PER_YEAR), path)
        with assay.open_store(self.store) as store:
            assay.add_delta(store, "employment", path, name=f"y{y}")

    def commit(self, message: str) -> str:
        git(self.code, "add", ".")
        git(self.code, "commit", "-q", "-m", message)
        return git(self.code, "rev-parse", "HEAD")


PY = sys.executable
