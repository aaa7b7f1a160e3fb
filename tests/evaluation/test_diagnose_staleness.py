"""The spec's ``diagnostics: {staleness: …}``: the newest version past the line fails the
gate, thresholds on its numbers gate, its report equals ``staleness`` run on its own,
and the evaluation report embeds its section."""

from __future__ import annotations

from typing import Any

import pytest

from assay.diagnostics.staleness import VALUES, staleness
from assay.errors import SpecError
from assay.evaluation import evaluate
from assay.evaluation.diagnose import DIAGNOSTICS
from assay.report import render_evaluation
from assay.results import GateStatus
from eval_project import build_project, spec

BOOTSTRAP = {"samples": 20, "seed": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from build_project(tmp_path_factory)


def lean(root: Any, section: dict[str, Any]) -> dict[str, Any]:
    return spec(
        root,
        "production",
        models={"candidate": "employment@production"},
        slices=[],
        metrics=["accuracy"],
        thresholds=[],
        bootstrap=BOOTSTRAP,
        diagnostics={"staleness": section},
    )


def test_staleness_gates_and_equals_the_diagnostic(project: Any) -> None:
    root, store, _, _ = project
    assert set(DIAGNOSTICS["staleness"].numbers) == set(VALUES)  # type: ignore[arg-type]
    newest = str(root / "newest.yaml")
    direct = staleness(
        "employment@production",
        [f"{root / 'recipe.yaml'}:test", newest],
        metric="accuracy",
        bootstrap=BOOTSTRAP,
        store=store,
    )
    last = direct.value("last")
    assert last is not None
    # The spec's own dataset by name, then rows the section names itself.
    versions = ["test", {"recipe": newest}]
    above = last + 0.001
    failing = evaluate(
        lean(
            root,
            {
                "datasets": versions,
                "metric": "accuracy",
                "min": above,
                "thresholds": [{"metric": "last", "min": above}],
            },
        ),
        store=store,
        record=False,
    )
    rows = [g for g in failing.gate if g.diagnostic == "staleness"]
    assert [r.status for r in rows] == [GateStatus.FAIL, GateStatus.FAIL]  # threshold, verdict
    assert rows[0].observed == pytest.approx(last) and not failing.passed
    report = failing.diagnostics["staleness"]
    # Same rows, same fingerprints, so the same bootstrap resamples: equal intervals too.
    assert [p["value"] for p in report["points"]] == [p.value for p in direct.points]
    assert [p["interval"] for p in report["points"]] == [list(p.interval) for p in direct.points]  # type: ignore[arg-type]
    assert [p["fingerprint"] for p in report["points"]] == [p.fingerprint for p in direct.points]
    assert [p["name"] for p in report["points"]] == ["test", newest]
    assert report["reasons"] == ["crossed"]
    page = render_evaluation(failing)
    assert "<section class='diagnostic staleness'>" in page
    below = last - 0.001
    passing = evaluate(
        lean(
            root,
            {
                "datasets": versions,
                "metric": "accuracy",
                "min": below,
                "thresholds": [{"metric": "last", "min": below}],
            },
        ),
        store=store,
        record=False,
    )
    rows = [g for g in passing.gate if g.diagnostic == "staleness"]
    assert [r.status for r in rows] == [GateStatus.PASS] and passing.passed


def test_bad_options_are_found_before_anything_runs(project: Any) -> None:
    root, store, _, _ = project
    bad = {
        "datasets": ["test"],
        "metric": "acc",
        "min": 0.9,
        "max": 0.1,
        "nope": 1,
        "thresholds": [{"metric": "age", "max": 1}],
    }
    with pytest.raises(SpecError) as e:
        evaluate(lean(root, bad), store=store, record=False)
    text = str(e.value)
    assert "diagnostics.staleness.nope: unknown field" in text
    bad.pop("nope")  # with it gone, the options parse: the problems of their values show
    with pytest.raises(SpecError) as e:
        evaluate(lean(root, bad), store=store, record=False)
    text = str(e.value)
    assert "metric 'acc' is unknown" in text
    assert "min 0.9 is above max 0.1" in text
    assert "'age' is not a number staleness gives" in text
    with pytest.raises(SpecError, match=r"diagnostics.staleness.datasets"):
        evaluate(lean(root, {"datasets": [], "metric": "accuracy"}), store=store, record=False)
