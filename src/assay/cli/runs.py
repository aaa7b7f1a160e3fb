"""``assay run -- COMMAND`` and ``assay runs list|show``: code paired with the data it read."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit, err_console

if TYPE_CHECKING:
    from assay.runs import RunInfo
    from assay.store import Store

app = typer.Typer(
    help="Recorded runs: code commit, data read, params, metrics, artifacts.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    # Everything after the first argument of `assay run` belongs to COMMAND, options too.
    root.command(
        "run",
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )(run)
    root.add_typer(app, name="runs")


def _store(url: str | None) -> Store:
    from assay.store import open_store

    return open_store(url)


def run(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command to run, after `--`.", show_default=False),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name for the run.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A param KEY=VALUE (repeatable)."),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Run COMMAND as a recorded run: code commit, data read, params, metrics, exit status.

    Inside COMMAND, assay.start_run() attaches to this run and assay.compose records
    what it reads. Example: assay run --name baseline --param lr=0.1 -- python train.py
    """
    from assay.runs import parse_params, run_command, run_to_dict

    params = parse_params(param or [])

    from assay.report import tables

    def started(info: RunInfo) -> None:
        if not json:
            tables.run_started(info, err_console)

    # With --json, stdout carries one JSON object: the command's output goes to stderr.
    info = run_command(
        command or [],
        name=name,
        params=params,
        store=_store(store),
        stdout=sys.stderr if json else None,
        started=started,
    )
    emit(run_to_dict(info), json, lambda: tables.run_ended(info, err_console))
    return info.exit_code or 0


@app.command("list")
def list_(store: StoreOpt = None, json: JsonOpt = False) -> None:
    """List the recorded runs, newest first."""
    from assay.runs import list_runs

    found = list_runs(store=_store(store))
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "status": r.status,
            "exit_code": r.exit_code,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "git_commit": r.git_commit,
            "git_dirty": r.git_dirty,
            "git_note": r.git_note,
            "inputs": len(r.inputs),
            "params": r.params,
            "metrics": r.metrics,
        }
        for r in found
    ]

    def render() -> None:
        from assay.report import tables

        tables.runs(found, console)

    emit({"runs": rows}, json, render)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show everything recorded about a run."""
    from assay.report import tables
    from assay.runs import get_run, run_to_dict

    info = get_run(run_id, store=_store(store))
    emit(run_to_dict(info), json, lambda: tables.run(info, console))
