"""Label issues and the relabelling loop for people: the terminal (80 columns),
Markdown, and an HTML page with a plot each (the confident joint as a heat map; each
model's metric change per slice as bars).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from rich.markup import escape as rich_escape
from rich.table import Table

from assay.report.markdown import ICONS, table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.labels.issues import LabelIssues
    from assay.labels.relabel import Applied, RelabelComparison

__all__ = [
    "applied",
    "compare_html",
    "compare_markdown",
    "compare_terminal",
    "issues_html",
    "issues_markdown",
    "issues_terminal",
]

SHOWN = 20  # issues listed on the terminal and in Markdown; --json and --queue hold all
OK, BAD, MUTED = "#1a7f37", "#cf222e", "#656d76"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _key(key: dict[str, Any]) -> str:
    return (
        ", ".join(str(v) for v in key.values()) if len(key) > 1 else str(next(iter(key.values())))
    )


def _issue_rows(report: LabelIssues, limit: int | None = SHOWN) -> list[list[str]]:
    shown = report.issues if limit is None else report.issues[:limit]
    return [
        [str(rank), _key(i.key), str(i.given), str(i.suggested), _num(i.score)]
        for rank, i in enumerate(shown, 1)
    ]


def _issue_header(report: LabelIssues) -> list[str]:
    return ["rank:", ", ".join(report.key), "given", "suggested", "score:"]


def _more(report: LabelIssues, limit: int = SHOWN) -> str | None:
    extra = len(report.issues) - limit
    return f"… {extra:,} more: --json or --queue FILE lists every one" if extra > 0 else None


def issues_terminal(report: LabelIssues, console: Console, html_path: str | None = None) -> None:
    """The verdict and summary, then the first issues, ranked; fits 80 columns."""
    word = "passed" if report.passed else "FAILED"
    console.print(f"label issues: {word}", markup=False)
    console.print(report.summary(), overflow="fold", markup=False)
    console.print(
        f"probabilities: {report.source}; rule {report.filter_by}, ranked by {report.rank_by}",
        style="dim",
        overflow="fold",
        markup=False,
    )
    if report.issues:
        out = Table(box=None, pad_edge=False)
        for h in _issue_header(report):
            numeric = h.endswith(":")
            out.add_column(
                h.rstrip(":"),
                justify="right" if numeric else "left",
                max_width=24,
                overflow="fold",
                no_wrap=numeric,
            )
        for row in _issue_rows(report):
            out.add_row(*(rich_escape(c) for c in row))
        console.print(out)
    if more := _more(report):
        console.print(more, style="dim", markup=False)
    for n in (*report.failures, *report.warnings):
        console.print(f"{n.code}: {n.message}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def issues_markdown(report: LabelIssues) -> str:
    """A heading with the verdict, the summary and the first issues as a table."""
    word = "passed" if report.passed else "failed"
    parts = [
        f"### {ICONS[report.status]} Label issues: {word}",
        report.summary(),
        f"Probabilities: {report.source}; rule `{report.filter_by}`, ranked by "
        f"`{report.rank_by}` (lowest score first).",
    ]
    if report.issues:
        parts.append(table(_issue_header(report), _issue_rows(report)))
    if more := _more(report):
        parts.append(more)
    parts += [f"- `{n.code}`: {n.message}" for n in (*report.failures, *report.warnings)]
    return "\n\n".join(parts) + "\n"


def _joint_figure(report: LabelIssues) -> str:
    """The confident joint as a heat map: given label down, true label across."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    names = [str(c) for c in report.classes]
    z = [list(row) for row in report.joint]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=[[f"{v:,}" for v in row] for row in z],
            texttemplate="%{text}",
            colorscale=[[0, "#ffffff"], [1, "#0969da"]],
            showscale=False,
            hovertemplate="given %{y}, likely %{x}: %{text} rows<extra></extra>",
        )
    )
    fig.update_layout(
        template=figure_template(),
        title={"text": "confident joint: rows by given label (down) and likely label (across)"},
        xaxis={"title": {"text": "likely label"}, "type": "category"},
        yaxis={"title": {"text": "given label"}, "type": "category", "autorange": "reversed"},
    )
    return figure_html(fig, dom_id("label-issues-joint"), 140 + 40 * len(names))


_STYLE = (
    "body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;"
    "margin:0}main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border-bottom:1px solid #d0d7de;padding:.25em .7em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}.muted{color:#656d76}"
    f".ok{{color:{OK}}}.bad{{color:{BAD}}}"
)


