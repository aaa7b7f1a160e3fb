"""``assay slices find MODEL@REF DATA``: the slices where a model errs most (SliceLine)."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, bound_options, console, deliver, status

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Slice finding: `assay slices find MODEL@REF DATA` lists the top-k groups of rows "
        "(conjunctions of column predicates) where the model's errors concentrate, each "
        "as an expression to paste into a recipe's or a spec's `slices:`."
    ),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="slices")


@app.command("find")
def find(
    model: Annotated[str, typer.Argument(help="The model, NAME@ALIAS or NAME@VERSION.")],
    data: Annotated[
        str,
        typer.Argument(
            help="The rows: a recipe[:split], a fingerprint[:split], a data file or "
            "log:EXPERIMENT\\[@SINCE].",
            show_default=False,
        ),
    ],
    k: Annotated[int, typer.Option("--k", help="How many slices to list.")] = 5,
    max_level: Annotated[
        int, typer.Option("--max-level", help="At most this many predicates per slice.")
    ] = 2,
    min_support: Annotated[
        int | None,
        typer.Option(
            "--min-support",
            help="A slice needs at least this many rows (default max(32, 1% of the rows)).",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="Weight of the error rate against the size, in (0, 1]."),
    ] = 0.95,
    bins: Annotated[
        int,
        typer.Option(
            "--bins", help="Numeric columns with more values get this many quantile bins."
        ),
    ] = 10,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="A column to slice on (repeat; default every column but the label and key).",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    max_: Annotated[
        list[str] | None,
        typer.Option(
            "--max",
            metavar="NAME=X",
            help="Fail (exit 1) when this number is above X, e.g. top_error=0.3 "
            "(top_score, top_error, slices_found, average_error).",
        ),
    ] = None,
    min_: Annotated[
        list[str] | None,
        typer.Option("--min", metavar="NAME=X", help="Fail (exit 1) when this number is below X."),
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """The top-k slices where the model errs most (SliceLine, SIGMOD 2021): errors are
    0/1 misclassification (classifiers) or squared errors (regressors); numeric columns
    are cut into quantile bins. Exit 0; 1 when a --max/--min fails; 2 on bad usage."""
    from assay.diagnostics.slices import find_slices
    from assay.store import open_store

    thresholds = bound_options(max_, min_, example="top_error=0.3")
    with open_store(store) as opened, status(json, "finding slices"):
        report = find_slices(
            model,
            data,
            k=k,
            max_level=max_level,
            min_support=min_support,
            alpha=alpha,
            label=label,
            columns=column,
            bins=bins,
            thresholds=thresholds,
            store=opened,
        )
    from assay.report import slices as page

    data_ = report.to_dict()
    return deliver(
        data_,
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.html(report),
        markdown=lambda: page.markdown(data_),
        terminal=lambda: page.terminal(report, console, html),
    )
