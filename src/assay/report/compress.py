"""The compression trade-off for people: the terminal (80 columns), Markdown, and HTML:
one table (size, parameters, latency, throughput, the metrics per dataset × slice) and
one plot (latency against the metric, each model a point sized by its bytes).

``section`` and ``markdown`` take plain data (``TradeoffReport.to_dict()``, or the
``efficiency`` diagnostic's report, which has no metrics), so the evaluation report
draws a recorded evaluation's section the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.compress.report import TradeoffReport

__all__ = ["figure", "html", "markdown", "section", "terminal"]

COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#656d76"]
OVERALL = "all rows"
SPEED = ["size:", "params:", "p50 ms:", "p99 ms:", "rows/s:"]


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _num(value: Any, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _speed(m: Mapping[str, Any]) -> list[str]:
    return [
        _size(m["size_bytes"]),
        "—" if m["params"] is None else f"{m['params']:,}",
        _num(m["latency_p50_ms"], 3),
        _num(m["latency_p99_ms"], 3),
        f"{m['throughput']:,.0f}",
    ]


def _metric_rows(data: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per dataset × slice × metric, one column per model."""
    models = list(data["models"])
    header = ["dataset", "slice", "metric", *[f"{m['role']}:" for m in models]]
    rows = []
    first = models[0]["metrics"] if models else {}
    for dataset, slices in first.items():
        for slice_name, values in slices.items():
            for metric in values:
                rows.append(
                    [dataset, slice_name, metric]
                    + [
                        _num(m["metrics"].get(dataset, {}).get(slice_name, {}).get(metric))
                        for m in models
                    ]
                )
    return header, rows


