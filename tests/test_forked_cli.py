"""A command forked from the warm interpreter (forked_cli) answers as a started one.

``run_assay`` forks most commands from a zygote that has imported the heavy libraries;
these cases run the same command lines both ways and hold every answer to be the same:
exit status, stdout, stderr, files written and their modes, the environment and the
folder the command sees, and a timeout that kills it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import forked_cli
from tests_helpers import ASSAY, CliResult, cli_env, run_assay


def zygote() -> forked_cli.Zygote:
    started = forked_cli.start(ASSAY, cli_env())
    assert started is not None, "ASSAY_TEST_EXEC=1 is set: nothing is forked"
    return started


def forked(*args: object, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """``assay ARGS``, asserted to have run forked from the zygote."""
    calls = zygote().calls
    done = run_assay(*args, cwd=cwd, env=env)
    assert zygote().calls == calls + 1, "the call was not forked"
    return done


def started(*args: object, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """``assay ARGS`` as a process started afresh."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSAY_TEST_EXEC", "1")
        return run_assay(*args, cwd=cwd, env=env)


def both(*args: object, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """``assay ARGS`` forked, then started afresh: the same answer both times."""
    one, other = forked(*args, cwd=cwd, env=env), started(*args, cwd=cwd, env=env)
    assert (one.rc, one.out, one.err) == (other.rc, other.out, other.err)
    return one


def test_answers_errors_json_and_the_environment_alike(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    assert forked("init", "--json", cwd=project).json()["store"]
    assert both("init", "--json", cwd=project).json()["exit_code"] == 2
    pq.write_table(pa.table({"id": [1, 2, 2], "x": [0.5, 1.5, 2.5]}), project / "d.parquet")
    assert forked("data", "create", "d", "--key", "id", cwd=project).rc == 0
    exists = both("data", "create", "d", "--key", "id", cwd=project)
    assert exists.rc == 2 and "already exists" in exists.error_line()
    # A refusal: one line on stderr, exit 2, nothing added (so the second run refuses too).
    refused = both("data", "add", "d", "d.parquet", cwd=project)
    assert refused.rc == 2 and "id" in refused.error_line()
    # The folder and the environment are the call's: found from ASSAY_STORE, not the cwd.
    store = {"ASSAY_STORE": str(project / ".assay")}
    listed = both("data", "list", "--json", cwd=elsewhere, env=store)
    assert [d["dataset"] for d in listed.json()["datasets"]] == ["d"]
    lost = both("data", "list", cwd=elsewhere)
    assert lost.rc == 2 and "no assay store found in" in lost.error_line()
    # COLUMNS is read as the CLI's modules load: each call's own width.
    narrow = both("data", "create", "--help", cwd=project, env={"COLUMNS": "50"})
    wide = both("data", "create", "--help", cwd=project, env={"COLUMNS": "150"})
    assert max(map(len, narrow.out.splitlines())) == 50 < max(map(len, wide.out.splitlines()))


def test_files_take_the_callers_umask(tmp_path: Path) -> None:
    modes = []
    old = os.umask(0o077)
    try:
        for run in (forked, started):
            (tmp_path / run.__name__).mkdir()
            assert run("init", cwd=tmp_path / run.__name__).rc == 0
            config = tmp_path / run.__name__ / ".assay" / "assay.json"
            modes.append(stat.S_IMODE(config.stat().st_mode))
    finally:
        os.umask(old)
    assert modes == [0o600, 0o600]


def test_a_timeout_kills_the_command_and_raises_as_subprocess_does(tmp_path: Path) -> None:
    assert run_assay("init", cwd=tmp_path).rc == 0
    calls = zygote().calls
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as raised:
        run_assay("run", "--name", "slow", "--", "sleep", "30", cwd=tmp_path, timeout=2)
    assert zygote().calls == calls + 1 and time.monotonic() - began < 20
    assert raised.value.timeout == 2
    # The zygote is still there for the next command.
    assert forked("data", "list", "--json", cwd=tmp_path).json() == {"datasets": []}


def test_what_a_starting_interpreter_reads_is_not_forked(tmp_path: Path) -> None:
    assert zygote().takes(cli_env({"ASSAY_STORE": "x", "COLUMNS": "80"}))
    for env in ({"PYTHONPATH": str(tmp_path)}, {"ASSAY_CRASH_AT": "x"}, {"OMP_NUM_THREADS": "3"}):
        assert not zygote().takes(cli_env(env))


def test_an_interrupted_call_kills_its_zygote_and_the_next_call_gets_a_new_one(
    tmp_path: Path,
) -> None:
    """A test interrupted between a request and its replies (pytest-timeout, Ctrl-C)
    must not leave the next call reading the old command's replies."""
    assert forked("init", cwd=tmp_path).rc == 0
    first = zygote()

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(2, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        with pytest.raises(Interrupted):
            run_assay("run", "--name", "slow", "--", "sleep", "30", cwd=tmp_path)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert first.broken and first.proc.wait(10) == -signal.SIGKILL
    assert forked("data", "list", "--json", cwd=tmp_path).json() == {"datasets": []}
    assert zygote() is not first
