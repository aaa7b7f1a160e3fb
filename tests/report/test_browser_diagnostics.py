"""The diagnostics' own HTML pages (``assay drift|fairness|importance|staleness --html``)
in a real browser, on real ACS rows and a real model: no console error, nothing fetched
from the network, no table wider than a narrow window, and figures that have data.

``ASSAY_SCREENSHOTS=DIR`` keeps the screenshots, to look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from test_browser import browser, open_report, screenshot

import assay
from assay.diagnostics.drift import drift
from assay.diagnostics.fairness import fairness
from assay.diagnostics.importance import importance
from assay.diagnostics.staleness import staleness
from assay.report import fairness as fairness_page
from assay.report import importance as importance_page
from assay.report import render_drift, write_report
from assay.report import staleness as staleness_page
from tests_helpers import year

__all__ = ["browser"]  # the Chromium fixture, shared with test_browser.py

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
NARROW = 700  # a laptop's half screen: the tables must fit or scroll in their own box
ROWS = 3_000  # people per year: enough for every group, quick to score


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """The four pages in one artifact folder (plotly.js beside them), from a logistic
    regression trained on 2015 and judged on later years."""
    folder = tmp_path_factory.mktemp("diagnostics")
    years = {
        y: year(acs, y).to_pandas().sample(2 * ROWS, random_state=y) for y in (2015, 2016, 2018)
    }
    train = years[2015].iloc[ROWS:]
    tables = {
        y: pa.Table.from_pandas(rows.iloc[:ROWS], preserve_index=False) for y, rows in years.items()
    }
    with assay.init_store(folder / ".assay") as store:
        model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train.employed)
        assay.register_model(
            "employment", model, sample=train[FEATURES].head(50), aliases=["c"], store=store
        )
        ref = "employment@c"
        write_report(
            render_drift(drift(tables[2015], tables[2018], store=store)), folder / "drift.html"
        )
        report = fairness(
            ref, tables[2018], sensitive=["SEX", "RAC1P"], label="employed",
            bootstrap={"samples": 100}, store=store,
        )  # fmt: skip
        write_report(fairness_page.html(report), folder / "fairness.html")
        report = importance(
            ref, tables[2018], label="employed", repeats=2, slices=["SEX = 2"], store=store
        )
        write_report(importance_page.html(report), folder / "importance.html")
        report = staleness(
            ref, list(tables.values()), metric="accuracy", min=0.99, label="employed",
            names=[str(y) for y in tables],
            bootstrap={"samples": 100}, store=store,
        )  # fmt: skip
        write_report(staleness_page.html(report), folder / "staleness.html")
    return folder


def look(browser: Any, pages: Path, name: str) -> Any:
    """The page opened at a narrow width, after its plots (if any) are drawn; it must
    log no error, fetch nothing from the network and not scroll sideways."""
    # Opened at that width: a plot resized after drawing follows only when plotly's
    # debounced resize handler has run, which a test must not wait for by the clock.
    opened = open_report(browser, pages / f"{name}.html", width=NARROW)
    opened.page.wait_for_function(
        "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
        timeout=30_000,
    )
    screenshot(opened, f"diagnostics-{name}")
    assert opened.errors == [], name
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    width = opened.page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW, f"{name}: the page is {width}px wide in a {NARROW}px window"
    return opened


def test_the_drift_page_draws_a_readable_bar_per_column(browser: Any, pages: Path) -> None:
    opened = look(browser, pages, "drift")
    columns = opened.count("table.columns tr.column")
    assert columns == opened.count(".plotly-graph-div .bars .point") > 5
    # The key column drifts by a factor of ~100; the axis stops at 3 × the threshold so
    # the other bars stay visible, and the long bar says its score.
    widths = opened.page.eval_on_selector_all(
        ".bars .point path", "ps => ps.map(p => p.getBoundingClientRect().width)"
    )
    assert sum(w > 3 for w in widths) > columns // 2, widths
    assert "→" in opened.page.inner_text(".plotly-graph-div")
    opened.page.context.close()


def test_the_staleness_page_draws_the_line_band_and_threshold(browser: Any, pages: Path) -> None:
    opened = look(browser, pages, "staleness")
    div = ".plotly-graph-div"
    assert opened.count(f"{div} .scatterlayer .trace:last-child .point") == 3  # one per year
    assert opened.count(f"{div} .js-fill") >= 1  # the interval band
    assert "min 0.99" in opened.page.inner_text(div)  # the threshold line's label
    assert opened.count(f"{div} .legend .traces") == 2  # metric and interval
    assert opened.count("tr.bad") == 3  # every year is below 0.99
    assert "FAILED" in opened.page.inner_text("h1")
    opened.page.context.close()


def test_the_fairness_page_draws_each_groups_rates(browser: Any, pages: Path) -> None:
    opened = look(browser, pages, "fairness")
    div = ".plotly-graph-div"
    # The intersection's groups: a row each in the figure, three rates (dots) per row.
    groups = opened.page.eval_on_selector_all(
        "table tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    intersection = [g for g in groups if "SEX=" in g and "RAC1P=" in g]
    assert len(intersection) > 5
    assert opened.count(f"{div} .scatterlayer .point") == 3 * len(intersection)
    assert opened.count(f"{div} .legend .traces") == 3
    assert "passed" in opened.page.inner_text("h1")
    opened.page.context.close()


def test_the_importance_page_draws_a_bar_per_column(browser: Any, pages: Path) -> None:
    opened = look(browser, pages, "importance")
    assert opened.count(".plotly-graph-div .bars .point") == len(FEATURES)
    assert opened.count("table tr") == len(FEATURES) + 1  # a row per column, the header
    opened.page.context.close()
