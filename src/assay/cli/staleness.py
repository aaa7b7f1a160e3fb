"""``assay staleness MODEL@REF DATA... --metric M --min X``: the metric over versions."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, deliver, status


def register(root: typer.Typer) -> None:
    root.command("staleness")(staleness)


def staleness(
    model: Annotated[str, typer.Argument(help="The model, NAME@ALIAS or NAME@VERSION.")],
    data: Annotated[
        list[str],
        typer.Argument(
            help="The versions, oldest first: each a recipe[:split], a fingerprint[:split] "
            "or a data file.",
            show_default=False,
        ),
    ],
    metric: Annotated[
        str, typer.Option("--metric", help="The metric, e.g. accuracy, roc_auc or mae.")
    ],
    min_: Annotated[
        float | None,
        typer.Option("--min", help="A version crosses when the metric is below this."),
    ] = None,
    max_: Annotated[
        float | None,
        typer.Option("--max", help="A version crosses when the metric is above this."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    samples: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples for the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="The bootstrap's seed.")] = 0,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """How old a model may get: its metric on each version, oldest first, with bootstrap
    intervals, and the first version past --min/--max. Exit 0; 1 when the newest
    version crosses; 2 on bad usage."""
    from assay.diagnostics.staleness import staleness as run
    from assay.store import open_store

    with open_store(store) as opened, status(json, "scoring versions"):
        report = run(
            model,
            data,
            metric=metric,
            min=min_,
            max=max_,
            label=label,
            bootstrap={"samples": samples, "seed": seed},
            store=opened,
        )
    from assay.report import staleness as page

    payload = report.to_dict()
    return deliver(
        payload,
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.html(report),
        markdown=lambda: page.markdown(payload),
        terminal=lambda: page.terminal(report, console, html),
    )
