"""A behaviour report for people: the terminal (80 columns), Markdown, a standalone HTML
page, and ``section``: the HTML fragment the evaluation report embeds.

Every renderer reads ``BehaviourReport.to_dict()`` (plain data), so a recorded
evaluation draws the same thing as the live report.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table

from assay.report.markdown import table

if TYPE_CHECKING:
    from rich.console import Console

    from assay.diagnostics.behaviour import BehaviourReport

__all__ = ["html", "markdown", "section", "terminal"]

HEADER = ["test", "kind", "what", "cases:", "failures:", "rate:", "max:", "verdict"]
EXAMPLE_HEADER = ["row", "changed", "answer", "score"]
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}"
    "table{border-collapse:collapse;margin:.6em 0}"
    "td,th{border:1px solid #d0d7de;padding:.2em .6em;text-align:left}"
    "td.num{text-align:right}.fail{color:#cf222e}.pass{color:#1a7f37}"
)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _short(value: Any, width: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdict(t: Mapping[str, Any]) -> str:
    if t["passed"]:
        return "pass"
    return "no cases" if t["code"] == "no_cases" else "FAIL"


def _rows(data: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [
            t["name"],
            t["kind"].upper(),
            t["description"],
            f"{t['cases']:,}",
            f"{t['failures']:,}",
            _rate(t["failure_rate"]),
            _rate(t["max_failure_rate"]),
            _verdict(t),
        ]
        for t in data["tests"]
    ]


def _score(pair: list[float | None]) -> str:
    if all(v is None for v in pair):
        return "—"
    return " → ".join("—" if v is None else f"{v:.3f}" for v in pair)


def _examples(t: Mapping[str, Any]) -> list[list[str]]:
    """A failing test's worst examples; for an mft test the answer is expected → got."""
    return [
        [
            ", ".join(f"{k}={v}" for k, v in e["row"].items()),
            "; ".join(f"{c}: {_short(a)} → {_short(b)}" for c, (a, b) in e["changes"].items())
            or "—",
            " → ".join(str(v) for v in e["answer"]),
            _score(e["score"]),
        ]
        for e in t["examples"]
    ]


def _notes(data: Mapping[str, Any]) -> list[str]:
    out = [f"{t['name']}: {n}" for t in data["tests"] for n in t["notes"]]
    return out + [f"{b['code']}: {b['message']}" for b in data["breaches"]]


def terminal(report: BehaviourReport, console: Console, html_path: str | None = None) -> None:
    """The verdict, a line per test, the worst examples of the failed ones."""
    data = report.to_dict()
    word = "passed" if data["passed"] else "FAILED"
    console.print(f"behaviour of {data['model']}: {word}", markup=False)
    console.print(data["summary"], overflow="fold", markup=False)
    grid = Table(box=None, pad_edge=False)
    for h in HEADER:
        grid.add_column(
            h.rstrip(":"), justify="right" if h.endswith(":") else "left", overflow="fold"
        )
    for row in _rows(data):
        grid.add_row(*(escape_markup(str(c)) for c in row))
    console.print(grid)
    for t in data["tests"]:
        if t["examples"]:
            console.print(f"worst cases of {t['name']}:", markup=False)
            for row in _examples(t):
                console.print("  " + " | ".join(row), overflow="fold", markup=False)
    for note in _notes(data):
        console.print(note, overflow="fold", markup=False)
    if html_path:
        console.print(f"report: {html_path}", overflow="fold", markup=False)


def escape_markup(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def markdown(report: BehaviourReport) -> str:
    """A heading with the verdict, the tests, and the worst cases of the failed ones."""
    data = report.to_dict()
    icon = "✅" if data["passed"] else "❌"
    word = "passed" if data["passed"] else "failed"
    parts = [
        f"### {icon} Behaviour of {data['model']}: {word}",
        data["summary"],
        table(HEADER, _rows(data)),
    ]
    for t in data["tests"]:
        if t["examples"]:
            parts += [f"Worst cases of **{t['name']}**:", table(EXAMPLE_HEADER, _examples(t))]
    parts += [f"- {n}" for n in _notes(data)]
    return "\n\n".join(parts) + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h.rstrip(':'))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{escape(str(c))}</td>"
            if h.endswith(":")
            else f"<td>{escape(str(c))}</td>"
            for h, c in zip(header, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(data: Mapping[str, Any]) -> str:
    """The tests as an HTML ``<section>`` (from ``to_dict()`` output only): a table with
    each test's verdict and failure rate, then the worst cases of each failed test."""
    verdict = "passed" if data["passed"] else "failed"
    parts = [
        "<section class='behaviour'>",
        f"<h2 id='diagnostic-behaviour'>Behaviour tests: "
        f"<span class='{'pass' if data['passed'] else 'fail'}'>"
        f"{verdict}</span></h2>",
        f"<p>{escape(data['summary'])} (model {escape(data['model'])})</p>",
        _table(HEADER, _rows(data)),
    ]
    for t in data["tests"]:
        if t["examples"]:
            parts += [
                f"<h3>Worst cases of {escape(t['name'])}</h3>",
                _table(EXAMPLE_HEADER, _examples(t)),
            ]
    if notes := _notes(data):
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def html(report: BehaviourReport) -> str:
    """A standalone page around ``section`` (inline styles, nothing fetched)."""
    data = report.to_dict()
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Behaviour of {escape(data['model'])}</title><style>{STYLE}</style></head>"
        f"<body>{section(data)}</body></html>\n"
    )
