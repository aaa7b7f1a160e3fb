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
        from assay.demo import run_demo
        from assay.report import tables

        say = (lambda _: None) if json else console.print
        if not json:
            console.rule("[bold]assay demo[/]: versioned data from yearly survey deltas")
        result = run_demo(dir, data=data, say=say)

        def render() -> None:
            console.print()
            console.print("[bold]Impact of each delta[/] (assay data log employment --impact)")
            for i in result["impact"][1:]:
                cls, shift = max(i["label_shift"].items(), key=lambda kv: abs(kv[1]))
                line = f"  {i['name']:9s} {i['op']:6s} employed={cls} share {shift * 100:+.2f}pp"
                # `year` differs in every yearly delta by construction; show the next one.
                shifts = [f for f in i["features"] if f["column"] != "year"]
                if shifts:
                    f = max(shifts, key=lambda f: f["distance"])
                    line += f"; largest feature shift {f['column']} ({f['test']} {f['distance']:.3f}, p={f['p_value']:.1g})"
                console.print(line + ("  [bold red]FLAGGED[/]" if i["flagged"] else ""))
            for name, summary in result["versions"].items():
                console.print()
                console.print(f"[bold]Recipe {name}.yaml[/]")
                tables.version(summary, console)
            console.print()
            console.print(f"Training rows written to {escape(result['train_parquet'])}")
            same = "identical" if result["rebuilt_identical"] else "DIFFERENT (a bug!)"
            console.print(f"Rebuilt from its fingerprint: {same} bytes")
            c = result["check"]
            verdict = "[green]PASSED[/]" if c["passed"] else "[red]FAILED[/]"
            console.print(f"\nData tests ({escape(c['suite'])}): {verdict} {escape(c['summary'])}")
            console.print(f"  report: {escape(c['html'])}")
            e = result.get("evaluation")
            if e is not None:
                verdict = "[bold green]PASSED[/]" if e["passed"] else "[bold red]FAILED[/]"
                console.print(f"Release gate (eval.yaml): {verdict} {escape(e['summary'])}")
                for message in e["failures"]:
                    console.print(f"  [red]✗[/] {escape(message)}")
                console.print(f"  report: {escape(e['html'])}")
            cmd = escape(_assay_command())
            console.print(
                f"Explore: [bold]cd {escape(result['folder'])} && {cmd} data log employment[/]"
                f" · {cmd} check checks/train.yaml · {cmd} eval eval.yaml"
            )

        emit(result, json, render)


def _assay_command() -> str:
    """How to run assay again: its full path unless it is on PATH."""
    import shutil
    import sys

    here = Path(sys.argv[0]).resolve()
    found = shutil.which("assay")
    return "assay" if found and Path(found).resolve() == here else str(here)
