"""A permutation-importance report for people: terminal (80 columns), Markdown, HTML."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from rich.table import Table

from assay.report.fairness import html_table
from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.importance import ImportanceReport, SliceImportance

__all__ = ["html", "markdown", "terminal"]

HEADER = ["column", "mean:", "std:", "interval:"]


def _rows(s: SliceImportance) -> list[list[str]]:
    return [
        [
            c.column,
            f"{c.mean:.4f}",
            f"{c.std:.4f}",
            "—" if c.interval is None else f"[{c.interval[0]:.4f}, {c.interval[1]:.4f}]",
        ]
        for c in s.columns
    ]


def _title(report: ImportanceReport, s: SliceImportance) -> str:
    base = "—" if s.baseline is None else f"{s.baseline:.4f}"
    return f"{s.slice}: {s.rows:,} rows, {report.metric} {base}"


def terminal(report: ImportanceReport, console: Console, html_path: str | None = None) -> None:
    """Per slice, the columns most important first; fits 80 columns."""
    console.print(
        f"permutation importance of {report.model}: {report.metric} drop over "
        f"{report.repeats} repeats, {report.confidence:.0%} t interval",
        overflow="fold",
        markup=False,
    )
    for s in report.slices:
        console.print(_title(report, s), overflow="fold", markup=False)
        t = Table(box=None, pad_edge=False)
        for h in HEADER:
            t.add_column(
                h.rstrip(":"),
                justify="right" if h.endswith(":") else "left",
                max_width=30,
                overflow="fold",
            )
        for row in _rows(s):
            t.add_row(*row)
        console.print(t)
    for code, message in report.warnings:
        console.print(f"{code}: {message}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(report: ImportanceReport) -> str:
    """One table per slice."""
    parts = [f"### Permutation importance of {report.model}", report.summary()]
    for s in report.slices:
        parts += [f"**{_title(report, s)}**", table(HEADER, _rows(s))]
    return "\n\n".join(parts) + "\n"


def html(report: ImportanceReport) -> str:
    """A standalone page (inline styles, nothing fetched)."""
    body = "".join(
        f"<h2>{escape(_title(report, s))}</h2>{html_table(HEADER, _rows(s))}" for s in report.slices
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Importance of {escape(report.model)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>Permutation importance of {escape(report.model)}</h1>"
        f"<p>{escape(report.summary())}</p>{body}</body></html>\n"
    )
