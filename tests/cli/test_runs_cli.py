"""``assay run -- COMMAND`` and ``assay runs list|show``, end to end as subprocesses.

One store with the ACS years 2015–2016 and one git repository holding a training
script and its recipe are built once for the module. Expected values come from git
and pandas, never from assay itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow.parquet as pq
import pytest

import assay
from tests_helpers import CliResult, git, run_assay

T = TypeVar("T")
ACS_PATH = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"

RECIPE = """\
dataset: employment
where: "AGEP >= 18"
split: {seed: 1, fractions: {train: 0.75, test: 0.25}}
"""
# Attaches to the run `assay run` started, composes, logs; argv: OUT [EXIT_CODE].
SCRIPT = """\
import json, sys
import assay

with assay.start_run() as run:
    version = assay.compose("train.yaml")
    run.log_metrics({"rows": version.table.num_rows, "acc": 0.75}, step=0)
    run.log_metrics({"acc": 0.8}, step=1)
    with open(sys.argv[1], "w") as f:
        json.dump({"run": run.id, "attached": run.attached, "fingerprint": version.fingerprint}, f)
    if len(sys.argv) > 2:
        sys.exit(int(sys.argv[2]))
"""


@dataclass
class Project:
    root: Path  # holds .assay/ (the store) and code/ (the git repository)

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def store(self) -> Path:
        return self.root / ".assay"


def run(*args: Any, cwd: Path) -> CliResult:
    """``assay ARGS`` in ``cwd``; git looks no further up than the test's folder."""
    return run_assay(*args, cwd=cwd, env={"GIT_CEILING_DIRECTORIES": str(cwd.parent)})


