"""The drift report: its scores, the terminal at 80 columns, and the HTML page in a real
browser, offline (see test_browser.py for how Chromium is driven)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console
from test_browser import browser, open_report, screenshot

from assay.diagnostics.drift import drift
from assay.report import drift as page
from assay.report import render_drift, write_report

__all__ = ["browser"]  # the fixture, shared with the other browser tests


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    ref = pa.table(
        {
            "age_in_years_of_the_person": rng.integers(16, 90, 600),
            "income": rng.normal(50, 10, 600),
            "state": rng.choice(["MA", "NY", "CT"], 600),
            "empty": pa.array([None] * 600, pa.float64()),
        }
    )
    cur = pa.table(
        {
            "age_in_years_of_the_person": rng.integers(16, 60, 500),
            "income": rng.normal(50, 10, 500),
            "state": rng.choice(["MA", "NY", "CT"], 500, p=[0.6, 0.2, 0.2]),
            "empty": rng.normal(0, 1, 500),
        }
    )
    return drift(ref, cur).to_dict()


def test_scores_put_the_threshold_at_one(data: dict[str, Any]) -> None:
    by = {c["column"]: c for c in data["columns"]}
    age = by["age_in_years_of_the_person"]
    assert age["stat"] == "ks" and age["drifted"]
    assert page.score(age) == pytest.approx(math.log(age["p_value"]) / math.log(0.05))
    assert page.score(age) > 1 and page.score(by["income"]) < 1  # type: ignore[operator]
    assert page.score({"statistic": 0.05, "p_value": None, "threshold": 0.1}) == 0.5
    assert page.score(by["empty"]) is None


def test_terminal_fits_80_columns(data: dict[str, Any]) -> None:
    out = io.StringIO()
    page.terminal(data, Console(file=out, width=80, no_color=True), "some/report.html")
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("DRIFT: 2 of 4 columns drifted")
    assert any(line.startswith("state ") and "chi2" in line for line in lines)
    assert any("no values" in line for line in lines)


def test_the_page_draws_a_bar_per_column(
    browser: Any, data: dict[str, Any], tmp_path: Path
) -> None:
    write_report(render_drift(data), tmp_path / "drift.html")
    opened = open_report(browser, tmp_path / "drift.html")
    opened.page.wait_for_function(
        "document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= 1",
        timeout=30_000,
    )
    screenshot(opened, "drift")
    assert opened.page.inner_text(".verdict .word") == "DRIFT"
    assert opened.count(".plotly-graph-div .main-svg .bars .point") == 4
    assert opened.count("table.columns tr.drifted") == 2
    assert opened.errors == []
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    opened.page.context.close()
