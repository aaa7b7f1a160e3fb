"""The behaviour and robustness pages: drawn from plain (JSON) data, 80 terminal
columns, and the robustness curves in a real browser, offline."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from test_browser import browser, open_report, screenshot

from assay.diagnostics.behaviour import BehaviourReport, Example, TestResult
from assay.diagnostics.robustness import Curve, Point, RobustnessReport
from assay.report import behaviour as behaviour_page
from assay.report import robustness as robustness_page
from assay.report import write_report

__all__ = ["browser"]  # the module-scoped Chromium of test_browser.py

STRENGTHS = (0.0, 0.1, 0.5)


def curves_report() -> RobustnessReport:
    """Two models under noise and missing values; the second cannot take nulls."""

    def curve(model: str, perturbation: str, values: list[float | None]) -> Curve:
        points = tuple(
            Point(s, v, None if v is None else values[0] - v, None if v is not None else "boom")
            for s, v in zip(STRENGTHS, values, strict=True)
        )
        return Curve(model, perturbation, ("AGEP", "SCHL"), points)

    return RobustnessReport(
        models=("employment@3", "employment@2"),
        metric="accuracy",
        higher_is_better=True,
        strengths=STRENGTHS,
        seed=0,
        rows=1000,
        curves=(
            curve("employment@3", "noise", [0.81, 0.80, 0.74]),
            curve("employment@3", "missing", [0.81, 0.79, 0.70]),
            curve("employment@2", "noise", [0.78, 0.78, 0.71]),
            curve("employment@2", "missing", [0.78, None, None]),
        ),
    )


def behaviour_report() -> BehaviourReport:
    wrong = TestResult(
        "wrong way", "dir", "SCHL +2 → decrease", 1000, 1000, 0.0,
        (Example({"id": 7}, {"SCHL": (16, 18)}, (0, 1), (0.46, 0.53)),),
    )  # fmt: skip
    holds = TestResult("more school", "dir", "SCHL +2 → not_decrease", 1000, 0, 0.0)
    return BehaviourReport("employment@3", 1000, (holds, wrong))


def test_robustness_section_from_plain_data() -> None:
    report = curves_report()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["drop_at_0.5"] == report.value("drop_at_0.5") == 0.81 - 0.70
    assert data["passed"] is False and data["reasons"] == ["model_failed"]
    section = robustness_page.section(data)
    assert section.startswith("<section") and section.count("<tr>") == 1 + 4
    assert "employment@2 under missing: boom" in section
    assert section.count("Plotly.newPlot") == 1


def test_terminal_fits_80_columns() -> None:
    for page, report in [(robustness_page, curves_report()), (behaviour_page, behaviour_report())]:
        out = io.StringIO()
        page.terminal(report, Console(file=out, width=80, no_color=True), "r.html")  # type: ignore[attr-defined]
        lines = out.getvalue().splitlines()
        assert max(len(line) for line in lines) <= 80
        assert lines[-1] == "report: r.html"
    markdown = behaviour_page.markdown(behaviour_report())
    assert (
        "| wrong way | DIR | SCHL +2 → decrease | 1,000 | 1,000 | 100.00% | 0.00% | FAIL |"
        in markdown
    )
    assert "| id=7 | SCHL: 16 → 18 | 0 → 1 | 0.460 → 0.530 |" in markdown


def test_the_curves_render_offline(browser: Any, tmp_path: Path) -> None:
    write_report(robustness_page.html(curves_report()), tmp_path / "robustness.html")
    opened = open_report(browser, tmp_path / "robustness.html")
    opened.page.wait_for_function(
        "document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= 1",
        timeout=30_000,
    )
    screenshot(opened, "robustness")
    # A line per model and perturbation, each in the legend.
    assert opened.count(".plotly-graph-div .scatterlayer .trace") == 4
    assert opened.count(".plotly-graph-div .legend .traces") == 4
    assert opened.errors == []
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    opened.page.context.close()
