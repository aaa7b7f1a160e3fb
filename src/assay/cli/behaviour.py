"""``assay behaviour MODEL@REF TESTS.yaml [DATA]``: CheckList's MFT, INV and DIR tests."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, emit, status


def register(root: typer.Typer) -> None:
    root.command("behaviour")(behaviour)


def behaviour(
    model: Annotated[str, typer.Argument(help="The model, NAME@ALIAS or NAME@VERSION.")],
    tests: Annotated[
        str, typer.Argument(help="The tests, a YAML file with `tests:` (and optionally `data:`).")
    ],
    data: Annotated[
        str | None,
        typer.Argument(
            help="The rows the inv and dir tests perturb: a recipe[:split], a "
            "fingerprint[:split] or a data file (default: the file's `data:`).",
            show_default=False,
        ),
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Behaviour tests (CheckList): minimum functionality (mft), invariance (inv) and
    directional expectations (dir), each with its failure rate and worst cases. Exit 0
    when every test holds; 1 when one fails; 2 on bad usage."""
    from assay.diagnostics.behaviour import behaviour as run
    from assay.diagnostics.behaviour import load_behaviour
    from assay.store import open_store

    spec = load_behaviour(tests)  # a bad file fails before the store opens
    with open_store(store) as opened, status(json, "running behaviour tests"):
        report = run(model, spec, data, store=opened)
    from assay.report import behaviour as page
    from assay.report import write_report

    if html is not None:
        write_report(page.html(report), html)
    if markdown_file is not None or _summary_env():
        from assay.report.markdown import write_markdown

        write_markdown(page.markdown(report), markdown_file)
    emit(report.to_dict(), json, lambda: page.terminal(report, console, html))
    return 0 if report.passed else 1


def _summary_env() -> bool:
    import os

    from assay.report.markdown import STEP_SUMMARY_ENV

    return bool(os.environ.get(STEP_SUMMARY_ENV))
