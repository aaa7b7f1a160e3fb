"""The label-issues and relabel renderers: the terminal in 80 columns, Markdown, and the
HTML pages in a real browser, offline (see test_browser.py), on results built from the
cleanlab fixture's probabilities."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from test_browser import browser, open_report, screenshot

from assay.labels.issues import (
    LabelIssue,
    LabelIssues,
    confident_joint,
    confident_thresholds,
    find_issues,
    label_quality,
)
from assay.labels.relabel import ModelScores, RelabelComparison, SliceScores
from assay.report import label_issues as page
from assay.report import write_report

__all__ = ["browser"]  # the fixture, shared with the other browser tests

FIXTURE = Path(__file__).parents[1] / "labels" / "fixtures" / "cleanlab_issues.json"
NARROW = 700


@pytest.fixture(scope="module")
def issues() -> LabelIssues:
    """Issues on the fixture's three-class case, the rows keyed by their position."""
    case = json.loads(FIXTURE.read_text())["cases"]["three"]
    y, p = np.array(case["labels"]), np.array(case["proba"])
    flagged = np.flatnonzero(find_issues(y, p))
    quality = label_quality(y, p)
    ranked = flagged[np.argsort(quality[flagged], kind="stable")]
    return LabelIssues(
        dataset="votes",
        version="ab" * 32,
        split="test",
        label="tag",
        key=("row",),
        rows=len(y),
        source="stored probabilities",
        filter_by="prune_by_noise_rate",
        rank_by="self_confidence",
        classes=("a", "b", "c"),
        thresholds=tuple(confident_thresholds(y, p).tolist()),
        joint=tuple(tuple(r) for r in confident_joint(y, p).tolist()),
        issues=tuple(
            LabelIssue({"row": int(i)}, "abc"[y[i]], "abc"[p[i].argmax()], float(quality[i]))
            for i in ranked
        ),
        max_rate=0.1,
    )


def comparison() -> RelabelComparison:
    def side(old: float, new: float) -> tuple[dict[str, float | None], dict[str, float | None]]:
        return {"accuracy": old}, {"accuracy": new}

    models = tuple(
        ModelScores(
            f"employment@{v}",
            (
                SliceScores("overall", 500, 500, *side(0.70 + v / 100, 0.72 + v / 100)),
                SliceScores("women", 260, 260, *side(0.68, 0.71)),
            ),
        )
        for v in (1, 2)
    )
    versions = {"dataset": "employment", "split": "test", "rows": 500}
    return RelabelComparison(
        old={**versions, "version": "a" * 64},
        new={**versions, "version": "b" * 64},
        label="employed",
        metrics=("accuracy",),
        common=500,
        changed=12,
        models=models,
    )


def test_terminal_and_markdown(issues: LabelIssues) -> None:
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    page.issues_terminal(issues, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "label issues: FAILED" in text and "above_max_rate" in text
    assert f"… {len(issues.issues) - page.SHOWN:,} more" in text
    first = issues.issues[0]
    assert f"   1  {first.key['row']}" in text
    md = page.issues_markdown(issues)
    assert md.startswith("### ❌ Label issues: failed")
    assert md.count("\n| ") == page.SHOWN + 2  # the header, its rule and SHOWN issues
    report = comparison()
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    page.compare_terminal(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "12 of 500 labels changed; accuracy employment@1 +0.0200" in text
    assert "+0.0300" in text  # women
    assert "| employment@2 | women | 260 | accuracy | 0.6800 | 0.7100 | +0.0300 |" in (
        page.compare_markdown(report)
    )


def test_pages_draw_in_a_browser(browser: Any, issues: LabelIssues, tmp_path: Path) -> None:
    write_report(page.issues_html(issues), tmp_path / "issues.html")
    write_report(page.compare_html(comparison()), tmp_path / "compare.html")
    for name, cells, bars in [("issues", 9, 0), ("compare", 0, 4)]:
        opened = open_report(browser, tmp_path / f"{name}.html", width=NARROW)
        opened.page.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
            timeout=30_000,
        )
        screenshot(opened, f"labels-{name}")
        assert opened.errors == [], name
        assert all(url.startswith("file://") for url in opened.requests), opened.requests
        width = opened.page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW, f"{name}: {width}px wide in a {NARROW}px window"
        if cells:  # the heat map: one text per cell of the 3 × 3 joint
            assert opened.count(".plotly-graph-div .heatmap-label") == cells
            assert opened.count("table tr") == len(issues.issues) + 1
        if bars:  # two models × two slices
            assert opened.count(".plotly-graph-div .bars .point") == bars
        opened.page.context.close()
