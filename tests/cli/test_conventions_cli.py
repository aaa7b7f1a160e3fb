"""The CLI habits users bring from other tools, end to end as subprocesses:
``--version`` and ``python -m assay``, shell completion, choices for enumerated
options, ``models alias NAME@VERSION ALIAS``, listings of one line a row at 80 and 120
columns, and progress bars only where a person watches."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len

from tests_helpers import ASSAY, CliResult, run_assay

# Long on purpose: each name overflows a column of 80 unless the listing cuts it.
DATASET = "survey_of_income_and_program_participation_panel"
MODEL = "employment-status-classifier-trained-on-the-income-panel"
MESSAGE = "the yearly public-use extract, re-weighted after the census correction"
PREDICT = '''\
import numpy as np


def predict(frame):
    """Employed (1) from the age: a model whose predictions a test can foresee."""
    return (frame["age"].to_numpy() < 50).astype(np.int64)
'''
SUITE = """\
suite: panel-is-plausible
expectations:
  - row_count: {min: 1}
  - between: {column: age, min: 16, max: 99}
  - not_null: {column: employed}
"""
RECIPE = f"""\
dataset: {DATASET}
split: {{seed: 3, fractions: {{train: 0.5, test: 0.5}}}}
"""
SPEC = f"""\
name: panel-release
models: {{candidate: {MODEL}@1}}
datasets: {{test: {{recipe: recipe.yaml, split: test}}}}
metrics: [accuracy]
bootstrap: {{samples: 10}}
"""


def python_path(cwd: Path) -> str:
    """``cwd`` (where the callable model lives) before whatever the path held."""
    return os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))


def ok(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    done = run_assay(*args, cwd=cwd, env={"PYTHONPATH": python_path(cwd), **(env or {})})
    assert done.rc == 0, (args, done.err)
    return done


def panel(n: int, start: int) -> pa.Table:
    """``n`` rows of a small labelled panel, keys from ``start``."""
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": ids,
            "age": [16 + (7 * i) % 80 for i in ids],
            "employed": [int((7 * i) % 80 < 34) for i in ids],
        }
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with long names everywhere: a dataset of three deltas, a version, a run
    with metrics, two model versions with aliases, a check and an evaluation."""
    root = tmp_path_factory.mktemp("conventions")
    ok("init", cwd=root)
    ok("data", "create", DATASET, "--key", "id", "--label", "employed", cwd=root)
    for n in range(3):
        name = f"panel-wave-{2015 + n}-public-use-extract-reweighted"
        pq.write_table(panel(40, 40 * n), root / f"{name}.parquet")
        ok("data", "add", DATASET, f"{name}.parquet", "--tag", "reviewed", "-m", MESSAGE, cwd=root)
    (root / "recipe.yaml").write_text(RECIPE)
    ok("data", "compose", "recipe.yaml", cwd=root)
    (root / "panel_model.py").write_text(PREDICT)
    script = (
        "import assay; run = assay.start_run(); "
        "run.log_metrics({'accuracy': 0.8125, 'roc_auc': 0.9, 'log_loss': 0.41, 'f1': 0.7})"
    )
    ok("run", "--name", "train-the-income-panel-classifier-again", "--", sys.executable, "-c",
       script, cwd=root)  # fmt: skip
    for alias in ("baseline", "candidate"):
        ok("models", "register", MODEL, "panel_model:predict", "--alias", alias, cwd=root)
    (root / "suite.yaml").write_text(SUITE)
    (root / "eval.yaml").write_text(SPEC)
    return root


# --------------------------------------------------------------------------- version


