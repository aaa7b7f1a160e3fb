"""Label issues and the relabelling loop for people: the terminal (80 columns),
Markdown, and an HTML section with a plot each (the confident joint as a heat map; each
model's metric change per slice as bars), drawn from the result's ``to_dict()`` and
standing alone as a page (``report/_page.standalone``), as the diagnostics' sections do.
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
    "compare_section",
    "compare_terminal",
    "issues_html",
    "issues_markdown",
    "issues_section",
    "issues_terminal",
]

SHOWN = 20  # issues listed on the terminal and in Markdown; --json and --queue hold all


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


def _joint_figure(data: dict[str, Any]) -> str:
    """The confident joint as a heat map: given label down, likely label across."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    names = [str(c) for c in data["classes"]]
    z = [list(row) for row in data["confident_joint"]]
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
    return figure_html(fig, dom_id("label-issues", data["version"][:12]), 140 + 40 * len(names))


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    """A table; a header ending in ``:`` (the Markdown tables' mark) is a number column,
    of class ``num`` as the evaluation report aligns them."""
    kind = [" class='num'" if h.endswith(":") else "" for h in header]
    head = "".join(
        f"<th{k}>{escape(h.rstrip(':'))}</th>" for h, k in zip(header, kind, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{k}>{escape(c)}</td>" for c, k in zip(row, kind, strict=True))
        + "</tr>"
        for row in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='tablewrap'>{table}</div>"


def _notes(notes: list[dict[str, Any]]) -> str:
    items = "".join(
        f"<li><code>{escape(n['code'])}</code> {escape(n['message'])}</li>" for n in notes
    )
    return f"<ul class='notes'>{items}</ul>" if items else ""


def issues_section(data: dict[str, Any], limit: int = 500) -> str:
    """Label issues as a report section, from ``LabelIssues.to_dict()``: the summary, the
    confident joint, the first ``limit`` issues ranked, and the notes."""
    issues = data["issues"]
    header = ["rank:", ", ".join(data["key"]), "given", "suggested", "score:"]
    rows = [
        [str(rank), _key(i["key"]), str(i["given"]), str(i["suggested"]), _num(i["score"])]
        for rank, i in enumerate(issues[:limit], 1)
    ]
    more = len(issues) - limit
    return (
        f"<p>{escape(data['summary'])}</p>"
        f"<p class='muted'>Probabilities: {escape(data['source'])}; rule "
        f"<code>{escape(data['filter_by'])}</code>, ranked by "
        f"<code>{escape(data['rank_by'])}</code>, lowest score first.</p>"
        f"{_joint_figure(data)}"
        + (_html_table(header, rows) if rows else "")
        + (f"<p class='muted'>… {more:,} more in --json and --queue</p>" if more > 0 else "")
        + _notes(data["failures"] + data["warnings"])
    )


def issues_html(report: LabelIssues, *, self_contained: bool = False) -> str:
    """A standalone page around ``issues_section`` (plotly.js beside it, or inside)."""
    from assay.report._page import standalone

    return standalone(
        "Label issues",
        report.passed,
        issues_section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )


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


COMPARE_HEADER = ["model", "slice", "rows:", "metric", "old:", "new:", "change:"]


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


def _versions(data: dict[str, Any]) -> str:
    def side(d: dict[str, Any]) -> str:
        return f"{d['version'][:12]}" + (f":{d['split']}" if d["split"] else "")

    return f"old {side(data['old'])} → new {side(data['new'])} ({data['label']!r})"


def compare_terminal(
    report: RelabelComparison, console: Console, html_path: str | None = None
) -> None:
    """The label change, then each model's metric per slice, old and new; 80 columns."""
    console.print(report.summary(), overflow="fold", markup=False)
    console.print(_versions(report.to_dict()), style="dim", overflow="fold", markup=False)
    out = Table(box=None, pad_edge=False)
    for h in COMPARE_HEADER:
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
        f"{report.summary()}; {_versions(report.to_dict())}",
        table(COMPARE_HEADER, _compare_rows(report)),
    ]
    parts += [f"- `{c}`: {m}" for c, m in report.warnings]
    return "\n\n".join(parts) + "\n"


def _compare_figure(data: dict[str, Any]) -> str:
    """Per metric, the change (new − old) of each model on each slice, as bars."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    parts = []
    for metric in data["metrics"]:
        fig = go.Figure()
        for m in data["models"]:
            changes = [s["metrics"][metric]["difference"] for s in m["slices"]]
            fig.add_trace(
                go.Bar(
                    name=m["model"],
                    x=[s["slice"] for s in m["slices"]],
                    y=[0 if c is None else c for c in changes],
                    hovertemplate=f"{m['model']}, %{{x}}: %{{y:+.4f}}<extra></extra>",
                )
            )
        fig.update_layout(
            template=figure_template(),
            barmode="group",
            showlegend=len(data["models"]) > 1,
            title={"text": f"{metric}: new labels − old labels, per slice"},
            xaxis={"type": "category"},
        )
        parts.append(figure_html(fig, dom_id("relabel", metric), 320))
    return "".join(parts)


def compare_section(data: dict[str, Any]) -> str:
    """Models on the old and new labels as a report section, from
    ``RelabelComparison.to_dict()``: the label change, a bar chart per metric, the table."""
    rows = [
        [
            m["model"],
            s["slice"],
            f"{s['rows_new']:,}",
            metric,
            _num(s["metrics"][metric]["old"]),
            _num(s["metrics"][metric]["new"]),
            _num(s["metrics"][metric]["difference"], signed=True),
        ]
        for m in data["models"]
        for s in m["slices"]
        for metric in data["metrics"]
    ]
    return (
        f"<p>{escape(data['summary'])}</p>"
        f"<p class='muted'>{escape(_versions(data))}</p>"
        f"{_compare_figure(data)}"
        f"{_html_table(COMPARE_HEADER, rows)}" + _notes(data["warnings"])
    )


def compare_html(report: RelabelComparison, *, self_contained: bool = False) -> str:
    """A standalone page around ``compare_section`` (plotly.js beside it, or inside)."""
    from assay.report._page import standalone

    return standalone(
        "Models on the old and new labels",
        None,
        compare_section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )
