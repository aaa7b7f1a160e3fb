"""Runs: the code (a real git repository), the data read (the real ACS deltas), metrics,
artifacts and how a run ended — checked against git itself, hashlib and pandas."""

from __future__ import annotations

import contextvars
import hashlib
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import assay
from assay.errors import InputFileError, UsageError
from assay.runs import RUN_ID_ENV, CommandNotFound, git_state, run_command
from assay.store.manifests import run_manifest_key
from tests_helpers import git, objects_in

TRAIN = """\
dataset: employment
deltas: {include: [base, y2016, y2018]}
where: "AGEP >= 16"
split: {seed: 3, fractions: {train: 0.8, test: 0.2}}
"""
HELD_OUT = {"dataset": "employment", "deltas": ["y2017"], "columns": ["id", "AGEP", "employed"]}


@pytest.fixture(autouse=True)
def _no_outer_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    # git must not find a repository above the test's folder (the one assay lives in).
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit, as the current folder."""
    code = tmp_path / "code"
    code.mkdir()
    git(code, "init", "-q")
    (code / "train.py").write_text("print('v1')\n")
    (code / ".gitignore").write_text("out/\n")
    git(code, "add", ".")
    git(code, "commit", "-q", "-m", "first")
    monkeypatch.chdir(code)
    return code


def snapshot(store: assay.Store) -> assay.RunInfo:
    with assay.start_run(store=store) as run:
        pass
    return run.info()


# --------------------------------------------------------------------------- data read


def test_run_records_the_exact_versions_it_read(
    employment: assay.Store, repo: Path, tmp_path: Path, acs: pa.Table
) -> None:
    recipe = tmp_path / "train.yaml"
    recipe.write_text(TRAIN)
    with assay.start_run("fit", {"lr": 0.1}, store=employment) as run:
        assert assay.active_run() is run
        train = run.read(recipe)
        held_out = assay.compose(HELD_OUT, store=employment)  # a plain compose registers too
        again = run.read(recipe)  # the same version: still one input
        reloaded = assay.load_version(train.fingerprint[:10], store=employment)
    assert assay.active_run() is None
    assert again.fingerprint == reloaded.fingerprint == train.fingerprint
    with pytest.raises(UsageError, match="already ended"):
        run.read(HELD_OUT)

    # Outside the run, composing the same recipes gives the fingerprints it recorded …
    expected = [assay.compose(recipe, store=employment), assay.compose(HELD_OUT, store=employment)]
    info = assay.get_run(run.id, store=employment)
    assert [i.fingerprint for i in info.inputs] == [v.fingerprint for v in expected]
    assert expected[0].fingerprint != expected[1].fingerprint
    assert [(i.dataset, i.recipe_source) for i in info.inputs] == [
        ("employment", str(recipe)),
        ("employment", None),
    ]
    # … and registers nothing more.
    assert len(assay.get_run(run.id, store=employment).inputs) == 2
    assert (info.name, info.status, info.params) == ("fit", "finished", {"lr": 0.1})

    # What the run read is what the recipe says (pandas, from the source file) …
    df = acs.to_pandas()
    want = df[df.year.isin([2015, 2016, 2018]) & (df.AGEP >= 16)]
    assert sorted(train.table.column("id").to_pylist()) == sorted(want.id)
    assert held_out.table.num_rows == int((df.year == 2017).sum())
    # … and re-reading each recorded input, from a freshly opened store, gives it again.
    read = {train.fingerprint: train.table, held_out.fingerprint: held_out.table}
    with assay.open_store(employment.url) as fresh:
        for i in info.inputs:
            rebuilt = assay.load_version(i.fingerprint, store=fresh).table
            assert rebuilt.equals(read[i.fingerprint]), i.fingerprint


def test_assay_run_id_attaches(employment: assay.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # `assay run` started this run in another process; here only its id is known.
    parent = contextvars.Context().run(assay.start_run, "parent", {"lr": 0.1}, store=employment)
    monkeypatch.setenv(RUN_ID_ENV, parent.id)
    assert assay.active_run() is None
    version = assay.compose(HELD_OUT, store=employment)  # registers without start_run
    with assay.start_run(params={"lr": 0.1, "epochs": 2}, store=employment) as child:
        assert (child.id, child.attached) == (parent.id, True)
        child.log_metrics({"acc": 0.9})
    info = parent.info()
    assert info.status == "running"  # whoever started the run ends it
    assert [i.fingerprint for i in info.inputs] == [version.fingerprint]
    assert (info.params, info.metrics) == ({"lr": 0.1, "epochs": 2}, {"acc": 0.9})
    with pytest.raises(UsageError, match=r"param 'lr' .* is already 0\.1"):
        assay.start_run(params={"lr": 0.2}, store=employment)

    assert parent.end().status == "finished"
    with pytest.raises(UsageError, match=rf"{RUN_ID_ENV}={parent.id}: .*already ended"):
        assay.compose(HELD_OUT, store=employment)
    with pytest.raises(UsageError, match="already ended"):
        assay.start_run(store=employment)
    monkeypatch.setenv(RUN_ID_ENV, "0123456789ab")
    with pytest.raises(UsageError, match=f"{RUN_ID_ENV}=0123456789ab names no run"):
        assay.compose(HELD_OUT, store=employment)
    assert len(parent.info().inputs) == 1


# --------------------------------------------------------------------------- code


def test_git_commit_dirty_flag_and_diff_hash(store: assay.Store, repo: Path) -> None:
    clean = snapshot(store)
    assert clean.git_commit == git(repo, "rev-parse", "HEAD")
    assert (clean.git_dirty, clean.git_diff_sha256, clean.git_note) == (False, None, None)
    assert Path(clean.git_root or "") == repo.resolve()

    (repo / "train.py").write_text("print('v2')\n")
    v2 = snapshot(store)
    assert (v2.git_commit, v2.git_dirty) == (clean.git_commit, True)
    # The hash is of `git diff HEAD` (binary, full index) when nothing is untracked.
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--binary", "--full-index", "--no-color", "--", "."],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout
    assert b"+print('v2')" in diff
    assert v2.git_diff_sha256 == hashlib.sha256(diff).hexdigest()
    assert snapshot(store).git_diff_sha256 == v2.git_diff_sha256  # same changes, same hash
    (repo / "train.py").write_text("print('v3')\n")
    v3 = snapshot(store)
    assert v3.git_dirty and v3.git_diff_sha256 not in (None, v2.git_diff_sha256)

    (repo / "train.py").write_text("print('v1')\n")  # back to the commit
    (repo / "out").mkdir()
    (repo / "out" / "model.bin").write_bytes(b"ignored")
    assert snapshot(store).git_dirty is False  # ignored files are not code
    (repo / "notes.txt").write_text("a")
    a = snapshot(store)
    (repo / "notes.txt").write_text("b")
    b = snapshot(store)
    assert a.git_dirty and b.git_dirty and a.git_diff_sha256 != b.git_diff_sha256

    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "notes")
    (repo / "sub").mkdir()
    os.chdir(repo / "sub")  # from a subfolder, the same repository (monkeypatch restores cwd)
    after = snapshot(store)
    assert after.git_commit == git(repo, "rev-parse", "HEAD") != clean.git_commit
    assert (after.git_dirty, Path(after.git_root or "")) == (False, repo.resolve())


def test_store_inside_the_working_tree_is_not_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    (project / "train.py").write_text("pass\n")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "first")
    monkeypatch.chdir(project)
    with assay.init_store(project / ".assay") as store:  # not in .gitignore
        first = snapshot(store)
        second = snapshot(store)  # the catalog changed in between
    assert (first.git_dirty, second.git_dirty) == (False, False)
    assert git_state(project).dirty is True  # without excluding it, the store is a change


def test_outside_a_git_repository(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    with assay.start_run("no-git", store=store) as run:
        run.log_metrics({"acc": 0.5})
    info = run.info()
    assert (info.status, info.metrics) == ("finished", {"acc": 0.5})
    assert (info.git_commit, info.git_dirty, info.git_diff_sha256, info.git_root) == (
        None,
        None,
        None,
        None,
    )
    assert info.git_note == "not a git repository"

    git(plain, "init", "-q")
    (plain / "a.py").write_text("pass\n")
    unborn = git_state()
    assert (unborn.commit, unborn.dirty, unborn.note) == (
        None,
        True,
        "the repository has no commits yet",
    )
    assert unborn.diff_sha256 is not None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_state().note == "git is not installed"


def test_environment_names_python_and_package_versions(store: assay.Store) -> None:
    import duckdb
    import pyarrow

    env = snapshot(store).environment
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    packages = env["packages"]
    assert packages["assay"] == assay.__version__
    assert (packages["pyarrow"], packages["duckdb"], packages["numpy"]) == (
        pyarrow.__version__,
        duckdb.__version__,
        np.__version__,
    )
    assert "ibis-framework" in packages


# --------------------------------------------------------------------------- values


def test_metrics_history_steps_and_refusals(store: assay.Store) -> None:
    with assay.start_run(store=store) as run:
        run.log_metrics({"loss": 1.0, "acc": 0.5})
        run.log_metrics({"loss": np.float32(0.5), "count": np.int64(7)})
        run.log_metrics({"loss": 0.25}, step=10)
        run.log_metrics({"loss": 0.125})
        for bad, pattern in [
            ({"ok": 1.0, "loss": math.nan}, r"metric 'loss' is nan; metrics must be finite"),
            ({"loss": math.inf}, r"metric 'loss' is inf"),
            ({"loss": -math.inf}, r"metric 'loss' is -inf"),
            ({"acc": "0.9"}, r"metric 'acc' is '0\.9', not a number"),
            ({"acc": None}, r"metric 'acc' is None, not a number"),
            ({"acc": True}, r"metric 'acc' is True, not a number"),
            ({"acc": np.array([0.1, 0.2])}, r"metric 'acc' .* not a number"),
            ({"": 1.0}, r"metric names are non-empty strings"),
        ]:
            with pytest.raises(UsageError, match=pattern):
                run.log_metrics(bad)
        for step in (-1, 1.5, True):
            with pytest.raises(UsageError, match="step is"):
                run.log_metrics({"loss": 0.1}, step=step)  # type: ignore[arg-type]
    info = run.info()
    assert info.metrics == {"loss": 0.125, "acc": 0.5, "count": 7}  # no refused value landed
    assert [(h["step"], h["value"]) for h in info.metric_history["loss"]] == [
        (0, 1.0),
        (1, 0.5),
        (10, 0.25),
        (11, 0.125),
    ]
    assert isinstance(info.metrics["count"], int)


def test_params(store: assay.Store) -> None:
    with assay.start_run("p", {"lr": 0.1, "layers": (64, 32)}, store=store) as run:
        assert run.log_params({"lr": 0.1, "seed": np.int64(3)}) == {
            "lr": 0.1,
            "layers": [64, 32],
            "seed": 3,
        }
        with pytest.raises(UsageError, match=r"param 'lr' .* is already 0\.1, not 0\.2"):
            run.log_params({"lr": 0.2})
        with pytest.raises(UsageError, match=r"param 'model' is .* not plain data"):
            run.log_params({"model": object()})
        with pytest.raises(UsageError, match="param 'x' is nan"):
            run.log_params({"x": math.nan})
    assert run.info().params == {"lr": 0.1, "layers": [64, 32], "seed": 3}
    with pytest.raises(UsageError, match="name '  ' is empty"):
        assay.start_run("  ", store=store)


# --------------------------------------------------------------------------- artifacts


def test_artifacts_are_stored_content_addressed(store: assay.Store, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    model = tmp_path / "model.bin"
    model.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    other = tmp_path / "other" / "model.bin"
    other.parent.mkdir()
    other.write_bytes(b"other bytes")
    with assay.start_run(store=store) as run:
        art = run.log_artifact(model)
        copy = run.log_artifact(model, name="weights/copy.bin")
        assert run.log_artifact(model) == art  # the same again: nothing new
        with pytest.raises(UsageError, match=r"already has an artifact named 'model\.bin'"):
            run.log_artifact(other)
        with pytest.raises(InputFileError, match="is a folder"):
            run.log_artifact(tmp_path)
        with pytest.raises(InputFileError, match="does not exist"):
            run.log_artifact(tmp_path / "missing.bin")
    assert (art.name, art.object_key, art.sha256, art.size) == (
        "model.bin",
        f"artifacts/{sha[:2]}/{sha}",
        sha,
        len(data),
    )
    assert copy.object_key == art.object_key  # one object for the same bytes
    assert store.objects.get_bytes(art.object_key) == data
    # The refused file wrote nothing: the artifact and the run's manifest are all.
    assert objects_in(store) == {art.object_key, run_manifest_key(run.id)}
    assert store.catalog.referenced_objects() == {art.object_key: sha}
    assert [a.name for a in run.info().artifacts] == ["model.bin", "weights/copy.bin"]
    with pytest.raises(UsageError, match="already ended"):
        run.log_artifact(other, name="late.bin")


# --------------------------------------------------------------------------- endings


def test_how_a_run_ends(store: assay.Store) -> None:
    with pytest.raises(ValueError, match="boom"), assay.start_run("bad", store=store) as bad:
        bad.log_metrics({"loss": 1.0})
        raise ValueError("boom")
    info = bad.info()
    assert (info.status, info.error, info.exit_code) == ("failed", "ValueError: boom", None)
    assert info.ended_at is not None and info.metrics == {"loss": 1.0}
    assert assay.active_run() is None
    with pytest.raises(UsageError, match=r"already ended \(failed\)"):
        bad.log_metrics({"loss": 0.5})

    with pytest.raises(SystemExit), assay.start_run(store=store) as done:
        sys.exit(0)
    with pytest.raises(SystemExit), assay.start_run(store=store) as exited:
        sys.exit(4)
    assert (done.info().status, done.info().exit_code) == ("finished", None)
    assert (exited.info().status, exited.info().exit_code) == ("failed", 4)

    with assay.start_run("outer", store=store) as outer:
        with assay.start_run("inner", store=store) as inner:
            assert assay.active_run() is inner
        assert assay.active_run() is outer
    assert [r.name for r in assay.list_runs(store=store)][:2] == ["inner", "outer"]
    assert {r.status for r in assay.list_runs(store=store)} == {"finished", "failed"}


def test_run_command(store: assay.Store, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    with open(out, "w") as f:
        ok = run_command(
            [
                sys.executable,
                "-c",
                "import os; print(os.environ['ASSAY_RUN_ID'], os.environ['ASSAY_STORE'])",
            ],
            name="env",
            params={"k": "v"},
            store=store,
            stdout=f,
        )
    assert out.read_text().split() == [ok.id, store.url]
    assert (ok.status, ok.exit_code, ok.error, ok.params) == ("finished", 0, None, {"k": "v"})
    assert ok.command[1:] == ("-c", ok.command[2])

    failed = run_command([sys.executable, "-c", "raise SystemExit(5)"], store=store)
    assert (failed.status, failed.exit_code, failed.error) == (
        "failed",
        5,
        "exited with status 5",
    )
    killed = run_command(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        store=store,
    )
    assert (killed.status, killed.exit_code, killed.error) == (
        "failed",
        137,
        "killed by signal 9",
    )

    # A SIGTERM to the starter (a cancelled CI job) ends the command, and the run with it.
    caught: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: caught.append(signum))
    try:
        cancelled = run_command(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            store=store,
            started=lambda _info: os.kill(os.getpid(), signal.SIGTERM),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught == []  # run_command handled it, then put the handler back
    assert (cancelled.status, cancelled.exit_code, cancelled.error) == (
        "failed",
        143,
        "killed by signal 15",
    )

    with pytest.raises(CommandNotFound, match="command not found: 'no-such-command-x'") as e:
        run_command(["no-such-command-x", "--flag"], store=store)
    assert e.value.exit_code == 127
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(CommandNotFound, match="cannot execute it") as e:
        run_command([str(script)], store=store)
    assert e.value.exit_code == 126
    runs = assay.list_runs(store=store)
    assert [(r.status, r.exit_code) for r in runs[:2]] == [("failed", 126), ("failed", 127)]
    assert "running" not in {r.status for r in runs}  # nothing left half-done
    with pytest.raises(UsageError, match="give the command"):
        run_command([], store=store)


def test_parse_params() -> None:
    from assay.runs import parse_params

    got = parse_params(["lr=0.1", "epochs=3", "deep=True", "name=resnet", "eq=a=b", "e=1e-3"])
    assert got == {"lr": 0.1, "epochs": 3, "deep": True, "name": "resnet", "eq": "a=b", "e": 0.001}
    assert parse_params(["x=nan", "y=inf", "z="]) == {"x": "nan", "y": "inf", "z": ""}
    for bad in ("lr", "=3"):
        with pytest.raises(UsageError, match=f"--param '{bad}' is not KEY=VALUE"):
            parse_params([bad])
    with pytest.raises(UsageError, match="given twice"):
        parse_params(["a=1", "a=2"])
