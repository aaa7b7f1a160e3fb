"""``--help`` shows every help text whole: Rich reads ``[@SINCE]`` or ``[bold]`` in a
help string as markup and drops it, unless the bracket is escaped (``\\[``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import render

from tests_helpers import run_assay


def _texts(command: Any, path: str) -> list[tuple[str, str]]:
    """Every help text of ``command`` and its subcommands, with the command's path."""
    out = [(path, command.help or "")]
    out += [(path, getattr(p, "help", None) or "") for p in command.params]
    # Typer's groups need not be click's own class: ask for subcommands by duck typing.
    for name, sub in getattr(command, "commands", {}).items():
        out += _texts(sub, f"{path} {name}")
    return out


def test_no_help_text_loses_a_bracket_to_rich_markup() -> None:
    from assay.cli import _register, app

    _register([])  # no command named: every module
    texts = _texts(typer.main.get_command(app), "assay")
    assert any("fairness" in path for path, _ in texts)  # the walk reached the commands
    eaten = [(path, text) for path, text in texts if render(text).plain != text.replace("\\[", "[")]
    assert eaten == []


def test_fairness_help_shows_the_log_since_form(tmp_path: Path) -> None:
    for command in ("fairness", "importance", "drift"):
        r = run_assay(command, "--help", cwd=tmp_path, env={"COLUMNS": "200"})
        assert r.rc == 0, r.err
        assert "log:EXPERIMENT[@SINCE]" in r.out, command
