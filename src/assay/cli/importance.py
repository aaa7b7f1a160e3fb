"""``assay importance MODEL@REF DATA``: permutation importance, overall and per slice."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, deliver, status


def register(root: typer.Typer) -> None:
    root.command("importance")(importance)


def importance(
    model: Annotated[str, typer.Argument(help="The model, NAME@ALIAS or NAME@VERSION.")],
    data: Annotated[
        str,
        typer.Argument(
            help="The rows: a recipe[:split], a fingerprint[:split], a data file or "
            "log:EXPERIMENT\\[@SINCE].",
            show_default=False,
        ),
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="The metric (default accuracy; r2 for regressors)."),
    ] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Shuffles per column.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="The random_state.")] = 0,
    slice_: Annotated[
        list[str] | None,
        typer.Option(
            "--slice", help="A slice of the recipe by name, or an expression ('SEX = 2'); repeat."
        ),
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Permutation importance of each input column (as scikit-learn's
    permutation_importance: same seed, same shuffles), with the mean, the standard
    deviation and a Student-t interval over the repeats. Exit 0; 2 on bad usage."""
    from assay.diagnostics.importance import importance as run
    from assay.store import open_store

    with open_store(store) as opened, status(json, "shuffling columns"):
        report = run(
            model,
            data,
            metric=metric,
            repeats=repeats,
            random_state=seed,
            slices=slice_ or [],
            label=label,
            store=opened,
        )
    from assay.report import importance as page

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
