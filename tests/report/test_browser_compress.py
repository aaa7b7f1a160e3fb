"""The compression trade-off in a real browser: the page of ``assay compress report
--html`` and the efficiency section of an evaluation report, on a real ACS model and its
real int8 quantization. No console error, nothing fetched, one point per model.

``ASSAY_SCREENSHOTS=DIR`` keeps the screenshots, to look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_browser import browser, open_report, screenshot

from assay.compress.report import tradeoff
from assay.evaluation import evaluate
from assay.report import compress as compress_page
from assay.report import render_evaluation, write_report
from compress_models import SLICES, build

__all__ = ["browser"]  # the Chromium fixture, shared with test_browser.py

NARROW = 700  # a laptop's half screen: the tables must fit or scroll in their own box


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """The trade-off page and an evaluation report with the efficiency section, from a
    small MLP and its dynamic int8 quantization."""
    folder = tmp_path_factory.mktemp("compress-pages")
    project = build(folder, acs, rows=4_000, hidden=(64,))
    try:
        on = f"{project.recipe}:test"
        report = tradeoff(project.int8, on=[on], store=project.store)
        write_report(compress_page.html(report), folder / "tradeoff.html")
        evaluation = evaluate(
            {
                "models": {"candidate": project.int8, "baseline": project.parent},
                "datasets": {"test": {"recipe": str(project.recipe), "split": "test"}},
                "slices": list(SLICES),
                "metrics": ["accuracy"],
                "bootstrap": {"samples": 50},
                "diagnostics": {
                    "efficiency": {
                        "thresholds": [{"metric": "size_bytes", "vs": "baseline", "max_ratio": 0.5}]
                    }
                },
            },
            store=project.store,
            record=False,
        )
        write_report(render_evaluation(evaluation), folder / "evaluation.html")
    finally:
        project.store.close()
    return folder


def _look(browser: Any, path: Path, width: int) -> Any:
    opened = open_report(browser, path, width=width)
    opened.page.wait_for_function(
        "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
        timeout=30_000,
    )
    assert opened.errors == []
    assert all(url.startswith("file://") for url in opened.requests), opened.requests
    return opened


def test_the_tradeoff_page_draws_one_point_per_model(browser: Any, pages: Path) -> None:
    opened = _look(browser, pages / "tradeoff.html", NARROW)
    screenshot(opened, "compress-tradeoff")
    div = "#diagnostic-efficiency ~ .fig .plotly-graph-div"
    assert opened.count(div) == 1
    assert opened.count(f"{div} .scatterlayer .point") == 2  # the parent and the int8
    labels = opened.page.eval_on_selector(f"{div} .scatterlayer", "e => e.textContent")
    assert "employment@2" in labels and "employment@3" in labels  # fp32 export, its int8
    assert "accuracy" in opened.page.eval_on_selector(
        div, "e => e.textContent"
    )  # the vertical axis is the metric
    # The cost table (header + 2 models) and the metrics table (header + 4 slices × 4 metrics).
    tables = opened.page.eval_on_selector_all(
        ".compress table", "ts => ts.map(t => t.querySelectorAll('tr').length)"
    )
    assert tables == [3, 1 + (1 + len(SLICES)) * 4]
    width = opened.page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW, f"the page is {width}px wide in a {NARROW}px window"
    opened.page.context.close()


def test_the_evaluation_report_has_the_efficiency_section(browser: Any, pages: Path) -> None:
    opened = _look(browser, pages / "evaluation.html", 1320)
    screenshot(opened, "compress-evaluation")
    section = "section.compress"
    assert opened.count(section) == 1
    assert opened.count(f"{section} .plotly-graph-div .scatterlayer .point") == 2
    text = opened.page.inner_text(section)
    assert "candidate" in text and "baseline" in text and "1 thread(s)" in text
    opened.page.context.close()
