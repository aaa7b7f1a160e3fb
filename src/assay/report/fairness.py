"""A fairness report for people: the terminal (80 columns), Markdown, and HTML: the
``section`` the evaluation report embeds (the groups' rates as dots on one scale, the
disparities, the table), alone on a page for ``assay fairness --html``.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import ICONS, table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.fairness import FairnessReport

__all__ = ["figure", "html", "markdown", "section", "terminal"]

RATE_COLOURS = {
    "selection_rate": ("selection rate", "#0969da"),
    "true_positive_rate": ("true-positive rate", "#1a7f37"),
    "false_positive_rate": ("false-positive rate", "#cf222e"),
}

SHORT = {
    "demographic_parity_difference": "demographic parity difference",
    "demographic_parity_ratio": "demographic parity ratio",
    "equalized_odds_difference": "equalized-odds difference",
    "equalized_odds_ratio": "equalized-odds ratio",
}


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _disparity_rows(report: FairnessReport) -> list[list[str]]:
    return [[name, _num(d.value), _ci(d.interval)] for name, d in report.disparities.items()]


def _first_metric(report: FairnessReport) -> str | None:
    return next(iter(report.groups[0].metrics), None) if report.groups else None


def _group_header(report: FairnessReport) -> list[str]:
    metric = _first_metric(report)
    return ["group", "rows:", *([f"{metric}:"] if metric else []), "selection:", "TPR:", "FPR:"]


def _group_rows(report: FairnessReport) -> list[list[Any]]:
    metric = _first_metric(report)
    return [
        [
            g.name,
            f"{g.count:,}",
            *([_num(g.metrics[metric])] if metric else []),
            _num(g.selection_rate),
            _num(g.true_positive_rate),
            _num(g.false_positive_rate),
        ]
        for g in report.groups
    ]


def terminal(report: FairnessReport, console: Console, html_path: str | None = None) -> None:
    """The disparities with intervals, then one line per group; fits 80 columns."""
    word = "passed" if report.passed else "FAILED"
    console.print(f"fairness of {report.model} over {report.feature}: {word}")
    console.print(report.summary(), overflow="fold")
    top = Table(box=None, pad_edge=False)
    top.add_column("between groups", max_width=32, overflow="fold")
    top.add_column("value", justify="right")
    top.add_column(f"{report.bootstrap.get('confidence', 0.95):.0%} interval", justify="right")
    for row in _disparity_rows(report):
        top.add_row(*row)
    console.print(top)
    groups = Table(box=None, pad_edge=False)
    for h in _group_header(report):
        groups.add_column(
            h.rstrip(":"),
            justify="right" if h.endswith(":") else "left",
            max_width=24,
            overflow="fold",
        )
    for row in _group_rows(report):
        groups.add_row(*row)
    console.print(groups)
    for n in (*report.failures, *report.warnings):
        console.print(f"{n.code}: {n.message}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(report: FairnessReport) -> str:
    """A heading with the verdict, the disparities and the groups as Markdown tables."""
    word = "passed" if report.passed else "failed"
    parts = [
        f"### {ICONS[report.status]} Fairness of {report.model}: {word}",
        report.summary(),
        table(["number", "value:", "interval"], _disparity_rows(report)),
        table(_group_header(report), _group_rows(report)),
    ]
    parts += [f"- `{n.code}`: {n.message}" for n in (*report.failures, *report.warnings)]
    return "\n\n".join(parts) + "\n"


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """A table; a header ending in ``:`` (the Markdown tables' mark) is a number column."""
    kind = ["num" if h.endswith(":") else "" for h in header]
    head = "".join(
        f"<th class='{k}'>{escape(h.rstrip(':'))}</th>" for h, k in zip(header, kind, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{k}'>{escape(str(c))}</td>" for c, k in zip(row, kind, strict=False))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(report: FairnessReport, *, self_contained: bool = False) -> str:
    """A standalone page around ``section``: plotly.js beside the page (``write_report``
    writes it) or, ``self_contained``, inside it; nothing is fetched."""
    from assay.report._page import standalone

    return standalone(
        f"Fairness of {report.model}",
        report.passed,
        section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )


def figure(data: Mapping[str, Any]) -> str:
    """Each group's selection rate, TPR and FPR (the groups the top-level numbers are
    about) as dots on one 0–1 scale: how far a colour's dots spread is what the
    disparities measure. A group's row count is in its label."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    groups = [g for g in data["groups"] if g["feature"] == data["feature"]]
    names = [
        ", ".join(f"{c}={v}" for c, v in g["values"].items()) + f" ({g['count']:,})" for g in groups
    ]
    fig = go.Figure()
    for rate, (label, colour) in RATE_COLOURS.items():
        fig.add_trace(
            go.Scatter(
                x=[g[rate] for g in groups], y=names, mode="markers", name=label,
                marker={"color": colour, "size": 9, "opacity": 0.85},
                hovertemplate=f"%{{y}}<br>{label} %{{x:.4f}}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        template=figure_template(),
        showlegend=True,
        title={"text": f"rates per group of {data['feature']} (rows)"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
        xaxis={"range": [-0.02, 1.02]},
        yaxis={"autorange": "reversed", "type": "category"},
        margin={"t": 56},
    )
    return figure_html(fig, dom_id("fairness", data["feature"]), 110 + 22 * len(groups))


def section(data: dict[str, Any]) -> str:
    """Fairness as a section of the evaluation report, from ``FairnessReport.to_dict()``:
    the disparities with their intervals, then each group's rates."""
    word = "passed" if data["passed"] else "failed"
    confidence = data.get("bootstrap", {}).get("confidence", 0.95)
    disparities = [
        [SHORT.get(name, name), _num(data.get(name)), _ci(interval)]
        for name, interval in data.get("intervals", {}).items()
    ]
    metric = next(iter(data["groups"][0]["metrics"]), None) if data["groups"] else None
    header = ["group", "rows:", *([f"{metric}:"] if metric else []), "selection:", "TPR:", "FPR:"]
    groups = [
        [
            ", ".join(f"{c}={v}" for c, v in g["values"].items()),
            f"{g['count']:,}",
            *([_num(g["metrics"].get(metric))] if metric else []),
            _num(g["selection_rate"]),
            _num(g["true_positive_rate"]),
            _num(g["false_positive_rate"]),
        ]
        for g in data["groups"]
    ]
    notes = "".join(
        f"<li><code>{escape(n['code'])}</code> {escape(n['message'])}</li>"
        for n in (*data.get("failures", []), *data.get("warnings", []))
    )
    return (
        f"<h2 id='diagnostic-fairness'>Fairness over {escape(data['feature'])}: {word}"
        f"<span class='sub'>{data['rows']:,} rows, label <code>{escape(str(data['label']))}"
        f"</code>, intervals at {100 * confidence:g}%</span></h2>"
        + f"<div class='fig'>{figure(data)}</div>"
        + html_table(["between groups", "value:", "interval:"], disparities)
        + html_table(header, groups)
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    )
