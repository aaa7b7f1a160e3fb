"""A staleness report for people: the terminal (80 columns), Markdown, and HTML: a line
of the metric over the versions with its interval band and the line it must not cross.

``section`` and ``markdown`` take ``StalenessReport.to_dict()`` (plain data), so the
evaluation report draws a recorded evaluation's staleness the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import ICONS, table
from assay.results import GateStatus

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.staleness import StalenessReport

__all__ = ["figure", "html", "markdown", "section", "terminal"]

OK, BAD, MUTED, BAND = "#0969da", "#cf222e", "#656d76", "rgba(9,105,218,.18)"
HEADER = ["version", "fingerprint", "rows:", "value:", "interval:", "crossed"]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _ci(ci: Any) -> str:
    return "—" if not ci else f"{ci[0]:.4f}–{ci[1]:.4f}"


def _crossed(point: Mapping[str, Any]) -> str:
    if not point["crossed"]:
        return ""
    return "yes, clearly" if point["beyond"] else "yes"


def _rows(data: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            p["name"],
            (p["fingerprint"] or "—")[:12],
            f"{p['rows']:,}",
            _num(p["value"]),
            _ci(p["interval"]),
            _crossed(p),
        ]
        for p in data["points"]
    ]


def _title(data: Mapping[str, Any]) -> str:
    word = "passed" if data["passed"] else "failed"
    return f"Staleness of {data['model']} ({data['metric']}): {word}"


def _rule(data: Mapping[str, Any]) -> str:
    """How to read the crossed column, in one sentence."""
    line = [f"below the min {data['min']:g}"] if data["min"] is not None else []
    line += [f"above the max {data['max']:g}"] if data["max"] is not None else []
    if not line:
        return "No min or max given: the metric is reported, nothing is judged."
    level = f"{data['bootstrap'].get('confidence', 0.95):.0%}"
    return (
        f"A version crosses when its {data['metric']} is {' or '.join(line)}; "
        f"'clearly' when its whole {level} bootstrap interval is past the line too. "
        "The report fails when the newest version crosses."
    )


def terminal(report: StalenessReport, console: Console, html_path: str | None = None) -> None:
    """The verdict and the summary, then one line per version; fits 80 columns."""
    data = report.to_dict()
    console.print(_title(data), overflow="fold", markup=False)
    console.print(report.summary(), overflow="fold", markup=False)
    out = Table(box=None, pad_edge=False)
    for h in HEADER:
        numeric = h.endswith(":")
        out.add_column(
            h.rstrip(":"),
            justify="right" if numeric else "left",
            max_width=26 if h == "version" else None,
            overflow="fold",
            no_wrap=numeric or h == "fingerprint",
        )
    for row in _rows(data):
        out.add_row(*[*row[:1], row[1][:8], *row[2:]], style="red" if row[-1] else None)
    console.print(out)
    for f in data["failures"]:
        console.print(f"{f['code']}: {f['message']}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(data: Mapping[str, Any]) -> str:
    """A heading with the verdict, the versions as a Markdown table and the failures."""
    parts = [
        f"### {ICONS[GateStatus(data['status'])]} {_title(data)}",
        data["summary"],
        table(HEADER, _rows(data)),
        _rule(data),
    ]
    parts += [f"- `{f['code']}`: {f['message']}" for f in data["failures"]]
    return "\n\n".join(parts) + "\n"


def figure(data: Mapping[str, Any]) -> str:
    """The metric over the versions as an HTML div: the point estimates, the interval
    band, the min/max lines dashed, crossed versions in red."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    points = list(data["points"])
    # Two versions may share a name (the same recipe twice): number them to keep both.
    names = [f"{i + 1}. {p['name']}" for i, p in enumerate(points)]
    upper = [None if not p["interval"] else p["interval"][1] for p in points]
    lower = [None if not p["interval"] else p["interval"][0] for p in points]
    level = f"{data['bootstrap'].get('confidence', 0.95):.0%}"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=names, y=upper, mode="lines", line={"width": 0}, showlegend=False,
                   hoverinfo="skip", legendgroup="band")
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=names, y=lower, mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor=BAND, name=f"{level} interval", legendgroup="band",
                   customdata=upper,
                   hovertemplate="%{y:.4f} … %{customdata:.4f}<extra></extra>")
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=names, y=[p["value"] for p in points], mode="lines+markers", name=data["metric"],
            line={"color": OK, "width": 2},
            marker={"size": 9, "color": [BAD if p["crossed"] else OK for p in points]},
            customdata=[[p["rows"], p["fingerprint"] or "—"] for p in points],
            hovertemplate=f"%{{x}}<br>{data['metric']} %{{y:.4f}}<br>%{{customdata[0]:,}} rows"
            "<extra></extra>",
        )
    )  # fmt: skip
    for word in ("min", "max"):
        if data[word] is not None:
            fig.add_hline(
                y=data[word], line={"color": BAD, "width": 1.5, "dash": "dash"},
                annotation={"text": f"{word} {data[word]:g}", "font": {"color": BAD}},
                annotation_position="bottom left" if word == "min" else "top left",
            )  # fmt: skip
    fig.update_layout(
        template=figure_template(),
        showlegend=True,
        title={"text": f"{data['metric']} of {data['model']} per version, oldest first"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.14},
        xaxis={"type": "category", "tickangle": 0 if len(points) <= 6 else -30},
        yaxis={"title": {"text": data["metric"]}},
    )
    return figure_html(fig, dom_id("staleness", data["model"], data["metric"]), 340)


def section(data: Mapping[str, Any]) -> str:
    """The staleness section of a page: a heading, the figure, the table, the failures."""
    rows = "".join(
        f"<tr class='{'bad' if row[-1] else ''}'>"
        + "".join(
            f"<td class='{'num' if h.endswith(':') else ''}'>{escape(c)}</td>"
            for h, c in zip(HEADER, row, strict=True)
        )
        + "</tr>"
        for row in _rows(data)
    )
    head = "".join(
        f"<th class='{'num' if h.endswith(':') else ''}'>{escape(h.rstrip(':'))}</th>"
        for h in HEADER
    )
    failures = "".join(
        f"<li><code>{escape(f['code'])}</code> {escape(f['message'])}</li>"
        for f in data["failures"]
    )
    return (
        "<section class='diagnostic staleness'>"
        f"<h2 id='diagnostic-staleness'>Staleness: {escape(data['metric'])} of "
        f"{escape(data['model'])}</h2>"
        f"<p>{escape(data['summary'])}</p>"
        f"<div class='fig'>{figure(data)}</div>"
        f"<div class='tablewrap'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
        f"<p class='muted'>{escape(_rule(data))}</p>"
        + (f"<ul class='notes'>{failures}</ul>" if failures else "")
        + "</section>"
    )


def html(report: StalenessReport, *, self_contained: bool = False) -> str:
    """A standalone page around ``section``: plotly.js beside the page (``write_report``
    writes it) or, ``self_contained``, inside it; nothing is fetched."""
    from assay.report._page import standalone

    return standalone(
        f"Staleness of {report.model}",
        report.passed,
        section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )
