"""``assay fairness MODEL@REF DATA --sensitive COL``: group metrics and disparities."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, bound_options, console, deliver, status


def register(root: typer.Typer) -> None:
    root.command("fairness")(fairness)


def fairness(
    model: Annotated[str, typer.Argument(help="The model, NAME@ALIAS or NAME@VERSION.")],
    data: Annotated[
        str,
        typer.Argument(
            help="The rows: a recipe[:split], a fingerprint[:split], a data file or "
            "log:EXPERIMENT\\[@SINCE].",
            show_default=False,
        ),
    ],
    sensitive: Annotated[
        list[str],
        typer.Option(
            "--sensitive",
            help="A sensitive column (repeat for several: their intersection is judged too).",
        ),
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", help="A metric per group (repeat; default accuracy, precision, recall, f1)."
        ),
    ] = None,
    max_: Annotated[
        list[str] | None,
        typer.Option(
            "--max",
            metavar="NAME=X",
            help="Fail (exit 1) when this number is "
            "above X, e.g. demographic_parity_difference=0.05.",
        ),
    ] = None,
    min_: Annotated[
        list[str] | None,
        typer.Option(
            "--min",
            metavar="NAME=X",
            help="Fail (exit 1) when this number is below X, e.g. demographic_parity_ratio=0.8.",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples for the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="The bootstrap's seed.")] = 0,
    min_group_rows: Annotated[
        int,
        typer.Option(
            "--min-group-rows",
            help="Leave groups of fewer rows out of the between-groups numbers (still "
            "listed); 0 keeps all, as Fairlearn does.",
        ),
    ] = 0,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """How a binary classifier treats groups: per-group metrics, selection, TPR and FPR;
    demographic parity and equalized odds (difference and ratio) with bootstrap
    intervals, as Fairlearn defines them. Exit 0; 1 when a --max/--min fails; 2 on bad
    usage."""
    from assay.diagnostics.fairness import DEFAULT_METRICS
    from assay.diagnostics.fairness import fairness as run
    from assay.store import open_store

    thresholds = bound_options(
        max_,
        min_,
        example="demographic_parity_difference=0.05",
        min_example="demographic_parity_ratio=0.8",
    )
    with open_store(store) as opened, status(json, "judging groups"):
        report = run(
            model,
            data,
            sensitive=sensitive,
            label=label,
            metrics=metric or DEFAULT_METRICS,
            bootstrap={"samples": samples, "seed": seed},
            thresholds=thresholds,
            min_group_rows=min_group_rows,
            store=opened,
        )
    from assay.report import fairness as page

    return deliver(
        report.to_dict(),
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.html(report),
        markdown=lambda: page.markdown(report),
        terminal=lambda: page.terminal(report, console, html),
    )