def _headline(data: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(dataset, slice, metric) the plot's vertical axis shows: the first metric on every
    row of the first dataset; None when there are no metrics."""
    models = list(data["models"])
    for dataset, slices in (models[0]["metrics"] if models else {}).items():
        values: dict[str, Any] = slices.get(OVERALL) or next(iter(slices.values()), {})
        slice_name = OVERALL if OVERALL in slices else next(iter(slices), OVERALL)
        for metric in values:
            return dataset, slice_name, metric
    return None


def _stated(data: Mapping[str, Any]) -> str:
    """How the numbers were measured, in one sentence."""
    m = data["measured"]
    where = f" on rows of {m['rows_from']}" if m.get("rows_from") else ""
    return (
        f"Measured on this CPU{where} with {m['threads']} thread(s) ({m['provider']}): "
        f"latency over {m['latency_calls']} single-row calls after a warm-up, throughput "
        f"over {m['throughput_batches']} batches of {m['batch']} rows; size is the stored "
        "model object's bytes."
    )


def terminal(report: TradeoffReport, console: Console, html_path: str | None = None) -> None:
    """The summary, the cost table and the metrics table; fits 80 columns."""
    data = report.to_dict()
    console.print(data["summary"], overflow="fold", markup=False)
    cost = Table(box=None, pad_edge=False)
    for h in ["model", *SPEED]:
        cost.add_column(h.rstrip(":"), justify="right" if h != "model" else "left",
                        overflow="fold", max_width=24 if h == "model" else None)  # fmt: skip
    for m in data["models"]:
        cost.add_row(f"{m['role']} {m['ref']}", *_speed(m))
    console.print(cost)
    header, rows = _metric_rows(data)
    if rows:
        out = Table(box=None, pad_edge=False)
        for h in header:
            out.add_column(h.rstrip(":"), justify="right" if h.endswith(":") else "left",
                           overflow="fold", max_width=22)  # fmt: skip
        for row in rows:
            out.add_row(*row)
        console.print(out)
    console.print(_stated(data), overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def markdown(data: Mapping[str, Any]) -> str:
    """The summary, the cost table and the metrics table in Markdown."""
    parts = [
        "### Compression trade-off",
        data.get("summary") or "",
        table(
            ["model", *SPEED], [[f"{m['role']} `{m['ref']}`", *_speed(m)] for m in data["models"]]
        ),
    ]
    header, rows = _metric_rows(data)
    if rows:
        parts.append(table(header, rows))
    parts.append(_stated(data))
    return "\n\n".join(parts) + "\n"


def figure(data: Mapping[str, Any]) -> str:
    """Each model as one point: p50 latency across, the headline metric (or, without
    metrics, the size) up, the marker's area in proportion to the model's bytes."""
    from assay.report._evaluation import dom_id, figure_html, figure_template, graph_objects

    go = graph_objects()
    models = list(data["models"])
    headline = _headline(data)
    title = "Latency against quality; the marker's area is the model's size"
    if headline is None:
        scale, unit = (1e6, "MB") if max(m["size_bytes"] for m in models) >= 1e6 else (1e3, "kB")
        y = [m["size_bytes"] / scale for m in models]
        y_title = f"size ({unit})"
        title = "Latency against size"
    else:
        dataset, slice_name, metric = headline
        y = [m["metrics"].get(dataset, {}).get(slice_name, {}).get(metric) for m in models]
        y_title = f"{metric} ({dataset}, {slice_name})"
    biggest = max((m["size_bytes"] for m in models), default=0) or 1
    fig = go.Figure(
        go.Scatter(
            x=[m["latency_p50_ms"] for m in models], y=y, mode="markers+text",
            text=[m["ref"] for m in models], textposition="top center",
            marker={"size": [12 + 28 * (m["size_bytes"] / biggest) ** 0.5 for m in models],
                    "color": [COLORS[i % len(COLORS)] for i in range(len(models))],
                    "opacity": 0.8, "line": {"width": 1, "color": "#1f2328"}},
            customdata=[[m["role"], _size(m["size_bytes"]), m["latency_p99_ms"]] for m in models],
            hovertemplate="%{text} (%{customdata[0]})<br>p50 %{x:.3f} ms, p99 "
            "%{customdata[2]:.3f} ms<br>%{customdata[1]}<br>" + y_title + " %{y:.4f}"
            "<extra></extra>",
            showlegend=False,
        )
    )  # fmt: skip
    fig.update_layout(
        template=figure_template(),
        title={"text": title},
        xaxis={"title": {"text": "p50 latency, one row (ms)"}, "rangemode": "tozero"},
        yaxis={"title": {"text": y_title}},
    )
    return figure_html(fig, dom_id("compress", *[m["ref"] for m in models]), 360)


def section(data: Mapping[str, Any]) -> str:
    """The trade-off section of a page: a heading, the plot, the two tables, how it
    was measured."""

    def html_table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(
            f"<th class='{'num' if h.endswith(':') else ''}'>{escape(h.rstrip(':'))}</th>"
            for h in header
        )
        kinds = ["num" if h.endswith(":") else "" for h in header]
        body = "".join(
            "<tr>"
            + "".join(f"<td class='{k}'>{escape(c)}</td>" for k, c in zip(kinds, row, strict=True))
            + "</tr>"
            for row in rows
        )
        return (
            f"<div class='tablewrap'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )

    cost = html_table(
        ["model", "role", *SPEED],
        [[m["ref"], m["role"], *_speed(m)] for m in data["models"]],
    )
    header, rows = _metric_rows(data)
    metrics = (
        html_table(header, rows)
        if rows
        else "<p class='muted'>The models' metrics are in the evaluation's own tables.</p>"
    )
    return (
        "<section class='diagnostic compress'>"
        "<h2 id='diagnostic-efficiency'>Size, speed and quality</h2>"
        f"<p>{escape(data.get('summary') or '')}</p>"
        f"<div class='fig'>{figure(data)}</div>{cost}{metrics}"
        f"<p class='muted'>{escape(_stated(data))}</p></section>"
    )


def html(report: TradeoffReport, *, self_contained: bool = False) -> str:
    """A standalone page around ``section``; nothing is fetched."""
    from assay.report._page import standalone

    return standalone(
        f"Compression trade-off of {report.model('compressed')['ref']}",
        None,
        section(report.to_dict()),
        plots=True,
        self_contained=self_contained,
    )