def test_version_and_python_dash_m(project: Path) -> None:
    number = version("assay")
    assert ok("--version", cwd=project).out == f"assay {number}\n"
    assert ok("--version", "--json", cwd=project).json() == {"assay": number}
    module = subprocess.run(
        [sys.executable, "-m", "assay", "--version"], capture_output=True, text=True, check=False
    )
    assert (module.returncode, module.stdout) == (0, f"assay {number}\n")
    # The same one-line error and exit code as the script.
    script = run_assay("data", "log", "no-such-dataset", cwd=project)
    module = subprocess.run(
        [sys.executable, "-m", "assay", "data", "log", "no-such-dataset"],
        cwd=project, capture_output=True, text=True, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert script.rc == module.returncode == 2
    assert module.stderr == script.err and script.error_line().startswith("error: no dataset")


# --------------------------------------------------------------------------- completion


def complete(words: str, cwd: Path, instruction: str = "bash_complete") -> list[str]:
    """What ``assay`` offers for the last of ``words`` (Click's completion protocol)."""
    parts = words.split(" ")
    done = run_assay(
        cwd=cwd,
        env={
            "_ASSAY_COMPLETE": instruction,
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        },
    )
    assert done.rc == 0, done.err
    return done.out.split()


def test_completion_script_and_protocol(project: Path) -> None:
    script = ok("completion", "bash", cwd=project).out
    assert "complete -o default -F _assay_completion assay" in script
    assert "_ASSAY_COMPLETE=complete_bash" in script
    assert ok("completion", "zsh", "--json", cwd=project).json()["shell"] == "zsh"
    bad = run_assay("completion", "tcsh", cwd=project)
    assert bad.rc == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in bad.error_line()
    # Click's order (bash_complete) and Typer's (complete_bash) both answer.
    assert complete("assay da", project) == ["data"]
    assert complete("assay da", project, "complete_bash") == ["data"]
    assert complete("assay data l", project) == ["list", "log"]
    assert complete("assay data add x f.csv --op ", project) == ["insert", "upsert", "delete"]
    # Names from the store: datasets and model references.
    assert complete("assay data log ", project) == [DATASET]
    assert complete("assay data log surv", project) == [DATASET]
    assert complete("assay data log xyz", project) == []
    assert complete("assay models show empl", project) == [
        MODEL, f"{MODEL}@baseline", f"{MODEL}@candidate",
    ]  # fmt: skip
    # Outside any store: no candidates, and no error.
    assert complete("assay data log ", project.parent) == []


def test_bash_completes_through_the_printed_script(project: Path) -> None:
    shell = (
        'eval "$(assay completion bash)"; COMP_WORDS=(assay data lo); COMP_CWORD=2; '
        '_assay_completion assay; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{ASSAY.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "-c", shell], cwd=project, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.stdout.split() == ["log"], done.stderr


# --------------------------------------------------------------------------- choices


def test_choices_mirror_the_library() -> None:
    from assay.cli import _choices
    from assay.data.deltas import OPS
    from assay.engine import ENGINES
    from assay.models.flavors import FLAVORS

    assert [o.value for o in _choices.Op] == list(OPS)
    assert [f.value for f in _choices.Flavor] == list(FLAVORS)
    assert [e.value for e in _choices.EngineName] == list(ENGINES)


@pytest.mark.parametrize(
    ("args", "option", "choices", "command"),
    [
        (("data", "add", DATASET, "x.csv", "--op", "replace"), "--op",
         "'insert', 'upsert', 'delete'", "assay data add"),
        (("models", "register", "m", "m.skops", "--flavor", "skops"), "--flavor",
         "'sklearn', 'onnx', 'torch', 'python', 'pickle'", "assay models register"),
        (("--engine", "postgres", "data", "list"), "--engine", "'duckdb', 'spark'", "assay"),
        (("init", "fresh", "--engine", "polars"), "--engine", "'duckdb', 'spark'", "assay init"),
    ],
    ids=["op", "flavor", "engine", "init-engine"],
)  # fmt: skip
def test_enumerated_options_take_only_their_choices(
    project: Path, args: tuple[str, ...], option: str, choices: str, command: str
) -> None:
    done = run_assay(*args, cwd=project)
    assert done.rc == 2
    bad = args[args.index(option) + 1]
    assert done.error_line() == (
        f"error: Invalid value for '{option}': '{bad}' is not one of {choices}; "
        f"see `{command} --help`"
    )
    assert not (project / "fresh").exists()
    shown = run_assay(*args[: args.index(option)], "--help", cwd=project, env={"COLUMNS": "200"})
    assert choices.replace("'", "").replace(", ", "|") in shown.out


# --------------------------------------------------------------------------- alias


def test_models_alias_takes_name_at_version(project: Path) -> None:
    moved = ok("models", "alias", f"{MODEL}@1", "production", "--json", cwd=project).json()
    assert (moved["version"], moved["alias"]) == (1, "production")
    listed = ok("models", "list", MODEL, "--json", cwd=project).json()["models"]
    assert {m["version"]: "production" in m["aliases"] for m in listed} == {1: True, 2: False}
    # The old form still works, with one deprecation line on stderr; stdout stays JSON.
    old = ok("models", "alias", MODEL, "2", "production", "--json", cwd=project)
    assert old.err.splitlines() == [
        "warning: `models alias NAME VERSION ALIAS` is deprecated; use "
        "`models alias NAME@VERSION ALIAS`"
    ]
    assert (old.json()["version"], old.json()["moved_from"]) == (2, 1)
    bad = run_assay("models", "alias", MODEL, "two", "production", cwd=project)
    assert bad.rc == 2
    assert bad.error_line().endswith(f"use `assay models alias {MODEL}@VERSION production`")


# --------------------------------------------------------------------------- tables


def lines_of(args: tuple[str, ...], project: Path, width: int) -> list[str]:
    done = ok(*args, cwd=project, env={"COLUMNS": str(width)})
    lines = done.out.rstrip("\n").splitlines()
    assert max(cell_len(line) for line in lines) <= width, done.out
    return lines


@pytest.mark.parametrize("width", [80, 120])
def test_listings_have_one_line_a_row_and_whole_ids(project: Path, width: int) -> None:
    """Before: at 80 columns each delta, run and model took 2–6 lines, names folded."""

    def listing(args: tuple[str, ...], key: str, ids: list[str], title: int = 0) -> None:
        lines = lines_of(args, project, width)
        assert len(lines) == title + 1 + len(ids), "\n".join(lines)  # a header, a line a row
        for line, full in zip(lines[title + 1 :], ids, strict=True):
            assert line.split()[key] == full[:12]  # the short id the CLI accepts, whole

    deltas = ok("data", "log", DATASET, "--json", cwd=project).json()["deltas"]
    listing(("data", "log", DATASET), 1, [d["id"] for d in deltas], title=1)
    versions = ok("data", "versions", "--json", cwd=project).json()["versions"]
    listing(("data", "versions"), 0, [v["fingerprint"] for v in versions])
    runs = ok("runs", "list", "--json", cwd=project).json()["runs"]
    listing(("runs", "list"), 0, [r["id"] for r in runs])
    listed = lines_of(("data", "list"), project, width)
    assert len(listed) == 2 and listed[1].split()[-2:] == ["3", "3"]  # columns, deltas
    models = lines_of(("models", "list"), project, width)
    assert len(models) == 3
    assert [m.split()[2] for m in models[1:]] == ["python", "python"]  # created, time, flavor
    # The name and message go last: cut at 80, whole where they fit.
    log = "\n".join(lines_of(("data", "log", DATASET), project, width))
    if width == 120:
        assert "panel-wave-2015-public-use-extract-reweighted reviewed · the yearly" in log
    else:
        assert "panel-wave-2015-public-use-extra…" in log or "panel-wave-2015" in log


@pytest.mark.parametrize("width", [80, 120])
def test_results_fit_with_ids_whole(project: Path, width: int) -> None:
    version = ok("data", "versions", "--json", cwd=project).json()["versions"][0]
    short = version["fingerprint"][:12]
    check = lines_of(("check", "suite.yaml", "--on", short, "--no-record"), project, width)
    assert f"on version {short}" in " ".join(" ".join(check).split())
    gate = lines_of(("eval", "eval.yaml", "--no-record"), project, width)
    assert any(line.startswith("PASSED") for line in gate)
    verify = lines_of(("verify",), project, width)
    assert verify[0].startswith("Verified ")


# --------------------------------------------------------------------------- progress


def on_a_terminal(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """``assay ARGS`` with stderr on a pseudo-terminal (a person watching) and stdout
    in a pipe; (stdout, what the terminal showed)."""
    main, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    environ.update({"PYTHONPATH": python_path(cwd), "COLUMNS": "80", **(env or {})})
    with subprocess.Popen(
        [str(ASSAY), *map(str, args)], cwd=cwd, env=environ, stdout=subprocess.PIPE,
        stderr=follower, text=True,
    ) as p:  # fmt: skip
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        out = p.stdout.read() if p.stdout else ""
    os.close(main)
    assert p.returncode in (0, 1), shown
    return out, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode())


def test_progress_bars_only_for_a_person_watching(project: Path, tmp_path: Path) -> None:
    project = Path(shutil.copytree(project, tmp_path / "copy"))  # others read the original
    pq.write_table(panel(20, 500), project / "wave-4.parquet")
    out, shown = on_a_terminal("data", "add", DATASET, "wave-4.parquet", cwd=project)
    assert "adding wave-4" in shown and "5/5" in shown  # a bar with a real total
    assert out.startswith("Added delta wave-4")
    _, shown = on_a_terminal("check", "suite.yaml", "--on", "recipe.yaml", cwd=project)
    assert "checking" in shown and "5/5" in shown  # 3 expectations, the pass, examples
    _, shown = on_a_terminal("eval", "eval.yaml", "--no-record", cwd=project)
    assert "evaluating" in shown and "2/2" in shown  # the predictions, then the metrics
    # With --json, stdout is one JSON object and the terminal shows no bar; nor in CI.
    pq.write_table(panel(20, 600), project / "wave-5.parquet")
    out, shown = on_a_terminal("data", "add", DATASET, "wave-5.parquet", "--json", cwd=project)
    assert json.loads(out)["delta"]["name"] == "wave-5" and "adding" not in shown
    _, shown = on_a_terminal("check", "suite.yaml", "--on", "recipe.yaml", cwd=project,
                             env={"CI": "true"})  # fmt: skip
    assert "checking" not in shown
