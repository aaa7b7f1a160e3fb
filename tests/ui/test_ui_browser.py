"""The dashboard in a real browser: every page at 1280 and 390 pixels wide, and the
what-if page answering an edit, against a real server on the test project's store.

Playwright drives the machine's own Chromium (``executable_path``): no browser is
downloaded. Without Chromium the tests are skipped, except in CI (``CI=true``), where
they fail. Screenshots go to a temporary folder, and to ``ASSAY_SCREENSHOTS=DIR`` as
well, to look at them. (Named apart from tests/report/test_browser.py: two test modules
with one basename cannot be collected together without packages.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ui_project import FEATURES, Project

import assay

WIDTHS = (1280, 390)
WAIT_MS = 60_000  # generous: a loaded 2-core machine


def pages(project: Project) -> dict[str, str]:
    """Every page of the dashboard, by a short name for its screenshot."""
    return {
        "datasets": "/ui/datasets",
        "dataset": "/ui/datasets/employment",
        "diff": f"/ui/diff?a={project.old}&b={project.new}",
        "runs": "/ui/runs",
        "run": f"/ui/runs/{project.run_id}",
        "models": "/ui/models",
        "checks": "/ui/checks",
        "check": f"/ui/checks/{project.check_id}",
        "evaluations": "/ui/evaluations",
        "evaluation": f"/ui/evaluations/{project.evaluation_id}",
        "experiments": "/ui/experiments",
        "experiment": "/ui/experiments/trees-vs-logreg",
        "pipeline": "/ui/pipeline",
        "whatif": "/ui/whatif",
    }


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folders = [tmp_path_factory.mktemp("screenshots")]
    if keep := os.environ.get("ASSAY_SCREENSHOTS"):
        folders.append(Path(keep))
        Path(keep).mkdir(parents=True, exist_ok=True)
    return folders


def open_page(browser: Any, url: str, width: int) -> tuple[Any, list[str]]:
    """The page at ``url`` in a fresh context ``width`` pixels wide, and its errors."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    return page, errors


def save(page: Any, shots: list[Path], name: str) -> None:
    for folder in shots:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_loads_cleanly_and_fits(
    browser: Any, base_url: str, project: Project, shots: list[Path], width: int
) -> None:
    for name, path in pages(project).items():
        page, errors = open_page(browser, base_url + path, width)
        if name == "whatif":  # the first row's predictions come from the API
            page.wait_for_selector(".prediction .output")
        if name in ("check", "evaluation", "experiment"):  # the embedded report has loaded
            frame = page.frame_locator("iframe")
            frame.locator("body").wait_for()
            if name == "evaluation":  # plotly.js, unpacked in the page, has drawn
                frame.locator(".plotly-graph-div .main-svg").first.wait_for()
            # The frame grows to its report: no scrollbar inside the page.
            page.wait_for_function(
                "() => { const f = document.querySelector('.embed iframe');"
                " const d = f.contentDocument.documentElement;"
                " return d.scrollHeight > 0 && f.clientHeight >= d.scrollHeight; }"
            )
        save(page, shots, f"{name}-{width}")
        assert errors == [], (name, errors)
        assert page.locator("header a.on").count() == 1, name
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at {width}px is {overflow}px too wide"
        page.context.close()


def _proba(project: Project, ref: str, row: dict[str, int]) -> float:
    raw = assay.load_model(ref, store=project.store).raw
    return float(raw.predict_proba(pd.DataFrame([row])[FEATURES])[0][1])


def test_whatif_updates_the_prediction_after_an_edit(
    browser: Any, base_url: str, project: Project, shots: list[Path]
) -> None:
    page, errors = open_page(browser, base_url + "/ui/whatif", 1280)
    page.select_option("#model-a", "employment@1")
    page.select_option("#model-b", "employment@2")
    page.select_option("#version", project.new)
    page.fill("#index", "3")
    page.click("#load")
    page.wait_for_function("document.querySelectorAll('.prediction').length === 2")
    first = assay.load_version(project.new, store=project.store).to_pandas()[FEATURES].iloc[3]
    row = {f: int(v) for f, v in first.items()}
    page.wait_for_function(
        "p => document.querySelector('.prediction [data-class=\"1\"] td + td')?.textContent === p",
        arg=f"{_proba(project, 'employment@1', row):.4f}",
    )
    # Edit one feature: each model's shown probability becomes its answer for the edit.
    row["AGEP"] = 19 if row["AGEP"] > 40 else 70
    page.fill('[data-feature="AGEP"]', str(row["AGEP"]))
    page.dispatch_event('[data-feature="AGEP"]', "change")
    for i, ref in enumerate(["employment@1", "employment@2"]):
        page.wait_for_function(
            "([i, p]) => document.querySelectorAll('.prediction')[i]"
            "?.querySelector('[data-class=\"1\"] td + td')?.textContent === p",
            arg=[i, f"{_proba(project, ref, row):.4f}"],
        )
    page.click("#cf")
    page.wait_for_selector("#counterfactual table")
    page.select_option("#pdp-feature", "SCHL")
    page.click("#pdp")
    page.wait_for_selector("#pdp-out svg.pdp")
    # One line overall and one per slice of the recipe (women, over_65).
    assert page.locator("#pdp-out svg.pdp polyline").count() == 3
    save(page, shots, "whatif-edited-1280")
    assert errors == []
    page.context.close()
