"""The HTML reports in a real browser, offline, opened from disk as a CI artifact is.

Playwright drives the machine's own Chromium (``executable_path``): no browser is
downloaded. Without Chromium the tests are skipped, except in CI (``CI=true``), where
they fail. ``ASSAY_SCREENSHOTS=DIR`` keeps the screenshots, to look at them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_evaluation_report import make_evaluation

from assay.checks import check
from assay.report import render_check, render_evaluation, write_report
from chromium import launched

PLOTS = 10  # the evaluation fixture: 2 datasets × (2 metrics, ROC, calibration, confusion)


@dataclass
class Opened:
    """A report as the browser showed it."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def count(self, selector: str) -> int:
        return int(self.page.eval_on_selector_all(selector, "found => found.length"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched("open the reports in") as opened:
        yield opened


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact folder: an evaluation report with plotly.js beside it, a
    self-contained one, a check report; and an evaluation report copied alone."""
    folder = tmp_path_factory.mktemp("artifact")
    evaluation = make_evaluation(failing=True)
    write_report(render_evaluation(evaluation), folder / "eval.html")
    write_report(render_evaluation(evaluation, self_contained=True), folder / "alone" / "eval.html")
    table = pa.table({"AGEP": [20, 35, 70, 90]})
    suite = {"suite": "ages", "expectations": [{"between": {"column": "AGEP", "max": 80}}]}
    write_report(render_check(check(suite, table)), folder / "check.html")
    copied = folder / "copied"
    copied.mkdir()
    shutil.copy(folder / "eval.html", copied / "eval.html")
    return folder


def open_report(browser: Any, path: Path, width: int = 1320) -> Opened:
    context = browser.new_context(offline=True, viewport={"width": width, "height": 900})
    opened = Opened(context.new_page())
    opened.page.on("pageerror", lambda e: opened.errors.append(str(e)))
    opened.page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.page.on("request", lambda r: opened.requests.append(r.url))
    opened.page.goto(path.as_uri(), wait_until="load")
    return opened


def screenshot(opened: Opened, name: str) -> None:
    keep = os.environ.get("ASSAY_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        opened.page.screenshot(path=str(Path(keep) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("name", ["eval.html", "alone/eval.html"])
def test_every_plot_renders_offline(browser: Any, reports: Path, name: str) -> None:
    opened = open_report(browser, reports / name)
    # Each figure div gets plotly's SVG once plotly.js has run (the compressed copy is
    # unpacked asynchronously, so wait for it).
    drawn = ".plotly-graph-div .main-svg"
    opened.page.wait_for_function(
        f"document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= {PLOTS}",
        timeout=30_000,
    )
    screenshot(opened, name.replace("/", "-").removesuffix(".html"))
    assert opened.count(".plotly-graph-div") == PLOTS
    assert opened.count(".plotly-graph-div:has(.main-svg)") == PLOTS
    assert opened.count(f"{drawn} .bars .point") > 0  # bars, not empty axes
    assert opened.count(f"{drawn} .heatmaplayer image") == 4  # 2 datasets × 2 models
    assert opened.errors == []
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    opened.page.context.close()


def test_the_check_report_renders(browser: Any, reports: Path) -> None:
    opened = open_report(browser, reports / "check.html")
    screenshot(opened, "check")
    assert opened.page.inner_text(".verdict .word") == "FAILED"
    assert opened.count("table.results tr.fail") == 1
    assert opened.errors == [] and len(opened.requests) == 1
    opened.page.context.close()


def test_a_report_copied_without_plotly_js_says_what_to_do(browser: Any, reports: Path) -> None:
    opened = open_report(browser, reports / "copied" / "eval.html")
    screenshot(opened, "copied")
    assert opened.count(".plotly-graph-div .main-svg") == 0
    text = opened.page.inner_text("#fig-test-accuracy")
    assert text.startswith("This plot needs plotly-") and "--self-contained" in text
    # The one error is the missing file itself, not one "Plotly is not defined" per plot.
    assert [e for e in opened.errors if "ERR_FILE_NOT_FOUND" not in e] == []
    opened.page.context.close()
