"""A drift report for people: the terminal (80 columns), Markdown, and the view of the
HTML page (``render_drift``): one bar per column, its statistic against its threshold.

Every renderer takes ``DriftReport.to_dict()`` (plain data), so the CLI, the server and
the evaluation report draw the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assay.report.markdown import table

__all__ = ["figure", "markdown", "score", "section", "terminal", "view"]

OK, BAD, MUTED = "#1a7f37", "#cf222e", "#656d76"
CAP = 3.0  # the drift figure's axis ends at 3 × the threshold


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if value and abs(value) < 1e-4:
        return f"{value:.1e}"
    return f"{value:.4f}"


def _verdict(data: Mapping[str, Any]) -> str:
    return "DRIFT" if data["drifted"] else "no drift"


def _rows(data: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            c["column"],
            "num" if c["kind"] == "numerical" else "cat",
            c["stat"],
            _num(c["statistic"]),
            _num(c["p_value"]),
            _num(c["threshold"]),
            "drifted"
            if c["drifted"]
            else ("no values" if c["reason"] == "no_values" else "stable"),
        ]
        for c in data["columns"]
    ]


HEADER = ["column", "kind", "stat", "statistic:", "p-value:", "threshold:", "drift"]


def terminal(data: Mapping[str, Any], console: Console, html_path: str | None = None) -> None:
    """The verdict, then one line per column; fits 80 columns."""
    word = "[bold red]DRIFT[/]" if data["drifted"] else "[green]no drift[/]"
    console.print(
        f"{word}: {escape(data['summary'].split(': ', 1)[1])}; "
        f"{data['reference_rows']:,} reference rows, {data['current_rows']:,} current"
    )
    out = Table(box=None, pad_edge=False)
    for h in HEADER:
        numeric = h.endswith(":")
        out.add_column(
            h.rstrip(":"),
            justify="right" if numeric else "left",
            max_width=22 if h == "column" else None,
            overflow="fold",
            no_wrap=numeric,
        )
    for row in _rows(data):
        style = "red" if row[-1] == "drifted" else None
        out.add_row(*(escape(c) for c in row), style=style)
    console.print(out)
    console.print(
        "tests drift when p < threshold; distances when ≥ threshold", style="dim", overflow="fold"
    )
    if html_path:
        console.print(f"report: {escape(html_path)}", overflow="fold")


def markdown(data: Mapping[str, Any]) -> str:
    """A heading with the verdict and the columns as a Markdown table."""
    icon = "❌" if data["drifted"] else "✅"
    return (
        f"### {icon} Drift: {_verdict(data)}\n\n{data['summary']}\n\n{table(HEADER, _rows(data))}\n"
    )


def score(column: Mapping[str, Any]) -> float | None:
    """How far a column is towards its threshold, 1 at the threshold: distance ÷
    threshold, or for a test log(p) ÷ log(threshold) (so a smaller p scores higher)."""
    if column["statistic"] is None:
        return None
    if column["p_value"] is None:
        return float(column["statistic"]) / column["threshold"]
    p = max(float(column["p_value"]), 1e-300)
    return math.log(p) / math.log(column["threshold"]) if column["threshold"] < 1 else None


def figure(data: Mapping[str, Any]) -> str:
    """The bars as an HTML div: each column's score (1 = its threshold), red if drifted."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    columns = list(data["columns"])
    scores = [0.0 if s is None else s for s in (score(c) for c in columns)]
    # One column far past its threshold (a key, a year) would flatten every other bar to
    # nothing: the axis stops at CAP times the threshold and a longer bar shows its score.
    cap = min(max([*scores, 1.0]), CAP)
    fig = go.Figure(
        go.Bar(
            y=[c["column"] for c in columns],
            x=[min(s, cap) for s in scores],
            orientation="h",
            marker={"color": [BAD if c["drifted"] else OK for c in columns]},
            text=[f"{s:.3g} →" if s > cap else "" for s in scores],
            textposition="inside",
            insidetextanchor="end",
            customdata=[
                [c["stat"], _num(c["statistic"]), _num(c["p_value"]), s]
                for c, s in zip(columns, scores, strict=True)
            ],
            hovertemplate="%{y}: %{customdata[0]} %{customdata[1]}, p %{customdata[2]}"
            "<br>score %{customdata[3]:.3f}<extra></extra>",
        )
    )
    fig.add_vline(x=1, line={"color": MUTED, "width": 1, "dash": "dash"})
    fig.update_layout(
        template=figure_template(),
        title={"text": "drift score per column (1 = the column's threshold)"},
        xaxis={"range": [0, cap * 1.04]},
        yaxis={"autorange": "reversed"},
        showlegend=False,
    )
    return figure_html(fig, dom_id("drift"), 120 + 22 * len(columns))


def view(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the HTML template shows."""
    return {
        "verdict": _verdict(data),
        "header": [h.rstrip(":") for h in HEADER],
        "rows": _rows(data),
        "figure": figure(data),
    }


def section(data: Mapping[str, Any]) -> str:
    """Drift as a section of the evaluation report: the verdict, the bars, the table."""
    from html import escape as html_escape

    v = view(data)
    numeric = {3, 4, 5}
    head = "".join(
        f"<th class='{'num' if i in numeric else ''}'>{html_escape(h)}</th>"
        for i, h in enumerate(v["header"])
    )
    body = "".join(
        f"<tr class='{'bad' if row[-1] == 'drifted' else ''}'>"
        + "".join(
            f"<td class='{'num' if i in numeric else ''}'>{html_escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in v["rows"]
    )
    rows = f"{data['reference_rows']:,} reference rows, {data['current_rows']:,} current rows"
    return (
        f"<h2 id='diagnostic-drift'>Drift: {html_escape(v['verdict'])}"
        f"<span class='sub'>{html_escape(data['summary'])}; {rows}</span></h2>"
        f"<div class='fig'>{v['figure']}</div>"
        f"<div class='tablewrap'><table class='plain'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )
