"""The spec's ``diagnostics: {slices: …}``: its thresholds gate, its report equals
``find_slices`` run on its own, and the evaluation report embeds its section."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

from assay.diagnostics.slices import VALUES, find_slices
from assay.errors import SpecError
from assay.evaluation import evaluate
from assay.evaluation.diagnose import DIAGNOSTICS
from assay.report import render_evaluation
from assay.results import GateStatus
from eval_project import build_project, spec

# About 1,500 people of 2017: the degraded model (40% of women's labels flipped in
# training) is judged on them.
SMALL = 'dataset: employment\ndeltas: {include: [y2017]}\nwhere: "AGEP >= 40 and AGEP < 45"\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    for p in build_project(tmp_path_factory):
        (p[0] / "small.yaml").write_text(SMALL)
        yield p


def lean(root: Any, section: dict[str, Any]) -> dict[str, Any]:
    return spec(
        root,
        "degraded",
        models={"candidate": "employment@degraded"},
        datasets={"small": {"recipe": str(root / "small.yaml")}},
        slices=[],
        metrics=["accuracy"],
        thresholds=[],
        bootstrap={"samples": 20, "seed": 1},
        diagnostics={"slices": section},
    )


def test_slices_thresholds_gate_and_equal_the_diagnostic(project: Any) -> None:
    root, store, _, _ = project
    assert set(DIAGNOSTICS["slices"].numbers) == set(VALUES)  # type: ignore[arg-type]
    direct = find_slices(
        "employment@degraded", str(root / "small.yaml"), k=3, min_support=50, store=store
    )
    top = direct.slices[0]
    assert ("SEX", "=", 2) in [(p.column, p.op, p.value) for p in top.predicates]
    section = {"k": 3, "min_support": 50}
    failing = evaluate(
        lean(root, {**section, "thresholds": [{"metric": "top_error", "max": top.error - 0.01}]}),
        store=store,
        record=False,
    )
    (row,) = [g for g in failing.gate if g.diagnostic == "slices"]
    assert row.status == GateStatus.FAIL and not failing.passed
    assert row.observed == pytest.approx(top.error)
    report = failing.diagnostics["slices"]
    assert [s["expr"] for s in report["slices"]] == [s.expr for s in direct.slices]
    assert [s["score"] for s in report["slices"]] == [s.score for s in direct.slices]
    page = render_evaluation(failing)
    assert "<section class='diagnostic slices'>" in page and escape(top.expr) in page
    passing = evaluate(
        lean(root, {**section, "thresholds": [{"metric": "top_error", "max": top.error + 0.01}]}),
        store=store,
        record=False,
    )
    (row,) = [g for g in passing.gate if g.diagnostic == "slices"]
    assert row.status == GateStatus.PASS and passing.passed


def test_bad_options_are_found_before_anything_runs(project: Any) -> None:
    root, store, _, _ = project
    bad = {"k": 0, "alpha": 2, "nope": 1, "thresholds": [{"metric": "auc", "max": 1}]}
    with pytest.raises(SpecError) as e:
        evaluate(lean(root, bad), store=store, record=False)
    text = str(e.value)
    for piece in ("diagnostics.slices.k", "diagnostics.slices.alpha", "diagnostics.slices.nope"):
        assert piece in text
