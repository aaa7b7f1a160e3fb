"""``assay run -- COMMAND`` and ``assay runs list|show``: code paired with the data it read."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

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

    def started(info: RunInfo) -> None:
        if json:
            return
        err_console.print(
            f"Run [bold]{info.id}[/]{_named(info)} started; {escape(_code(info))}",
            soft_wrap=True,
        )

    # With --json, stdout carries one JSON object: the command's output goes to stderr.
    info = run_command(
        command or [],
        name=name,
        params=params,
        store=_store(store),
        stdout=sys.stderr if json else None,
        started=started,
    )
    emit(
        run_to_dict(info),
        json,
        lambda: err_console.print(
            f"Run [bold]{info.id}[/]{_named(info)} {_status(info)}"
            + (f" · {len(info.inputs)} input(s)" if info.inputs else "")
            + (f" · {escape(_metrics_summary(info.metrics))}" if info.metrics else ""),
            soft_wrap=True,
        ),
    )
    return info.exit_code or 0


def _named(info: RunInfo) -> str:
    return f" ({escape(info.name)})" if info.name else ""


def _code(info: RunInfo) -> str:
    if info.git_commit is None:
        return f"{info.git_note or 'no git'}: no code commit recorded"
    dirty = " with uncommitted changes" if info.git_dirty else ""
    return f"code at commit {info.git_commit[:12]}{dirty}"


def _status(info: RunInfo) -> str:
    if info.status == "running":
        return "[yellow]running[/]"
    colour = "green" if info.status == "finished" else "red"
    code = f" (exit {info.exit_code})" if info.exit_code is not None else ""
    return f"[{colour}]{info.status}[/]{code}"


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics_summary(metrics: dict[str, float], limit: int = 3) -> str:
    shown = [f"{k}={_number(v)}" for k, v in list(metrics.items())[:limit]]
    return ", ".join(shown) + (", …" if len(metrics) > limit else "")


def _when(text: str | None) -> str:
    return text[:19].replace("T", " ") if text else ""


def _duration(info: RunInfo) -> str:
    if not info.ended_at:
        return ""
    took = dt.datetime.fromisoformat(info.ended_at) - dt.datetime.fromisoformat(info.started_at)
    return f" ({took.total_seconds():.1f} s)"


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
        if not found:
            console.print(
                "No runs yet; start one with `assay run -- COMMAND` or assay.start_run()."
            )
            return
        table = Table("name", "status", "commit", "inputs", "metrics", "started")
        table.columns.insert(0, Column("id", no_wrap=True))
        for r in found:
            commit = f"{r.git_commit[:8]}{'*' if r.git_dirty else ''}" if r.git_commit else "no git"
            table.add_row(
                r.id,
                escape(r.name or ""),
                _status(r),
                commit,
                str(len(r.inputs)),
                escape(_metrics_summary(r.metrics)),
                _when(r.started_at),
            )
        console.print(table)
        if any(r.git_dirty for r in found):
            console.print("* uncommitted changes; details with `assay runs show ID`")

    emit({"runs": rows}, json, render)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show everything recorded about a run."""
    from assay.runs import get_run, run_to_dict

    info = get_run(run_id, store=_store(store))
    emit(run_to_dict(info), json, lambda: _render_run(info))


def _render_run(info: RunInfo) -> None:
    console.print(f"Run [bold]{info.id}[/]{_named(info)}: {_status(info)}")
    console.print(
        f"  started {_when(info.started_at)}, ended {_when(info.ended_at) or '—'}{_duration(info)}"
    )
    if info.error:
        console.print(f"  error: {escape(info.error)}")
    code = escape(_code(info))
    if info.git_root:
        code += f" in {escape(info.git_root)}"
    console.print(f"  {code}")
    if info.git_diff_sha256:
        console.print(f"  uncommitted changes sha256 {info.git_diff_sha256}")
    if info.command:
        console.print(f"  command: {escape(shlex.join(info.command))}")
    if info.params:
        table = Table("param", "value", title="params", title_justify="left")
        for k, v in info.params.items():
            table.add_row(escape(k), escape(repr(v)))
        console.print(table)
    if info.metrics:
        table = Table("metric", "latest", "step", "values", title="metrics", title_justify="left")
        for k, v in info.metrics.items():
            history = info.metric_history.get(k, [])
            table.add_row(
                escape(k),
                _number(v),
                str(history[-1]["step"]) if history else "",
                str(len(history)),
            )
        console.print(table)
    table = Table("fingerprint", "dataset", "recipe", "read", title="inputs", title_justify="left")
    for i in info.inputs:
        table.add_row(
            i.fingerprint[:12], i.dataset, escape(i.recipe_source or ""), _when(i.read_at)
        )
    console.print(table if info.inputs else "  inputs: none recorded")
    if info.artifacts:
        table = Table("artifact", "size", "sha256", title="artifacts", title_justify="left")
        for a in info.artifacts:
            table.add_row(escape(a.name), f"{a.size:,}", a.sha256[:12])
        console.print(table)
    env = info.environment
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    console.print(
        f"  environment: Python {env.get('python', '?')} on {escape(env.get('platform', '?'))}"
        + (f"; {escape(packages)}" if packages else ""),
        soft_wrap=True,
    )
