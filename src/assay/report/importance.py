"""A permutation-importance report for people: terminal (80 columns), Markdown, HTML."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.fairness import html_table
from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.importance import ImportanceReport, SliceImportance

__all__ = ["html", "markdown", "section", "terminal"]

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


def html(report: ImportanceReport, *, self_contained: bool = False) -> str:
    """A standalone page around ``section``: plotly.js beside the page (``write_report``
    writes it) or, ``self_contained``, inside it; nothing is fetched."""
    from assay.report._page import standalone

    # Importance reports and judges nothing: no verdict in the heading.
    return standalone(
        f"Permutation importance of {report.model}",
        None,
        section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )


def section(data: dict[str, Any]) -> str:
    """Importance as a section of the evaluation report, from ``ImportanceReport.to_dict()``:
    the overall importances as bars with their intervals, then one table with a column
    per slice (columns in the overall order, most important first)."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    slices = data["slices"]
    overall = slices[0]["columns"]
    go = graph_objects()
    fig = go.Figure(
        go.Bar(
            y=[c["column"] for c in overall],
            x=[c["mean"] for c in overall],
            orientation="h",
            marker={"color": "#0969da"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    0 if c["interval"] is None else c["interval"][1] - c["mean"] for c in overall
                ],
                "arrayminus": [
                    0 if c["interval"] is None else c["mean"] - c["interval"][0] for c in overall
                ],
                "color": "#656d76",
            },
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        template=figure_template(),
        title={
            "text": f"drop in {data['metric']} when the column is shuffled ({slices[0]['slice']})"
        },
        yaxis={"autorange": "reversed"},
        showlegend=False,
    )
    order = [c["column"] for c in overall]
    by_slice = [{c["column"]: c for c in s["columns"]} for s in slices]
    header = ["column", *(f"{s['slice']} ({s['rows']:,} rows):" for s in slices)]

    def cell(c: dict[str, Any] | None) -> str:
        if c is None:
            return "—"
        if c["interval"] is None:
            return f"{c['mean']:.4f}"
        return f"{c['mean']:.4f} ± {(c['interval'][1] - c['interval'][0]) / 2:.4f}"

    rows = [[name, *(cell(m.get(name)) for m in by_slice)] for name in order]
    return (
        f"<h2 id='diagnostic-importance'>Permutation importance"
        f"<span class='sub'>the drop in {escape(data['metric'])} when a column is shuffled; "
        f"{data['repeats']} repeats, ± half the {100 * data['confidence']:g}% interval</span></h2>"
        f"<div class='fig'>{figure_html(fig, dom_id('importance'), 120 + 22 * len(overall))}</div>"
        + html_table(header, rows)
    )
