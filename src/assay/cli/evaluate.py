"""``assay eval SPEC``: the release gate, with an exit code for CI; ``assay eval history``."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import DefaultCommandGroup, MarkdownOpt, console, emit, markdown, progress

app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help=(
        "Evaluation tests and the release gate. `assay eval SPEC [--html FILE] "
        "[--markdown FILE] [--promote ALIAS] [--json]`: exit 0 when every threshold "
        "holds, 1 when one fails, 2 on a bad spec. See `assay eval run --help`."
    ),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")


@app.command("run", hidden=True)
def run(
    spec: Annotated[str, typer.Argument(help="The evaluation spec (YAML).", show_default=False)],
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            help="Also write an HTML report; its plots load plotly-<version>.min.js, "
            "written once beside it.",
        ),
    ] = None,
    self_contained: Annotated[
        bool,
        typer.Option(
            "--self-contained",
            help="With --html: one file that carries plotly.js compressed (2 MB), to send alone.",
        ),
    ] = False,
    promote: Annotated[
        str | None,
        typer.Option("--promote", help="Move this alias to the candidate if the gate passes."),
    ] = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store the evaluation in the catalog.")
    ] = False,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Evaluate the spec's models on its datasets and slices; exit 1 if a threshold fails.

    Every problem with the spec is reported before any prediction is computed.
    Predictions are cached per (model version, dataset version).
    """
    from assay.evaluation import evaluate, load_spec
    from assay.report import render_evaluation, terminal, write_report
    from assay.store import open_store

    if self_contained and html is None:
        from assay.errors import UsageError

        raise UsageError("--self-contained shapes the HTML report; add --html FILE")
    parsed = load_spec(spec)
    with open_store(store) as opened, progress(json) as bar:
        result = evaluate(parsed, store=opened, record=not no_record, promote=promote, progress=bar)
    if html is not None:
        write_report(render_evaluation(result, self_contained=self_contained), html)
    markdown(result, markdown_file)
    payload = result.to_dict()
    payload.pop("curves", None)  # plot data: in the HTML report, not in the terminal
    if html is not None:
        payload["html"] = html
    if markdown_file is not None:
        payload["markdown"] = markdown_file
    emit(payload, json, lambda: terminal.evaluation(result, console, html, promote))
    return result.exit_code


@app.command("history")
def history(
    model: Annotated[
        str | None, typer.Option("--model", help="Only evaluations of this model name.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 20,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Recorded evaluations, newest first."""
    from assay.store import open_store

    with open_store(store) as opened:
        rows = opened.catalog.list_evaluations(model=model, limit=limit)
    for r in rows:
        r.pop("curves", None)

    def render() -> None:
        from assay.report import terminal

        terminal.evaluation_history(rows, console)

    emit({"evaluations": rows}, json, render)
    return 0
