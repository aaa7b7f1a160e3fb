"""``assay drift REFERENCE CURRENT``: did the data move, column by column?"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, deliver, status

DATA_HELP = (
    "a recipe[:split], a fingerprint[:split], a .csv/.parquet/.jsonl file or "
    "log:EXPERIMENT\\[@SINCE]"
)


def register(root: typer.Typer) -> None:
    root.command("drift")(drift)


def _columns(text: str | None, option: str = "--columns") -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        from assay.errors import UsageError

        raise UsageError(f"{option} {text!r} names no column; write e.g. {option} AGEP,SEX")
    return names


def drift(
    reference: Annotated[
        str, typer.Argument(help=f"The reference rows: {DATA_HELP}.", show_default=False)
    ],
    current: Annotated[
        str, typer.Argument(help=f"The current rows: {DATA_HELP}.", show_default=False)
    ],
    columns: Annotated[
        str | None,
        typer.Option("--columns", metavar="A,B,C", help="Compare only these columns."),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(
            "--exclude",
            metavar="A,B",
            help="Leave these columns out (a dataset's key and split are left out already).",
        ),
    ] = None,
    stat: Annotated[
        str,
        typer.Option(
            "--stat",
            help="auto (Evidently's choice per column), ks, chi2, psi, wasserstein or "
            "jensenshannon.",
        ),
    ] = "auto",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Every column's threshold: a p-value for ks and chi2 (default 0.05), a "
            "distance for the others (default 0.1).",
        ),
    ] = None,
    drift_share: Annotated[
        float,
        typer.Option("--drift-share", help="The dataset drifted when this share of columns did."),
    ] = 0.5,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Whether CURRENT drifted from REFERENCE: per column a test or a distance, the share
    of drifted columns and a verdict. Exit 0 no drift, 1 drift, 2 bad usage."""
    from assay.diagnostics.drift import drift as run
    from assay.store import open_store

    picked = _columns(columns)
    with open_store(store) if store else nullcontext() as opened, status(json, "comparing"):
        report = run(
            reference,
            current,
            columns=picked,
            exclude=_columns(exclude, "--exclude") or (),
            stat=stat,
            threshold=threshold,
            drift_share=drift_share,
            store=opened,
        )
    data = report.to_dict()
    from assay.report import drift as page
    from assay.report import render_drift

    return deliver(
        data,
        json,
        passed=not report.drifted,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: render_drift(data),
        markdown=lambda: page.markdown(data),
        terminal=lambda: page.terminal(data, console, html),
    )
