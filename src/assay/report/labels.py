"""Aggregated labels and annotator trust for people: the terminal (80 columns),
Markdown, and an HTML page with a Plotly figure (trust per annotator against
``--min-trust``; items per label, and items by confidence).

Every renderer takes the result's ``to_dict()`` (plain data), so the CLI and a later
evaluation section draw the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from assay.report.markdown import table

__all__ = [
    "aggregation_html",
    "aggregation_markdown",
    "aggregation_terminal",
    "annotators_html",
    "annotators_markdown",
    "annotators_section",
    "annotators_terminal",
]

OK, BAD, MUTED = "#1a7f37", "#cf222e", "#656d76"
ANNOTATOR_HEADER = ["annotator", "items:", "compared:", "accuracy:", "trust:", "flagged"]
LABEL_HEADER = ["label", "items:", "mean confidence:"]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _annotator_rows(data: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            str(a["annotator"]),
            f"{a['items']:,}",
            f"{a['compared']:,}",
            _num(a["accuracy"]),
            _num(a["trust"]),
            "below min trust" if a["flagged"] else "",
        ]
        for a in data["annotators"]
    ]


def _agreement(data: Mapping[str, Any]) -> str:
    kappa = _num(data["fleiss_kappa"])
    covered = (
        f" over {data['fleiss_items']:,} items with the same number of votes"
        if data["fleiss_items"] != data["items"]
        else ""
    )
    return (
        f"Krippendorff's alpha ({data['level']}) {_num(data['krippendorff_alpha'])}; "
        f"Fleiss' kappa {kappa}{covered}"
    )


def _label_rows(data: Mapping[str, Any]) -> list[list[str]]:
    """Per label: how many items got it and their mean confidence (from the labels in
    the JSON, or the counts the result carries)."""
    return [[str(c["label"]), f"{c['items']:,}", _num(c["confidence"])] for c in data["by_label"]]


def annotators_terminal(
    data: Mapping[str, Any], console: Console, html_path: str | None = None
) -> None:
    """The verdict, the agreement, then one line per annotator; fits 80 columns."""
    if data["min_trust"] is not None:
        word = "[green]passed[/]" if data["passed"] else "[bold red]FAILED[/]"
        console.print(f"annotators: {word}")
    console.print(rich_escape(data["summary"]), overflow="fold")
    console.print(rich_escape(_agreement(data)), overflow="fold")
    out = Table(box=None, pad_edge=False)
    for h in ANNOTATOR_HEADER:
        out.add_column(
            h.rstrip(":"),
            justify="right" if h.endswith(":") else "left",
            max_width=24,
            overflow="fold",
        )
    for row in _annotator_rows(data):
        out.add_row(*(rich_escape(c) for c in row), style="red" if row[-1] else None)
    console.print(out)
    console.print(
        "accuracy: against the other annotators' majority; trust: Dawid–Skene's P(label is right)",
        style="dim",
        overflow="fold",
    )
    if html_path:
        console.print(f"report: {rich_escape(html_path)}", overflow="fold")


def annotators_markdown(data: Mapping[str, Any]) -> str:
    """A heading with the verdict, the agreement and the annotators as a table."""
    icon = "✅" if data["passed"] else "❌"
    word = "passed" if data["passed"] else "failed"
    return (
        f"### {icon} Annotators: {word}\n\n{data['summary']}\n\n{_agreement(data)}\n\n"
        f"{table(ANNOTATOR_HEADER, _annotator_rows(data))}\n"
    )


def _trust_figure(data: Mapping[str, Any]) -> str:
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    rows = list(data["annotators"])
    fig = go.Figure(
        go.Bar(
            y=[str(a["annotator"]) for a in rows],
            x=[a["trust"] for a in rows],
            orientation="h",
            marker={"color": [BAD if a["flagged"] else OK for a in rows]},
            customdata=[[_num(a["accuracy"]), a["items"]] for a in rows],
            hovertemplate="annotator %{y}: trust %{x:.3f}, accuracy %{customdata[0]}, "
            "%{customdata[1]} items<extra></extra>",
        )
    )
    if data["min_trust"] is not None:
        fig.add_vline(x=data["min_trust"], line={"color": MUTED, "width": 1, "dash": "dash"})
    fig.update_layout(
        template=figure_template(),
        title={"text": "trust per annotator (Dawid–Skene P(label is right))"},
        xaxis={"range": [0, 1]},
        yaxis={"autorange": "reversed", "type": "category"},
        showlegend=False,
    )
    return str(figure_html(fig, dom_id("annotators"), 140 + 24 * len(rows)))


def _labels_figure(data: Mapping[str, Any]) -> str:
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    rows = list(data["by_label"])
    fig = go.Figure(
        go.Bar(
            x=[str(c["label"]) for c in rows],
            y=[c["items"] for c in rows],
            marker={"color": [OK if (c["confidence"] or 0) >= 0.8 else MUTED for c in rows]},
            customdata=[_num(c["confidence"]) for c in rows],
            hovertemplate="label %{x}: %{y} items, mean confidence %{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        template=figure_template(),
        title={"text": "items per aggregated label (green: mean confidence ≥ 0.8)"},
        xaxis={"type": "category"},
        showlegend=False,
    )
    return str(figure_html(fig, dom_id("labels"), 320))


def _confidence_figure(data: Mapping[str, Any]) -> str:
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    bins = list(data["confidence_histogram"])
    fig = go.Figure(
        go.Bar(
            x=[(b["from"] + b["to"]) / 2 for b in bins],
            y=[b["items"] for b in bins],
            width=[b["to"] - b["from"] for b in bins],
            marker={"color": [OK if b["from"] >= 0.8 else MUTED for b in bins]},
            customdata=[[b["from"], b["to"]] for b in bins],
            hovertemplate="confidence %{customdata[0]:.2f}–%{customdata[1]:.2f}: "
            "%{y} items<extra></extra>",
        )
    )
    fig.update_layout(
        template=figure_template(),
        title={"text": "items by confidence (the posterior of the chosen label)"},
        xaxis={"range": [0, 1]},
        showlegend=False,
    )
    return str(figure_html(fig, dom_id("confidence"), 300))


def _page(
    title: str, verdict_ok: bool, verdict: str, summary: str, body: str, *, self_contained: bool
) -> str:
    from importlib.metadata import PackageNotFoundError, version

    from assay.report._plotly import beside, inline

    script = inline() if self_contained else beside()
    try:
        number = version("assay")
    except PackageNotFoundError:  # a source tree that was never installed
        number = "unknown"
    state = "ok" if verdict_ok else "bad"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>"
        "body{font:14px/1.45 system-ui,sans-serif;color:#1f2328;margin:0}"
        "main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
        ".verdict{padding:18px 22px;border-radius:10px;border:1px solid #d0d7de}"
        ".verdict.ok{background:#dafbe1}.verdict.bad{background:#ffebe9}"
        ".verdict b{font-size:22px}"
        "table{border-collapse:collapse;width:100%;margin:1em 0}"
        "th{text-align:left;color:#656d76;border-bottom:2px solid #d0d7de;padding:6px 8px}"
        "td{border-bottom:1px solid #d0d7de;padding:6px 8px}"
        "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
        "tr.flagged td{color:#cf222e;font-weight:600}"
        f"footer{{margin-top:36px;color:#656d76;font-size:12px}}</style>{script}</head>"
        f"<body><main><section class='labels'><div class='verdict {state}'><b>{escape(verdict)}</b>"
        f"<p>{escape(summary)}</p></div>{body}</section>"
        f"<footer>assay {escape(number)}</footer></main></body></html>\n"
    )


def _html_table(header: list[str], rows: list[list[str]], flagged: list[bool] | None = None) -> str:
    head = "".join(
        f"<th class='{'num' if h.endswith(':') else ''}'>{escape(h.rstrip(':'))}</th>"
        for h in header
    )
    body = "".join(
        f"<tr class='{'flagged' if flagged and flagged[n] else ''}'>"
        + "".join(
            f"<td class='{'num' if header[i].endswith(':') else ''}'>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for n, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def annotators_section(data: Mapping[str, Any]) -> str:
    """Annotator trust as a section of the evaluation report: agreement, the trust bars
    and the table (flagged annotators in red)."""
    flagged = [a for a in data["annotators"] if a["flagged"]]
    return (
        f"<h2 id='diagnostic-annotators'>Annotators"
        f"<span class='sub'>{escape(data['summary'])}</span></h2>"
        f"<p>{escape(_agreement(data))}</p>{_trust_figure(data)}"
        + _html_table(
            ANNOTATOR_HEADER,
            _annotator_rows(data),
            [a["flagged"] for a in data["annotators"]],
        ).replace("class='flagged'", "class='bad'")
        + ("" if not flagged else f"<p class='notes'>{len(flagged)} below the minimum trust</p>")
    )


def annotators_html(data: Mapping[str, Any], *, self_contained: bool = False) -> str:
    """The page: the verdict, the trust bars against the minimum, and the table."""
    word = (
        "annotators"
        if data["min_trust"] is None
        else ("annotators: passed" if data["passed"] else "annotators: FAILED")
    )
    body = (
        f"<p>{escape(_agreement(data))}</p>{_trust_figure(data)}"
        + _html_table(
            ANNOTATOR_HEADER,
            _annotator_rows(data),
            [a["flagged"] for a in data["annotators"]],
        )
        + "<p style='color:#656d76'>Accuracy is agreement with the other annotators' "
        "majority on the same item (items where they tie are left out); trust is "
        "Dawid–Skene's probability that the annotator's label is the true one.</p>"
    )
    return _page(
        "assay labels annotators",
        data["passed"],
        word,
        data["summary"],
        body,
        self_contained=self_contained,
    )


def aggregation_terminal(
    data: Mapping[str, Any], console: Console, html_path: str | None = None
) -> None:
    """The summary, the labels' counts, and where the labels went."""
    console.print(rich_escape(data["summary"]), overflow="fold")
    out = Table(box=None, pad_edge=False)
    for h in LABEL_HEADER:
        out.add_column(
            h.rstrip(":"),
            justify="right" if h.endswith(":") else "left",
            max_width=24,
            overflow="fold",
        )
    for row in _label_rows(data):
        out.add_row(*(rich_escape(c) for c in row))
    console.print(out)
    if data.get("labels_file"):
        console.print(f"labels: {rich_escape(str(data['labels_file']))}", overflow="fold")
    if data.get("delta"):
        added, d = data["delta"], data["delta"]["delta"]
        what = "added" if added["created"] else "the same rows were there already"
        line = f"delta: {added['dataset']} #{d['number']} {d['name']} ({d['op']}, {d['rows']:,} rows; {what})"
        console.print(rich_escape(line), overflow="fold")
    if html_path:
        console.print(f"report: {rich_escape(html_path)}", overflow="fold")


def aggregation_markdown(data: Mapping[str, Any]) -> str:
    """A heading, the summary and the labels' counts as a table."""
    return (
        f"### Aggregated labels ({data['method']})\n\n{data['summary']}\n\n"
        f"{table(LABEL_HEADER, _label_rows(data))}\n"
    )


def aggregation_html(data: Mapping[str, Any], *, self_contained: bool = False) -> str:
    """The page: the summary, a bar per label and the table."""
    converged = bool(data["converged"])
    word = f"labels ({data['method']})" + ("" if converged else ": not converged")
    body = (
        _labels_figure(data)
        + _html_table(LABEL_HEADER, _label_rows(data))
        + _confidence_figure(data)
    )
    return _page(
        "assay labels aggregate",
        converged,
        word,
        data["summary"],
        body,
        self_contained=self_contained,
    )
