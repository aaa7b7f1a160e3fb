"""``assay demo``: the guided tour on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli import JsonOpt
from assay.cli._output import console, emit


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        dir: Annotated[
            Path, typer.Option("--dir", help="Folder for the demo store and files.")
        ] = Path("assay-demo"),
        data: Annotated[Path | None, typer.Option("--data", help="The ACS Parquet file.")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Build a store from the ACS employment data and run its release pipeline
        (assay.yaml in --dir); again on the same folder, only what changed runs."""
        from assay.demo import run_demo
        from assay.report import tables

        say = (lambda _: None) if json else console.print
        if not json:
            console.rule("[bold]assay demo[/]: versioned data from yearly survey deltas")
        result = run_demo(dir, data=data, say=say)

        emit(result, json, lambda: tables.demo(result, console, _assay_command()))


def _assay_command() -> str:
    """How to run assay again: its full path unless it is on PATH."""
    import shutil
    import sys

    here = Path(sys.argv[0]).resolve()
    found = shutil.which("assay")
    return "assay" if found and Path(found).resolve() == here else str(here)
