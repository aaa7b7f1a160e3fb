"""Limits seen from the command line (issue 10, items 8 and 9): long input comes back
shortened in one line, long expressions work or are refused in one line, and output
files get the mode the umask allows. Each command runs as a real subprocess."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from tests_helpers import run_assay

LONG_NAME = "x" * 10_000


@pytest.fixture
def project(acs: pa.Table, tmp_path: Path) -> Path:
    """A folder with a small store: dataset `people` with deltas `base` and `more`."""
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "people", ["id"])
        for name, rows in (("base", acs.slice(0, 2_000)), ("more", acs.slice(2_000, 500))):
            pq.write_table(rows, tmp_path / f"{name}.parquet")
            assay.add_delta(store, "people", tmp_path / f"{name}.parquet", name=name)
    (tmp_path / "a.yaml").write_text("dataset: people\ndeltas: [base]\n")
    (tmp_path / "b.yaml").write_text("dataset: people\n")
    (tmp_path / "suite.yaml").write_text(
        "suite: s\nexpectations:\n  - between: {column: AGEP, min: 0, max: 120}\n"
    )
    return tmp_path


def refused(*args: object, cwd: Path) -> str:
    """The one error line of a command that must be refused as bad usage (exit 2)."""
    done = run_assay(*args, cwd=cwd)
    assert done.rc == 2, done.err + done.out
    return done.error_line()


# ------------------------------------------------------------------- file modes


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The block's subprocesses inherit ``mask``."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_output_files_get_the_umask_mode(project: Path, mask: int, mode: int) -> None:
    with umask(mask):
        commands = [
            ("data", "compose", "a.yaml", "--out", "out/a.parquet"),
            ("data", "compose", "b.yaml", "--out", "out/b.parquet"),
            ("data", "diff", "a.yaml", "b.yaml", "--out", "out/diff.parquet"),
            ("check", "suite.yaml", "--on", "a.yaml", "--html", "out/check.html"),
        ]
        for args in commands:
            done = run_assay(*args, cwd=project)
            assert done.rc == 0, done.err + done.out
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (project / "out").iterdir()}
    assert modes == {n: mode for n in ("a.parquet", "b.parquet", "diff.parquet", "check.html")}
    assert len(pq.read_table(project / "out" / "diff.parquet")) == 500  # `more`'s rows


# ------------------------------------------------------------ long input echoed


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("data", "create", LONG_NAME, "--key", "id"), "dataset name 'xxxx"),
        (("data", "show", LONG_NAME), "no dataset version 'xxxx"),
        (("data", "log", LONG_NAME), "no dataset 'xxxx"),
        (("models", "show", LONG_NAME), "model reference 'xxxx"),
    ],
    ids=["create", "show", "log", "models-show"],
)
def test_a_10k_character_name_comes_back_shortened(
    project: Path, args: tuple[str, ...], problem: str
) -> None:
    line = refused(*args, cwd=project)
    assert problem in line
    assert "(10,000 characters)" in line or "(10,002 characters)" in line  # quoted: +2
    assert len(line) < 300, line


def test_a_20kb_expression_comes_back_as_an_excerpt(project: Path) -> None:
    where = " or ".join(f"AGEP = {v}" for v in range(1_500)) + " or AGEP = = 1"
    assert len(where) > 20_000
    (project / "long.yaml").write_text(f'dataset: people\nwhere: "{where}"\n')
    line = refused("data", "compose", "long.yaml", cwd=project)
    assert line.startswith(
        f"error: recipe long.yaml: where: unexpected '=' at column {len(where) - 2} in \"…"
    )
    assert f'AGEP = = 1" ({len(where):,} characters)' in line
    assert len(line) < 300, line


# ------------------------------------------------------------ long expressions


def test_a_recipe_with_a_1000_term_or_chain_composes(project: Path, acs: pa.Table) -> None:
    ages = list(range(20, 1_020))
    where = " or ".join(f"AGEP = {a}" for a in ages)
    (project / "ages.yaml").write_text(f'dataset: people\nwhere: "{where}"\n')
    done = run_assay("data", "compose", "ages.yaml", "--out", "ages.parquet", cwd=project)
    assert done.rc == 0, done.err + done.out
    df = acs.slice(0, 2_500).to_pandas()
    expected = df[df.AGEP.isin(ages)].sort_values("id")  # one delta per id range
    got = pd.read_parquet(project / "ages.parquet")
    assert got.id.tolist() == expected.id.tolist()


def test_deep_nesting_is_refused_in_one_line(project: Path) -> None:
    (project / "deep.yaml").write_text(f'dataset: people\nwhere: "{"not " * 5_000}AGEP = 1"\n')
    line = refused("data", "compose", "deep.yaml", cwd=project)
    assert "expression nested too deeply" in line and "use at most 100 levels" in line
    assert len(line) < 400, line


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("data", "compose", LONG_NAME), "recipe: expected a mapping"),
        (("data", "diff", LONG_NAME, "b.yaml"), "neither a recipe file"),
        (("check", LONG_NAME), "suite: expected a mapping"),
        (("check", "suite.yaml", "--on", LONG_NAME), "no such file, and not a version"),
        (("eval", LONG_NAME), "evaluation spec: expected a mapping"),
    ],
    ids=["compose", "diff", "check", "check-on", "eval"],
)
def test_a_10k_character_path_is_refused_not_crashed(
    project: Path, args: tuple[str, ...], problem: str
) -> None:
    """A file name no file system takes (ENAMETOOLONG) is not a path: one line, exit 2."""
    line = refused(*args, cwd=project)
    assert problem in line
    assert "internal error" not in line and len(line) < 300, line
