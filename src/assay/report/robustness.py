"""A robustness report for people: the terminal (80 columns), Markdown, a standalone HTML
page, and ``section``: the HTML fragment (a table and a Plotly line chart, one line per
model and perturbation) that the evaluation report embeds.

Every renderer reads ``RobustnessReport.to_dict()`` (plain data).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.robustness import RobustnessReport

__all__ = ["figure", "html", "markdown", "section", "terminal"]

# Line styles: a colour per model, a dash per perturbation.
COLOURS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#656d76"]
DASHES = {"noise": "solid", "missing": "dot", "swap": "dash", "typo": "dashdot"}


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _header(data: Mapping[str, Any]) -> list[str]:
    return ["model", "perturbation", *(f"{s:g}:" for s in data["strengths"])]


def _rows(data: Mapping[str, Any]) -> list[list[str]]:
    """Per curve: the metric at each strength, and its drop in brackets."""
    rows = []
    for c in data["curves"]:
        cells = [
            "failed"
            if p["error"]
            else _num(p["value"])
            + ("" if not p["strength"] or p["drop"] is None else f" ({p['drop']:+.4f})")
            for p in c["points"]
        ]
        rows.append([c["model"], c["perturbation"], *cells])
    return rows


def _notes(data: Mapping[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for c in data["curves"]:
        for p in c["points"]:
            if p["error"]:
                seen[f"{c['model']} under {c['perturbation']}: {p['error']}"] = None
    notes = list(seen)
    return notes + [f"{b['code']}: {b['message']}" for b in data["breaches"]]


def _lead(data: Mapping[str, Any]) -> str:
    return (
        f"{data['metric']} on {data['rows']:,} rows at each strength, with its drop from "
        f"strength 0 in brackets (seed {data['seed']})"
    )


def terminal(report: RobustnessReport, console: Console, html_path: str | None = None) -> None:
    """The verdict, then a line per model and perturbation."""
    data = report.to_dict()
    word = "passed" if data["passed"] else "FAILED"
    console.print(f"robustness of {', '.join(data['models'])}: {word}", markup=False)
    console.print(data["summary"], overflow="fold", markup=False)
    console.print(
        f"{data['metric']} at strength 0, then its drop at each strength (seed {data['seed']})",
        overflow="fold",
        markup=False,
    )
    # Drops only, so that five strengths still fit 80 columns.
    grid = Table(box=None, pad_edge=False)
    grid.add_column("model", overflow="fold")
    grid.add_column("perturbation")
    for h in ["at 0", *(f"{s:g}" for s in data["strengths"][1:])]:
        grid.add_column(h, justify="right")
    for c in data["curves"]:
        p0, *rest = c["points"]
        cells = ["failed" if p["error"] else _signed(p["drop"]) for p in rest]
        grid.add_row(c["model"], c["perturbation"], _num(p0["value"]), *cells)
    console.print(grid)
    for note in _notes(data):
        console.print(note, overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(report: RobustnessReport) -> str:
    """A heading with the verdict and the curves as a Markdown table."""
    data = report.to_dict()
    icon = "✅" if data["passed"] else "❌"
    word = "passed" if data["passed"] else "failed"
    parts = [
        f"### {icon} Robustness of {', '.join(data['models'])}: {word}",
        data["summary"],
        _lead(data) + ":",
        table(_header(data), _rows(data)),
    ]
    parts += [f"- {n}" for n in _notes(data)]
    return "\n\n".join(parts) + "\n"


def figure(data: Mapping[str, Any]) -> str:
    """The curves as a Plotly line chart: the metric against the strength, a line per
    model and perturbation (a colour per model, a dash per perturbation)."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    colour = {m: COLOURS[i % len(COLOURS)] for i, m in enumerate(data["models"])}
    fig = go.Figure()
    for c in data["curves"]:
        points = [p for p in c["points"] if p["value"] is not None]
        fig.add_trace(
            go.Scatter(
                x=[p["strength"] for p in points],
                y=[p["value"] for p in points],
                mode="lines+markers",
                name=f"{c['model']} · {c['perturbation']}",
                line={"color": colour[c["model"]], "dash": DASHES.get(c["perturbation"])},
                hovertemplate=f"{escape(c['model'])} · {c['perturbation']}<br>"
                "strength %{x:g}: %{y:.4f}<extra></extra>",
            )
        )
    fig.update_layout(
        template=figure_template(),
        title={"text": f"{data['metric']} against perturbation strength"},
        xaxis={"title": {"text": "strength"}},
        yaxis={"title": {"text": data["metric"]}},
        showlegend=True,
        legend={"orientation": "h", "y": -0.25},
    )
    return figure_html(fig, dom_id("robustness"), 380)


def section(data: Mapping[str, Any]) -> str:
    """The curves as an HTML ``<section>`` (from ``to_dict()`` output only): the line
    chart, then the table of values and drops."""
    verdict = "passed" if data["passed"] else "failed"
    head = "".join(f"<th>{escape(h.rstrip(':'))}</th>" for h in _header(data))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in _rows(data)
    )
    notes = _notes(data)
    return "\n".join(
        [
            "<section class='robustness'>",
            f"<h2 id='diagnostic-robustness'>Robustness: "
            f"<span class='{'pass' if data['passed'] else 'fail'}'>"
            f"{verdict}</span></h2>",
            f"<p>{escape(data['summary'])}</p>",
            figure(data),
            f"<p>{escape(_lead(data))}.</p>",
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
            ("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>") if notes else "",
            "</section>",
        ]
    )


def html(report: RobustnessReport, *, self_contained: bool = False) -> str:
    """A standalone page around ``section``; plotly.js from the file beside it
    (``write_report`` writes it) or, ``self_contained``, inside it."""
    from assay.report._plotly import beside, inline
    from assay.report.behaviour import STYLE

    data = report.to_dict()
    plotly_js = inline() if self_contained else beside()
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Robustness of {escape(', '.join(data['models']))}</title>"
        f"<style>{STYLE}</style>\n{plotly_js}\n</head>"
        f"<body>{section(data)}</body></html>\n"
    )
