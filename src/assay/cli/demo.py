"""``assay demo``: the guided tour on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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
        """Build a store from the ACS employment data and compose versions from it."""
        from assay.cli.data import _render_version
        from assay.demo import run_demo

        say = (lambda _: None) if json else console.print
        if not json:
            console.rule("[bold]assay demo[/]: versioned data from yearly survey deltas")
        result = run_demo(dir, data=data, say=say)

        def render() -> None:
            for name, summary in result["versions"].items():
                console.print()
                console.print(f"[bold]Recipe {name}.yaml[/]")
                _render_version(summary, None)
            console.print()
            console.print(f"Training rows written to {escape(result['train_parquet'])}")
            same = "identical" if result["rebuilt_identical"] else "DIFFERENT (a bug!)"
            console.print(f"Rebuilt from its fingerprint: {same} bytes")
            console.print(
                f"Explore: [bold]cd {escape(result['folder'])} && assay data log employment[/]"
            )

        emit(result, json, render)
