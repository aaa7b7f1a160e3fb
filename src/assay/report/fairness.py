"""A fairness report for people: the terminal (80 columns), Markdown and a plain HTML page.

The evaluation report's own fairness section comes with the spec's ``diagnostics:``
(a later step); this page stands alone for ``assay fairness --html``.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import ICONS, table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.fairness import FairnessReport

__all__ = ["html", "markdown", "section", "terminal"]

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
    head = "".join(f"<th>{escape(h.rstrip(':'))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(report: FairnessReport) -> str:
    """A standalone page (inline styles, nothing fetched)."""
    word = "passed" if report.passed else "failed"
    notes = "".join(
        f"<li><code>{escape(str(n.code))}</code> {escape(n.message)}</li>"
        for n in (*report.failures, *report.warnings)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Fairness of {escape(report.model)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>Fairness of {escape(report.model)}: {word}</h1>"
        f"<p>{escape(report.summary())}</p>"
        f"{html_table(['number', 'value', 'interval'], _disparity_rows(report))}"
        f"{html_table(_group_header(report), _group_rows(report))}"
        f"<ul>{notes}</ul></body></html>\n"
    )


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
        + html_table(["between groups", "value:", "interval:"], disparities)
        + html_table(header, groups)
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    )
