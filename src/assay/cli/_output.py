"""How the CLI talks: one JSON object with --json, Rich tables and progress otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

if TYPE_CHECKING:
    from assay.models.golden import GoldenReport
    from assay.results import Result

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

MarkdownOpt = Annotated[
    str | None,
    typer.Option(
        "--markdown",
        metavar="FILE",
        help="Also write the result as Markdown (for CI job summaries); with "
        "$GITHUB_STEP_SUMMARY set, it is appended there too.",
        show_default=False,
    ),
]


def markdown(result: Result | GoldenReport, path: str | None) -> None:
    """Write ``result`` as Markdown to ``path`` and to ``$GITHUB_STEP_SUMMARY`` (when set)."""
    import os

    from assay.report.markdown import STEP_SUMMARY_ENV, render, write_markdown

    if path is None and not os.environ.get(STEP_SUMMARY_ENV):
        return
    write_markdown(render(result), path)


def emit(payload: dict[str, Any], as_json: bool, render: Callable[[], None]) -> None:
    """Print ``payload`` as one JSON object, or call ``render`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        render()


def deliver(
    payload: dict[str, Any],
    as_json: bool,
    *,
    passed: bool,
    html_file: str | None,
    markdown_file: str | None,
    html: Callable[[], str],
    markdown: Callable[[], str],
    terminal: Callable[[], None],
) -> int:
    """A diagnostic's output: the HTML page and the Markdown (to the file and to
    ``$GITHUB_STEP_SUMMARY``) when asked, then JSON or the terminal view; the exit code
    (0 passed, 1 not). The renderers are called only for what is asked."""
    import os

    from assay.report.markdown import STEP_SUMMARY_ENV, write_markdown

    if html_file is not None:
        from assay.report import write_report

        write_report(html(), html_file)
    if markdown_file is not None or os.environ.get(STEP_SUMMARY_ENV):
        write_markdown(markdown(), markdown_file)
    emit(payload, as_json, terminal)
    return 0 if passed else 1


@contextmanager
def progress(as_json: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress callback ``(what, done, total)`` drawing a bar on stderr, when useful:
    for people at a terminal, never with ``--json``, in CI (``CI=true``) or in a pipe."""
    if as_json or not err_console.is_terminal or _in_ci():
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield update


def _in_ci() -> bool:
    """Whether a CI service runs us (they set ``CI``): its log is no terminal."""
    import os

    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@contextmanager
def status(as_json: bool, message: str) -> Iterator[None]:
    """A spinner on stderr while something runs, for people at a terminal (not in CI)."""
    if as_json or not err_console.is_terminal or _in_ci():
        yield
        return
    with err_console.status(message):
        yield


class DefaultCommandGroup(TyperGroup):
    """A command group whose first argument, when not a subcommand, goes to ``run``:
    ``assay check SUITE`` is ``assay check run SUITE``, next to ``assay check history``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def bound_options(
    max_: list[str] | None, min_: list[str] | None, *, example: str, min_example: str = ""
) -> list[dict[str, object]]:
    """``--max NAME=X`` and ``--min NAME=X`` as a diagnostic's thresholds
    (``[{metric, max|min}]``); a malformed pair is one line naming it and an example."""
    from assay.errors import UsageError

    out: list[dict[str, object]] = []
    for kind, pairs in (("max", max_ or []), ("min", min_ or [])):
        for pair in pairs:
            name, sep, value = pair.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = None
            if not sep or number is None:
                shown = (min_example or example) if kind == "min" else example
                raise UsageError(f"--{kind} {pair!r}: write NAME=NUMBER, e.g. --{kind} {shown}")
            out.append({"metric": name.strip(), kind: number})
    return out
