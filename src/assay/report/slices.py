"""A slice report for people: the terminal (80 columns), Markdown, a standalone HTML page
and the HTML ``section`` the evaluation report embeds.

Every view but the terminal's takes ``SliceReport.to_dict()`` (plain data), so a page
drawn from a recorded evaluation is the page ``assay slices find --html`` writes. The
figure is inline SVG: each slice's error rate against the average, nothing to load.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.markup import escape as rich_escape
from rich.table import Table

from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.slices import SliceReport

__all__ = ["figure", "html", "markdown", "section", "terminal"]

HEADER = ["#:", "slice", "rows:", "error:", "score:"]
BAD, MUTED, BAR = "#cf222e", "#656d76", "#d4a72c"


def _rows(data: Mapping[str, Any]) -> list[list[str]]:
    return [
        [str(i), s["expr"], f"{s['size']:,}", f"{s['error']:.4f}", f"{s['score']:.4f}"]
        for i, s in enumerate(data["slices"], start=1)
    ]


def _settings(data: Mapping[str, Any]) -> str:
    return (
        f"errors: {data['errors']}; k {data['k']}, max level {data['max_level']}, "
        f"min support {data['min_support']:,} rows, alpha {data['alpha']:g}, "
        f"{data['bins']} bins"
    )


def _notes(data: Mapping[str, Any]) -> list[dict[str, str]]:
    return [*data["failures"], *data["warnings"]]


def terminal(report: SliceReport, console: Console, html_path: str | None = None) -> None:
    """The verdict, one line per slice and the settings; fits 80 columns."""
    data = report.to_dict()
    word = "passed" if report.passed else "[bold red]FAILED[/]"
    console.print(f"slices of {rich_escape(report.model or 'the errors')}: {word}")
    console.print(rich_escape(report.summary()), overflow="fold")
    if data["slices"]:
        out = Table(box=None, pad_edge=False)
        for h in HEADER:
            numeric = h.endswith(":")
            out.add_column(
                h.rstrip(":"),
                justify="right" if numeric else "left",
                no_wrap=numeric,
                overflow="fold",
                max_width=None if numeric else 44,
            )
        for row in _rows(data):
            out.add_row(*(rich_escape(c) for c in row))
        console.print(out)
    console.print(_settings(data), style="dim", overflow="fold")
    for n in _notes(data):
        console.print(f"{n['code']}: {n['message']}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(data: Mapping[str, Any]) -> str:
    """A heading with the verdict, the slices as a table, the settings and the notes."""
    icon = "✅" if data["passed"] else "❌"
    word = "passed" if data["passed"] else "failed"
    rows = [[r[0], f"`{r[1]}`", *r[2:]] for r in _rows(data)]
    parts = [f"### {icon} Slices of {data['model'] or 'the errors'}: {word}", data["summary"]]
    if rows:
        parts.append(table(HEADER, rows))
    parts.append(f"_{_settings(data)}_")
    parts += [f"- `{n['code']}`: {n['message']}" for n in _notes(data)]
    return "\n\n".join(parts) + "\n"


def figure(data: Mapping[str, Any]) -> str:
    """Inline SVG: one bar per slice, its error rate, and a dashed line at the average."""
    slices = list(data["slices"])
    if not slices:
        return ""
    width, left, bar, gap = 640, 40, 18, 8
    top = max([s["error"] for s in slices] + [data["average_error"]]) or 1.0
    scale = (width - left - 70) / top
    height = 24 + len(slices) * (bar + gap)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' role='img' aria-label='error rate per slice'>"
    ]
    for i, s in enumerate(slices):
        y = 16 + i * (bar + gap)
        w = s["error"] * scale
        parts.append(
            f"<text x='{left - 6}' y='{y + 13}' text-anchor='end' font-size='12' "
            f"fill='{MUTED}'>{i + 1}</text>"
            f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{bar}' fill='{BAR}'>"
            f"<title>{escape(s['expr'])}: error {s['error']:.4f}, {s['size']:,} rows</title>"
            "</rect>"
            f"<text x='{left + w + 6:.1f}' y='{y + 13}' font-size='12'>{s['error']:.3f}</text>"
        )
    x = left + data["average_error"] * scale
    parts.append(
        f"<line x1='{x:.1f}' x2='{x:.1f}' y1='8' y2='{height - 4}' stroke='{BAD}' "
        "stroke-dasharray='4 3'/>"
        f"<text x='{x + 4:.1f}' y='11' font-size='11' fill='{BAD}'>average "
        f"{data['average_error']:.3f}</text></svg>"
    )
    return "".join(parts)


def section(data: Mapping[str, Any]) -> str:
    """The slices as an HTML ``<section>`` (from ``to_dict()`` output only): a heading,
    the figure, the table of slices, the settings and the notes."""
    head = "".join(
        f"<th class='{'num' if h.endswith(':') else ''}'>{escape(h.rstrip(':'))}</th>"
        for h in HEADER
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{escape(c)}</td>"
            if h.endswith(":")
            else f"<td><code>{escape(c)}</code></td>"
            for h, c in zip(HEADER, row, strict=True)
        )
        + "</tr>"
        for row in _rows(data)
    )
    notes = "".join(
        f"<li><code>{escape(n['code'])}</code> {escape(n['message'])}</li>" for n in _notes(data)
    )
    title = f"Slices: where {escape(data['model'] or 'the model')} errs most"
    return (
        "<section class='diagnostic slices'>"
        f"<h2>{title}</h2>"
        f"<p>{escape(data['summary'])}</p>"
        + (f"<div class='fig'>{figure(data)}</div>" if data["slices"] else "")
        + (
            f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
            if data["slices"]
            else ""
        )
        + f"<p class='muted'>{escape(_settings(data))}</p>"
        + (f"<ul class='failures'>{notes}</ul>" if notes else "")
        + "</section>"
    )


STYLE = (
    "body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;"
    "margin:0}main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:22px}h2{font-size:18px;margin:24px 0 10px;padding-bottom:6px;"
    "border-bottom:1px solid #d0d7de}.scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%}"
    "th{text-align:left;font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;"
    "color:#656d76;border-bottom:2px solid #d0d7de;padding:6px 8px;white-space:nowrap}"
    "td{border-bottom:1px solid #d0d7de;padding:6px 8px;overflow-wrap:anywhere}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".muted{color:#656d76}.verdict.ok{color:#1a7f37}.verdict.bad{color:#cf222e}"
)


def html(report: SliceReport) -> str:
    """A standalone page around ``section`` (inline styles and SVG, nothing fetched)."""
    data = report.to_dict()
    state, word = ("ok", "passed") if report.passed else ("bad", "failed")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Slices of {escape(report.model or 'the errors')}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>Slices of {escape(report.model or 'the errors')}: "
        f"<span class='verdict {state}'>{word}</span></h1>"
        f"{section(data)}</main></body></html>\n"
    )
