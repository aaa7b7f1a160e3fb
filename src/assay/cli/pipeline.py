"""``assay pipeline run|status|dag``: the release in ``assay.yaml``, re-run where stale."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit, err_console

if TYPE_CHECKING:
    from assay.pipeline import Pipeline

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "The release pipeline in assay.yaml. `assay pipeline status [--json]` says which "
        "stages are stale and why; `assay pipeline run [STAGE…] [--json]` runs those (exit: "
        "the first failing stage's); `assay pipeline dag [--json|--mermaid]` draws the stages."
    ),
)

FileOpt = Annotated[
    str,
    typer.Option("--file", "-f", help="The pipeline file.", show_default=True),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pipeline")


@app.command("status")
def status_command(
    file: FileOpt = "assay.yaml", store: StoreOpt = None, json: JsonOpt = False
) -> int:
    """Which stages are fresh or stale, and why; nothing runs."""
    from assay.pipeline import load_pipeline, status

    pipeline = load_pipeline(file)
    found = status(pipeline, store=store)

    def show() -> None:
        for s in found.stages:
            mark = "[green]fresh[/]" if s.fresh else "[yellow]stale[/]"
            console.print(f"{mark}  {escape(s.name)} ({s.kind}): {escape(s.reason)}")
        console.print(f"{len(found.stale)} of {len(found.stages)} stages stale")

    emit(found.to_dict(), json, show)
    return 0


@app.command("run")
def run_command(
    stages: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[STAGE]...",
            help="Run these stages (and the stale stages they read); default: all.",
            show_default=False,
        ),
    ] = None,
    file: FileOpt = "assay.yaml",
    store: StoreOpt = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="If another run of this pipeline on the store is under way, stop (exit 75) "
            "instead of waiting for it.",
        ),
    ] = False,
    json: JsonOpt = False,
) -> int:
    """Run the stale stages in dependency order, each as a recorded run; stop at the first
    failing one with its exit code. One run of a pipeline per store at a time: a second
    waits for the first, then skips what it made fresh."""
    from assay.pipeline import load_pipeline, run_pipeline

    pipeline = load_pipeline(file)
    # With --json, stdout is the one JSON object: the stages' commands, and the lines
    # that say what runs (or whom it waits for), go to stderr.
    done = run_pipeline(
        pipeline,
        stages or [],
        store=store,
        stdout=sys.stderr if json else None,
        say=lambda line: err_console.print(escape(line), soft_wrap=True),
        wait=not no_wait,
    )

    def show() -> None:
        console.print(
            f"ran {len(done.ran)}, skipped {len(done.skipped)} fresh"
            + (f", {len(done.not_run)} not run" if done.not_run else "")
        )
        failed = done.failed
        if failed is not None:
            err_console.print(
                f"[bold red]error:[/] stage {escape(failed.name)} failed: {escape(failed.message or '')}",
                soft_wrap=True,
            )

    emit(done.to_dict(), json, show)
    return done.exit_code


@app.command("dag")
def dag_command(
    file: FileOpt = "assay.yaml",
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print the stages as a Mermaid flowchart.")
    ] = False,
    json: JsonOpt = False,
) -> int:
    """Draw the stages: a tree from the stages that read nothing, or nodes and edges."""
    from assay.pipeline import load_pipeline

    pipeline = load_pipeline(file)
    if mermaid and not json:
        sys.stdout.write(pipeline.mermaid())
        return 0
    emit(pipeline.to_dict(), json, lambda: console.print(_tree(pipeline)))
    return 0


def _tree(pipeline: Pipeline) -> object:
    """A Rich tree: each stage under the stages it reads (a stage read by several shows
    under each, its subtree once)."""
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(pipeline.name)}[/] ({escape(pipeline.path.name)})")
    drawn: set[str] = set()

    def add(parent: Tree, name: str) -> None:
        label = f"{escape(name)} [dim]({pipeline.stages[name].kind})[/]"
        if name in drawn:
            parent.add(f"{label} [dim]↑ above[/]")
            return
        drawn.add(name)
        node = parent.add(label)
        for child in pipeline.order:
            if name in pipeline.upstream[child]:
                add(node, child)

    for name in pipeline.order:
        if not pipeline.upstream[name]:
            add(root, name)
    return root