def parallel(*calls: Callable[[], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


@pytest.fixture(scope="module")
def acs_df() -> pd.DataFrame:
    return pq.read_table(ACS_PATH).to_pandas()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs_df: pd.DataFrame) -> Project:
    state = Project(tmp_path_factory.mktemp("runs"))
    with assay.init_store(state.store) as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        for name, year in [("base", 2015), ("y2016", 2016)]:
            path = state.root / f"{name}.parquet"
            acs_df[acs_df.year == year].to_parquet(path, index=False)
            assay.add_delta(store, "employment", path, name=name)
    state.code.mkdir()
    git(state.code, "init", "-q")
    (state.code / "script.py").write_text(SCRIPT)
    (state.code / "train.yaml").write_text(RECIPE)
    (state.code / ".gitignore").write_text("out/\n")
    (state.code / "out").mkdir()
    git(state.code, "add", ".")
    git(state.code, "commit", "-q", "-m", "training code")
    return state


def test_run_records_the_data_code_pair(project: Project, acs_df: pd.DataFrame) -> None:
    code = project.code
    r = run(
        "run", "--name", "t", "--param", "lr=0.1", "--param", "epochs=3",
        "--param", "deep=true", "--param", "arch=resnet", "--json", "--",
        sys.executable, "script.py", "out/ok.json",
        cwd=code,
    )  # fmt: skip
    assert r.rc == 0, r.err
    got = r.json()
    seen = json.loads((code / "out" / "ok.json").read_text())
    assert seen["run"] == got["id"] and seen["attached"] is True

    # The fingerprint the run recorded is the one composing the recipe gives.
    with assay.open_store(project.store) as store:
        expected = assay.compose(code / "train.yaml", store=store).fingerprint
    assert seen["fingerprint"] == expected
    assert got["inputs"] == [
        {
            "fingerprint": expected,
            "dataset": "employment",
            "recipe": "train.yaml",
            "read_at": got["inputs"][0]["read_at"],
        }
    ]
    rows = int(((acs_df.year <= 2016) & (acs_df.AGEP >= 18)).sum())
    assert (got["name"], got["status"], got["exit_code"], got["error"]) == (
        "t",
        "finished",
        0,
        None,
    )
    assert got["params"] == {"lr": 0.1, "epochs": 3, "deep": True, "arch": "resnet"}
    assert got["metrics"] == {"rows": rows, "acc": 0.8}
    assert [(h["step"], h["value"]) for h in got["metric_history"]["acc"]] == [(0, 0.75), (1, 0.8)]
    assert got["git"] == {
        "commit": git(code, "rev-parse", "HEAD"),
        "dirty": False,
        "diff_sha256": None,
        "root": str(code.resolve()),
        "note": None,
    }
    assert got["command"] == [sys.executable, "script.py", "out/ok.json"]
    assert got["environment"]["packages"]["assay"] == assay.__version__

    # `runs show` by a prefix prints the same record, from the store found from here.
    shown, human = parallel(
        lambda: run("runs", "show", got["id"][:6], "--json", cwd=code),
        lambda: run("runs", "show", got["id"], cwd=code),
    )
    assert shown.rc == 0 and shown.json() == got
    assert human.rc == 0
    for text in (got["id"], expected[:12], "lr", "acc", "0.8", got["git"]["commit"][:12]):
        assert text in human.out


def test_failing_commands_fail_their_run(project: Project) -> None:
    code = project.code
    exits, missing = parallel(
        lambda: run(
            "run", "--json", "--", sys.executable, "script.py", "out/x.json", "3", cwd=code
        ),
        lambda: run("run", "--", "no-such-command-x", "--epochs", "3", cwd=code),
    )
    assert exits.rc == 3
    got = exits.json()
    assert (got["status"], got["exit_code"], got["error"]) == ("failed", 3, "exited with status 3")
    assert got["metrics"]["acc"] == 0.8 and len(got["inputs"]) == 1  # recorded before it failed

    assert missing.rc == 127
    line = missing.error_line()
    assert "command not found: 'no-such-command-x'" in line
    run_id = line.rsplit("(run ", 1)[1].split()[0]
    listed = {r["id"]: r for r in run("runs", "list", "--json", cwd=code).json()["runs"]}
    assert (listed[run_id]["status"], listed[run_id]["exit_code"]) == ("failed", 127)
    assert (listed[got["id"]]["status"], listed[got["id"]]["exit_code"]) == ("failed", 3)
    assert "running" not in {r["status"] for r in listed.values()}  # nothing left half-done


def test_usage_errors(project: Project) -> None:
    code = project.code
    bad_param, no_command, unknown = parallel(
        lambda: run("run", "--param", "lr", "--", sys.executable, "-c", "pass", cwd=code),
        lambda: run("run", "--name", "x", cwd=code),
        lambda: run("runs", "show", "ffffffff", "--json", cwd=code),
    )
    assert bad_param.rc == 2 and "--param 'lr' is not KEY=VALUE" in bad_param.error_line()
    assert no_command.rc == 2 and "give the command to run after `--`" in no_command.error_line()
    assert unknown.rc == 2 and "`assay runs list`" in unknown.json()["error"]


def test_runs_list_newest_first_and_outside_git(project: Project) -> None:
    plain = project.root / "plain"
    plain.mkdir()
    store = ["--store", project.store]
    first = run(
        "run", "--name", "first", *store, "--json", "--", sys.executable, "-c", "", cwd=plain
    )
    second = run(
        "run", "--name", "second", *store, "--",
        sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(2)",
        cwd=plain,
    )  # fmt: skip
    assert (first.rc, second.rc) == (0, 2)
    assert "boom" in second.err  # the command's own output passes through
    assert first.json()["git"]["note"] == "not a git repository"
    assert first.json()["git"]["commit"] is None
    assert "not a git repository: no code commit recorded" in second.err  # says so

    listed, human = parallel(
        lambda: run("runs", "list", *store, "--json", cwd=plain),
        lambda: run("runs", "list", *store, cwd=plain),
    )
    assert listed.rc == 0
    runs = listed.json()["runs"]
    assert [r["name"] for r in runs[:2]] == ["second", "first"]
    assert [r["started_at"] for r in runs] == sorted((r["started_at"] for r in runs), reverse=True)
    assert runs[1] == {
        "id": first.json()["id"],
        "name": "first",
        "status": "finished",
        "exit_code": 0,
        "started_at": first.json()["started_at"],
        "ended_at": first.json()["ended_at"],
        "git_commit": None,
        "git_dirty": None,
        "git_note": "not a git repository",
        "inputs": 0,
        "params": {},
        "metrics": {},
    }
    assert f"Run {runs[0]['id']} (second) failed (exit 2)" in second.err
    assert human.rc == 0 and runs[0]["id"] in human.out and "no git" in human.out
