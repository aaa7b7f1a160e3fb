"""The A/B test report in a real browser, offline: every plot drawn, the intervals'
bands filled, no console error (see test_browser.py for how Chromium is driven)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_browser import browser, open_report, screenshot

from ab_simulation import simulate
from assay.experiments.analysis import analyze
from assay.report import render_experiment, write_report

__all__ = ["browser"]  # the fixture, shared with the other browser tests


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ab-report")
    folder = root / "artifact"
    for sim in simulate(root / "sim", acs):
        with_metric = analyze(sim.store, "lr-vs-lr", "converted", skew_sample=50)
        write_report(render_experiment(with_metric), folder / "ab.html")
        write_report(
            render_experiment(with_metric, self_contained=True), folder / "alone" / "ab.html"
        )
        write_report(render_experiment(analyze(sim.store, "lr-vs-lr")), folder / "counts.html")
    yield folder


@pytest.mark.parametrize("name", ["ab.html", "alone/ab.html"])
def test_the_report_draws_the_metric_the_difference_and_the_split(
    browser: Any, reports: Path, name: str
) -> None:
    opened = open_report(browser, reports / name)
    opened.page.wait_for_function(
        "document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= 3",
        timeout=30_000,
    )
    screenshot(opened, "ab-" + name.replace("/", "-").removesuffix(".html"))
    assert opened.count(".plotly-graph-div") == 3
    assert opened.count(".plotly-graph-div:has(.main-svg)") == 3
    # Two filled bands (fixed and sequential) on the difference plot, lines everywhere.
    assert opened.count("#fig-difference-treatment .scatterlayer .js-fill") == 2
    assert opened.count(".plotly-graph-div .scatterlayer .js-line") >= 5
    assert opened.page.inner_text(".verdict .word") in {"KEEP RUNNING", "DECIDED"}
    assert opened.count("table.arms tr.arm") == 2
    assert opened.count("table.comparisons tr.comparison") == 1
    assert opened.count("table.shadows tr.shadow") == 2
    assert opened.errors == []
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    opened.page.context.close()


def test_without_a_metric_the_report_shows_counts_only(browser: Any, reports: Path) -> None:
    opened = open_report(browser, reports / "counts.html")
    opened.page.wait_for_function(
        "document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= 1",
        timeout=30_000,
    )
    assert opened.count(".plotly-graph-div") == 1
    assert opened.page.inner_text(".verdict .word") == "NO METRIC"
    assert opened.count("table.comparisons") == 0
    assert opened.errors == []
    opened.page.context.close()
