"""``assay check SUITE``: data tests with an exit code for CI; ``import-ge``, ``history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import (
    DefaultCommandGroup,
    MarkdownOpt,
    console,
    emit,
    err_console,
    markdown,
    progress,
)

if TYPE_CHECKING:
    from assay.store import Store


app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help=(
        "Data tests. `assay check SUITE [--on RECIPE|FINGERPRINT|FILE] [--split S] "
        "[--html FILE] [--markdown FILE] [--json]` runs a suite: exit 0 when every error-severity "
        "expectation passed, 1 when one failed, 2 on bad usage. "
        "See `assay check run --help`."
    ),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="check")


def _optional_store(url: str | None) -> Store | None:
    """The store when one is named or found; checks of plain files need none."""
    from assay.errors import StoreNotFound
    from assay.store import open_store

    try:
        return open_store(url)
    except StoreNotFound:
        if url is not None:
            raise
        return None


@app.command("run", hidden=True)
def run(
    suite: Annotated[str, typer.Argument(help="The suite file (YAML).", show_default=False)],
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="The data: a recipe (.yaml), a version fingerprint, or a file "
            "(.parquet, .csv, .tsv, .jsonl) by path or URL (s3://, hf://, …). "
            "Default: the suite's `on:`.",
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Check only this split of a version.")
    ] = None,
    html: Annotated[
        str | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store the result in the catalog.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Read every row: do not extend a stored check of an earlier version.",
        ),
    ] = False,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Run SUITE on a dataset version or a file; exit 1 if an error-severity expectation fails.

    The suite is checked against the data's columns before any row is read. Results
    are recorded against the version's fingerprint and the suite's stage.
    """
    from assay.checks import check
    from assay.report import render_check, terminal, write_report

    opened = _optional_store(store)
    try:
        # check() reads the suite itself, to report its problems with the data's at once.
        with progress(json) as bar:
            report = check(
                suite, on, split=split, store=opened, record=not no_record, progress=bar, full=full
            )
        if html is not None:
            write_report(render_check(report), html)
        markdown(report, markdown_file)
    finally:
        if opened is not None:
            opened.close()
    payload = report.to_dict()
    if html is not None:
        payload["html"] = html
    if markdown_file is not None:
        payload["markdown"] = markdown_file
    emit(payload, json, lambda: terminal.check(report, console, html))
    return report.exit_code


@app.command("import-ge")
def import_ge(
    source: Annotated[
        str, typer.Argument(help="A Great Expectations suite (JSON).", show_default=False)
    ],
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Write the assay suite here (YAML).")
    ] = None,
    json: JsonOpt = False,
) -> int:
    """Translate a Great Expectations suite into an assay suite; list what did not map."""
    from assay.checks.ge import import_ge as translate
    from assay.report import write_report

    result = translate(source)
    text = result.suite.to_yaml()
    if out is not None:
        write_report(text, out)
    payload = {
        "suite": result.suite.name,
        "mapped": len(result.suite.expectations),
        "unmapped": [u.to_dict() for u in result.unmapped],
        "out": out,
        "yaml": text if out is None else None,
    }

    def render() -> None:
        if out is None:
            console.print(escape(text), end="", soft_wrap=True)
        else:
            console.print(f"wrote {escape(out)}: {len(result.suite.expectations)} expectation(s)")
        for u in result.unmapped:
            where = f" ({escape(u.column)})" if u.column else ""
            err_console.print(
                f"[yellow]not imported[/] #{u.position} {escape(u.ge_type)}{where}: {escape(u.reason)}"
            )

    emit(payload, json, render)
    return 0


@app.command("history")
def history(
    on: Annotated[
        str | None, typer.Option("--on", help="Only results for this version fingerprint (prefix).")
    ] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Only this suite.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 20,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Recorded check results, newest first."""
    from assay.store import open_store

    with open_store(store) as opened:
        rows = opened.catalog.list_checks(fingerprint=on, suite=suite, limit=limit)

    def render() -> None:
        from assay.report import terminal

        terminal.check_history(rows, console)

    emit({"checks": rows}, json, render)
    return 0
