"""Pipeline runs at once: two runs of one pipeline on one store run its stages once (the
second waits for the first, or refuses with --no-wait), a holder killed with SIGKILL
leaves no lock behind, and a run in a thread leaves the process's working folder alone.

The pipeline is one train stage whose command (relative to the pipeline's folder) says
it started and then waits for a file the test writes: the test decides when it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import assay
from assay.pipeline import run_pipeline
from tests_helpers import ASSAY, run_assay

WAIT_PY = """\
import pathlib, time
pathlib.Path("started").write_text("")  # relative: the stage runs in the pipeline's folder
deadline = time.monotonic() + 300
while not pathlib.Path("go").exists():
    if time.monotonic() > deadline:
        raise SystemExit(3)
    time.sleep(0.05)
"""
PIPELINE = f"""\
name: at-once
store: .assay
stages:
  train: {{kind: train, command: [{json.dumps(sys.executable)}, wait.py], code: [wait.py]}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The pipeline's folder, its store's catalog SQLite (a file lock) or PostgreSQL (an
    advisory lock)."""
    catalog = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    assay.init_store(tmp_path / ".assay", catalog=catalog).close()
    (tmp_path / "wait.py").write_text(WAIT_PY)
    (tmp_path / "assay.yaml").write_text(PIPELINE)
    return tmp_path


def until(what: str, done: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def start(project: Path, *args: str, err: Path) -> subprocess.Popen[str]:
    """``assay pipeline run --json ARGS`` in the project, its stderr to ``err``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    with err.open("w") as stderr:  # the child holds its own copy
        return subprocess.Popen(
            [str(ASSAY), "pipeline", "run", "--json", *args],
            cwd=project,
            env={**env, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its stage's command too can be killed as a group
        )


def test_two_runs_at_once_run_the_stage_once(project: Path, tmp_path: Path) -> None:
    first = start(project, err=tmp_path / "first.err")
    until("the first run's stage started", (project / "started").exists)
    # --no-wait refuses, in one line naming the holder, and runs nothing.
    refused = run_assay("pipeline", "run", "--no-wait", cwd=project)
    assert refused.rc == 75
    assert refused.error_line().startswith("error: pipeline 'at-once' is running already (pid ")
    assert f"pid {first.pid} on " in refused.error_line()
    # Without it, the second run waits, saying whom for …
    err = tmp_path / "second.err"
    second = start(project, err=err)
    until("the second run says it waits", lambda: "waiting for it to end" in err.read_text())
    assert f"pid {first.pid} on " in err.read_text()
    assert second.poll() is None
    (project / "go").touch()
    ran, _ = first.communicate(timeout=300)
    waited, _ = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err.read_text()
    # … and then finds the stage the first one ran fresh.
    assert json.loads(ran)["ran"] == ["train"]
    assert json.loads(waited)["ran"] == [] and json.loads(waited)["skipped"] == ["train"]
    with assay.open_store(project / ".assay") as s:
        assert [r.name for r in s.catalog.list_runs()] == ["train"]


def test_a_killed_holder_leaves_no_lock(project: Path, tmp_path: Path) -> None:
    first = start(project, err=tmp_path / "first.err")
    until("the first run's stage started", (project / "started").exists)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    (project / "go").touch()
    after = run_assay("pipeline", "run", "--no-wait", "--json", cwd=project)
    assert after.rc == 0, after.err
    assert after.json()["ran"] == ["train"]  # the killed run recorded nothing


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_a_run_in_a_thread_leaves_the_working_folder_alone(project: Path) -> None:
    here = os.getcwd()
    assert Path(here).resolve() != project.resolve()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            run_pipeline, project / "assay.yaml", store=str(project / ".assay"),
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        until("the stage started", lambda: (project / "started").exists() or running.done())
        during = os.getcwd()
        (project / "go").touch()
        done = running.result(timeout=300)
    assert during == here
    assert done.to_dict()["ran"] == ["train"] and done.exit_code == 0