def _page(title: str, body: str) -> str:
    from assay.report._plotly import beside

    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style>{beside()}</head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h.rstrip(':'))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def issues_html(report: LabelIssues, limit: int = 500) -> str:
    """A page (plotly.js beside it): the verdict, the confident joint, the first
    ``limit`` issues ranked, and the notes."""
    word = "passed" if report.passed else "failed"
    notes = "".join(
        f"<li><code>{escape(str(n.code))}</code> {escape(n.message)}</li>"
        for n in (*report.failures, *report.warnings)
    )
    more = _more(report, limit)
    body = (
        f"<h1 class='{'ok' if report.passed else 'bad'}'>Label issues: {word}</h1>"
        f"<p>{escape(report.summary())}</p>"
        f"<p class='muted'>Probabilities: {escape(report.source)}; rule "
        f"<code>{escape(report.filter_by)}</code>, ranked by "
        f"<code>{escape(report.rank_by)}</code>, lowest score first.</p>"
        f"{_joint_figure(report)}"
        f"{_html_table(_issue_header(report), _issue_rows(report, limit))}"
        + (f"<p class='muted'>{escape(more)}</p>" if more else "")
        + (f"<ul>{notes}</ul>" if notes else "")
    )
    return _page("Label issues", body)


# -- assay labels apply ---------------------------------------------------------------


def applied(result: Applied, console: Console) -> None:
    """One line: the delta committed and what the queue held."""
    d = result.added.delta
    console.print(
        f"relabelled {result.relabelled:,} row(s) of {d.dataset!r} as upsert delta "
        f"{d.name!r} ({d.short_id}); {result.queued:,} queued, {result.unreviewed:,} left blank",
        overflow="fold",
        markup=False,
    )


# -- assay labels compare-models ------------------------------------------------------


def _compare_header(report: RelabelComparison) -> list[str]:
    return ["model", "slice", "rows:", "metric", "old:", "new:", "change:"]


def _compare_rows(report: RelabelComparison) -> list[list[str]]:
    rows = []
    for m in report.models:
        for s in m.slices:
            for metric in report.metrics:
                rows.append(
                    [
                        m.model,
                        s.slice,
                        f"{s.rows_new:,}",
                        metric,
                        _num(s.old[metric]),
                        _num(s.new[metric]),
                        _num(s.difference(metric), signed=True),
                    ]
                )
    return rows


def _versions(report: RelabelComparison) -> str:
    def side(d: dict[str, Any]) -> str:
        return f"{d['version'][:12]}" + (f":{d['split']}" if d["split"] else "")

    return f"old {side(report.old)} → new {side(report.new)} ({report.label!r})"


def compare_terminal(
    report: RelabelComparison, console: Console, html_path: str | None = None
) -> None:
    """The label change, then each model's metric per slice, old and new; 80 columns."""
    console.print(report.summary(), overflow="fold", markup=False)
    console.print(_versions(report), style="dim", overflow="fold", markup=False)
    out = Table(box=None, pad_edge=False)
    for h in _compare_header(report):
        numeric = h.endswith(":")
        out.add_column(
            h.rstrip(":"),
            justify="right" if numeric else "left",
            max_width=16,
            overflow="fold",
            no_wrap=numeric,
        )
    for row in _compare_rows(report):
        out.add_row(*(rich_escape(c) for c in row))
    console.print(out)
    for code, message in report.warnings:
        console.print(f"{code}: {message}", overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def compare_markdown(report: RelabelComparison) -> str:
    """A heading, the label change and the table of metrics, old and new."""
    parts = [
        f"### {ICONS[report.status]} Models on the old and new labels",
        f"{report.summary()}; {_versions(report)}",
        table(_compare_header(report), _compare_rows(report)),
    ]
    parts += [f"- `{c}`: {m}" for c, m in report.warnings]
    return "\n\n".join(parts) + "\n"


def _compare_figure(report: RelabelComparison) -> str:
    """Per metric, the change (new − old) of each model on each slice, as bars."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    parts = []
    for metric in report.metrics:
        fig = go.Figure()
        for m in report.models:
            changes = [s.difference(metric) for s in m.slices]
            fig.add_trace(
                go.Bar(
                    name=m.model,
                    x=[s.slice for s in m.slices],
                    y=[0 if c is None else c for c in changes],
                    hovertemplate=f"{m.model}, %{{x}}: %{{y:+.4f}}<extra></extra>",
                )
            )
        fig.update_layout(
            template=figure_template(),
            barmode="group",
            showlegend=len(report.models) > 1,
            title={"text": f"{metric}: new labels − old labels, per slice"},
            xaxis={"type": "category"},
        )
        parts.append(figure_html(fig, dom_id("relabel", metric), 320))
    return "".join(parts)


def compare_html(report: RelabelComparison) -> str:
    """A page (plotly.js beside it): the label change, a bar chart per metric and the table."""
    notes = "".join(
        f"<li><code>{escape(str(c))}</code> {escape(m)}</li>" for c, m in report.warnings
    )
    body = (
        "<h1>Models on the old and new labels</h1>"
        f"<p>{escape(report.summary())}</p><p class='muted'>{escape(_versions(report))}</p>"
        f"{_compare_figure(report)}"
        f"{_html_table(_compare_header(report), _compare_rows(report))}"
        + (f"<ul>{notes}</ul>" if notes else "")
    )
    return _page("Models on the old and new labels", body)
