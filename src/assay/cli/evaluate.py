"""``assay eval SPEC``: the release gate, with an exit code for CI; ``assay eval history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import DefaultCommandGroup, console, emit, status

if TYPE_CHECKING:
    from assay.evaluation import Evaluation


app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help=(
        "Evaluation tests and the release gate. `assay eval SPEC [--html FILE] "
        "[--promote ALIAS] [--json]`: exit 0 when every threshold holds, 1 when one "
        "fails, 2 on a bad spec. See `assay eval run --help`."
    ),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")


@app.command("run", hidden=True)
def run(
    spec: Annotated[str, typer.Argument(help="The evaluation spec (YAML).", show_default=False)],
    html: Annotated[
        str | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    promote: Annotated[
        str | None,
        typer.Option("--promote", help="Move this alias to the candidate if the gate passes."),
    ] = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store the evaluation in the catalog.")
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Evaluate the spec's models on its datasets and slices; exit 1 if a threshold fails.

    Every problem with the spec is reported before any prediction is computed.
    Predictions are cached per (model version, dataset version).
    """
    from assay.evaluation import evaluate, load_spec
    from assay.report import render_evaluation, write_report
    from assay.store import open_store

    parsed = load_spec(spec)
    with open_store(store) as opened, status(json, "evaluating"):
        result = evaluate(parsed, store=opened, record=not no_record, promote=promote)
    if html is not None:
        write_report(render_evaluation(result), html)
    payload = result.to_dict()
    payload.pop("curves", None)  # plot data: in the HTML report, not in the terminal
    if html is not None:
        payload["html"] = html
    emit(payload, json, lambda: _render(result, html, promote))
    return result.exit_code


def _render(result: Evaluation, html: str | None, promote: str | None) -> None:
    from assay.evaluation.spec import OVERALL

    models = ", ".join(f"{role} {m['name']}@{m['version']}" for role, m in result.models.items())
    console.print(
        f"[bold]{escape(result.name or 'evaluation')}[/] ({result.task}): {escape(models)}"
    )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning.message)}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("dataset / slice")
    table.add_column("rows", justify="right")
    for metric in result.metrics:
        table.add_column(metric, justify="right")
    for dataset in result.datasets:
        for slice_name in result.slices:
            cells = [
                c
                for c in result.cells
                if c.model == "candidate" and c.dataset == dataset and c.slice == slice_name
            ]
            if not cells:
                continue
            label = dataset if slice_name == OVERALL else f"  {slice_name}"
            values = []
            for metric in result.metrics:
                cell = next((c for c in cells if c.metric == metric), None)
                values.append("—" if cell is None or cell.value is None else f"{cell.value:.4f}")
            table.add_row(escape(label), f"{cells[0].rows:,}", *values)
    console.print(table)
    marks = {
        "pass": "[green]✓[/]",
        "fail": "[bold red]✗[/]",
        "noise": "[yellow]~[/]",
        "not_gated": "[dim]·[/]",
    }
    # Every rule in one line with its counts; then each cell that did not simply pass.
    for index in dict.fromkeys(g.threshold for g in result.gate):
        rules = [g for g in result.gate if g.threshold == index]
        worst = next(
            (s for s in ("fail", "noise", "not_gated") if any(g.status == s for g in rules)), "pass"
        )
        passed = sum(g.status == "pass" for g in rules)
        console.print(f"{marks[worst]} {escape(rules[0].rule)}: {passed} of {len(rules)} passed")
        for g in rules:
            if g.status != "pass":
                console.print(f"    {marks[g.status]} {escape(g.message)}")
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(f"\n{verdict}: {result.summary()} · {result.seconds:.1f} s")
    if promote is not None:
        if result.promoted:
            console.print(
                f"promoted: {escape(result.models['candidate']['name'])}@{escape(promote)} → version {result.models['candidate']['version']}"
            )
        else:
            console.print(
                f"not promoted: the gate failed, so @{escape(promote)} stays where it was"
            )
    if html is not None:
        console.print(f"report: {escape(html)}")


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
        if not rows:
            console.print("no recorded evaluations")
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("id", "when", "name", "candidate", "verdict", "summary"):
            table.add_column(name)
        for r in rows:
            cand = r["models"]["candidate"]
            table.add_row(
                (r.get("id") or "")[:8],
                (r.get("created_at") or "")[:19].replace("T", " "),
                escape(r.get("name") or ""),
                escape(f"{cand['name']}@{cand['version']}"),
                "[green]passed[/]" if r["passed"] else "[red]failed[/]",
                escape(r.get("summary", "")),
            )
        console.print(table)

    emit({"evaluations": rows}, json, render)
    return 0
