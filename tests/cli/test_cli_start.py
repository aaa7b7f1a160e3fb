"""The command registers only the module a command line names (``assay.cli.COMMANDS``).

Typer builds the parameters of every registered command at each start, so ``assay data
add`` registers the data commands alone; help, completion and unknown commands still
see them all. The table must be what the modules register, or a command would vanish.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command

import assay.cli
from assay.cli import COMMANDS, GROUPS, _command_of
from tests_helpers import run_assay

CLI = Path(assay.cli.__file__).parent


def registered_by(name: str) -> list[str]:
    """The top-level commands module ``assay.cli.<name>`` adds to an app of its own."""
    module = importlib.import_module(f"assay.cli.{name}")
    app = typer.Typer()
    app.callback()(lambda: None)
    if name in GROUPS:
        app.add_typer(module.app, name=name)
    else:
        module.register(app)
    return list(get_command(app).commands)  # type: ignore[attr-defined]


def test_the_table_is_what_the_modules_register() -> None:
    modules = dict.fromkeys(COMMANDS.values())
    table = {command: module for module in modules for command in registered_by(module)}
    assert table == COMMANDS
    # Every command module is in the table (a new one must be added to it).
    found = {
        p.stem
        for p in CLI.glob("*.py")
        if not p.stem.startswith("_")
        and ("def register(" in p.read_text() or "\napp = " in p.read_text())
    }
    assert found == set(modules)


def test_help_lists_every_command() -> None:
    r = run_assay("--help", cwd=Path.cwd())
    assert r.rc == 0
    rows = {line.split()[1] for line in r.out.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= rows, set(COMMANDS) - rows


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["data", "add", "f.parquet"], "data"),
        (["--engine", "duckdb", "eval", "spec.yaml"], "eval"),
        (["--engine=spark", "--json", "runs"], "runs"),
        (["--version"], None),
        ([], None),
        (["run", "--", "python", "train.py", "--json"], "run"),
    ],
)
def test_the_command_of_a_line(args: list[str], command: str | None) -> None:
    assert _command_of(args) == command


def loaded_after(args: list[str]) -> list[str]:
    """The ``assay.cli`` modules imported by ``assay ARGS`` (in a fresh interpreter)."""
    code = (
        "import contextlib, io, json, sys\n"
        "from assay.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({args!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('assay.cli.'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("_ASSAY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return [m.removeprefix("assay.cli.") for m in json.loads(out.stdout.splitlines()[-1])]


def test_a_command_registers_its_module_alone_and_help_all() -> None:
    commands = {m for m in loaded_after(["data", "--help"]) if m in COMMANDS.values()}
    assert commands == {"data", "completion"}  # completion: asked whether to complete
    assert set(COMMANDS.values()) <= set(loaded_after(["--help"]))
    assert set(COMMANDS.values()) <= set(loaded_after(["no-such-command"]))
