"""The label pages: annotator trust and aggregated labels in the terminal at 80
columns, Markdown, and the HTML pages in a real browser, offline (see test_browser.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from test_browser import browser, open_report, screenshot

from assay.labels import Annotations, aggregate, score_annotators
from assay.report import labels as page
from assay.report import write_report

__all__ = ["browser"]  # the fixture, shared with the other browser tests


@pytest.fixture(scope="module")
def votes() -> Annotations:
    """Five annotators, the last two mostly wrong, on 400 items with labels a/b/c."""
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 3, 400)
    item = np.repeat(np.arange(400), 5)
    who = np.tile(np.array(["ann", "bo", "cy", "dee", "eve"]), 400)
    accuracy = np.tile([0.95, 0.9, 0.85, 0.5, 0.45], 400)
    right = rng.random(item.size) < accuracy
    said = np.where(right, truth[item], (truth[item] + rng.integers(1, 3, item.size)) % 3)
    return Annotations.from_arrays(item, who, np.array(["a", "b", "c"])[said])


@pytest.fixture(scope="module")
def trust(votes: Annotations) -> dict[str, Any]:
    return score_annotators(votes, min_trust=0.7).to_dict()


def test_terminal_and_markdown(trust: dict[str, Any], votes: Annotations) -> None:
    out = io.StringIO()
    page.annotators_terminal(trust, Console(file=out, width=80, no_color=True))
    text = out.getvalue()
    assert text.startswith("annotators: FAILED\n")
    assert max(len(line) for line in text.splitlines()) <= 80
    flagged = [line for line in text.splitlines() if "below min trust" in line]
    assert [line.split()[0] for line in flagged] == ["dee", "eve"]
    md = page.annotators_markdown(trust)
    assert md.startswith("### ❌ Annotators: failed")
    assert "| dee |" in md and "below min trust" in md
    labels = aggregate(votes, method="ds").to_dict()
    out = io.StringIO()
    page.aggregation_terminal(labels, Console(file=out, width=80, no_color=True))
    lines = [line.split() for line in out.getvalue().splitlines()]
    rows = {cells[0]: cells[1] for cells in lines if cells and cells[0] in ("a", "b", "c")}
    assert sum(int(n.replace(",", "")) for n in rows.values()) == 400
    assert set(rows) == {"a", "b", "c"}


def test_pages_render_offline(
    browser: Any, trust: dict[str, Any], votes: Annotations, tmp_path: Path
) -> None:
    write_report(page.annotators_html(trust), tmp_path / "trust.html")
    labels = aggregate(votes, method="glad").to_dict()
    write_report(page.aggregation_html(labels, self_contained=True), tmp_path / "labels.html")
    histogram = labels["confidence_histogram"]
    assert sum(b["items"] for b in histogram) == 400 and len(histogram) == 20
    # A bar per annotator; a bar per label, then one per confidence bin (empty ones too).
    for name, plots, bars in (("trust", 1, 5), ("labels", 2, 3 + 20)):
        opened = open_report(browser, tmp_path / f"{name}.html")
        opened.page.wait_for_function(
            f"document.querySelectorAll('.plotly-graph-div:has(.main-svg)').length >= {plots}",
            timeout=30_000,
        )
        screenshot(opened, f"labels-{name}")
        assert opened.count(".plotly-graph-div .bars .point") == bars
        assert opened.errors == []
        assert all(url.startswith("file://") for url in opened.requests), opened.requests
        if name == "trust":
            assert opened.count("tr.flagged") == 2
            assert "annotators: FAILED" in opened.page.inner_text(".verdict")
        opened.page.context.close()
