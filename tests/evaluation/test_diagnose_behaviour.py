"""The spec's ``diagnostics: {behaviour, robustness}``: their thresholds gate, a failing
behaviour test or a model that fails on perturbed rows fails the gate, and the numbers
equal the diagnostic run on its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay.diagnostics.behaviour import behaviour
from assay.diagnostics.robustness import robustness
from assay.errors import SpecError
from assay.evaluation import evaluate
from assay.report import render_evaluation
from assay.results import GateStatus
from eval_project import FEATURES, build_project, spec

FEW = {"samples": 20, "seed": 1}
# About 1,500 people of 2017: the diagnostics predict several times over these rows.
SMALL = 'dataset: employment\ndeltas: {include: [y2017]}\nwhere: "AGEP >= 60 and AGEP < 63"\n'
MORE_SCHOOL = {"name": "more school", "kind": "dir", "change": {"SCHL": "+2"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    for p in build_project(tmp_path_factory):
        root = p[0]
        (root / "small.yaml").write_text(SMALL)
        yield p


def lean(root: Any, diagnostics: dict[str, Any], **models: str) -> dict[str, Any]:
    return spec(
        root,
        "production",
        models=models or {"candidate": "employment@production"},
        datasets={"small": {"recipe": str(root / "small.yaml")}},
        slices=[],
        metrics=["accuracy"],
        thresholds=[],
        bootstrap=FEW,
        diagnostics=diagnostics,
    )


def rows(ev: Any, name: str) -> list[Any]:
    return [g for g in ev.gate if g.diagnostic == name]


def test_behaviour_gates_on_thresholds_and_on_failed_tests(project: Any) -> None:
    root, store, _, models = project
    # The logistic-regression baseline weighs schooling positively: more never hurts.
    assert models["baseline"].coef_[0][FEATURES.index("SCHL")] > 0
    holds = {**MORE_SCHOOL, "expect": "not_decrease"}
    # The wrong way round, allowed to fail everywhere: only the threshold judges it.
    wrong = {**MORE_SCHOOL, "name": "wrong way", "expect": "decrease", "max_failure_rate": 1}

    def run(tests: list[dict[str, Any]], limit: float) -> Any:
        section = {
            "model": "baseline",
            "tests": tests,
            "thresholds": [{"metric": "max_failure_rate", "max": limit}],
        }
        return evaluate(
            lean(root, {"behaviour": section}, candidate="employment@production",
                 baseline="employment@baseline"),
            store=store,
            record=False,
        )  # fmt: skip

    passing = run([holds], 0.0)
    (row,) = rows(passing, "behaviour")
    assert passing.passed and row.status == GateStatus.PASS and row.observed == 0.0
    failing = run([holds, wrong], 0.5)
    direct = behaviour(
        "employment@baseline", {"tests": [holds, wrong]}, str(root / "small.yaml"), store=store
    )
    assert direct.test("wrong way").failure_rate == 1.0
    (row,) = rows(failing, "behaviour")  # the tests hold their own limits: one row
    assert row.status == GateStatus.FAIL and not failing.passed
    assert row.observed == direct.value("max_failure_rate")
    reported = failing.diagnostics["behaviour"]
    assert [t["failures"] for t in reported["tests"]] == [t.failures for t in direct.tests]
    # The evaluation page draws the section from the recorded (JSON) report.
    page = render_evaluation(json.loads(json.dumps(failing.to_dict())))
    assert "<h2 id='diagnostic-behaviour'>" in page and "Worst cases of wrong way" in page
    # A test over its own max_failure_rate fails the gate with no threshold at all.
    strict = run([holds, {**wrong, "max_failure_rate": 0}], 1.0)
    threshold_row, verdict_row = rows(strict, "behaviour")
    assert threshold_row.status == GateStatus.PASS
    assert verdict_row.status == GateStatus.FAIL and "wrong way" in verdict_row.message


def test_robustness_curves_gate(project: Any) -> None:
    root, store, _, _ = project
    direct = robustness(
        ["employment@production", "employment@baseline"], str(root / "small.yaml"),
        perturbations=["swap"], strengths=[0.5], store=store,
    )  # fmt: skip
    value = direct.value("drop_at_0.5")
    assert value is not None and value > 0

    def run(limit: float, perturbations: list[str]) -> Any:
        section = {
            "perturbations": perturbations,
            "strengths": [0.5],
            "thresholds": [{"metric": "drop_at_0.5", "max": limit}],
        }
        return evaluate(
            lean(root, {"robustness": section}, candidate="employment@production",
                 baseline="employment@baseline"),
            store=store,
            record=False,
        )  # fmt: skip

    failing = run(value - 0.001, ["swap"])
    (row,) = rows(failing, "robustness")
    assert row.status == GateStatus.FAIL and row.observed == pytest.approx(value, abs=1e-12)
    assert failing.diagnostics["robustness"]["models"] == list(direct.models)
    passing = run(value + 0.001, ["swap"])
    assert passing.passed and rows(passing, "robustness")[0].status == GateStatus.PASS
    # The logistic regression cannot take nulls (gradient boosting can): the gate fails.
    nulls = run(1.0, ["missing"])
    threshold_row, verdict_row = rows(nulls, "robustness")
    assert threshold_row.status == GateStatus.PASS
    assert verdict_row.status == GateStatus.FAIL and not nulls.passed
    page = render_evaluation(json.loads(json.dumps(nulls.to_dict())))
    assert "<h2 id='diagnostic-robustness'>" in page and "cannot take missing values" in page
    curves = nulls.diagnostics["robustness"]["curves"]
    errors = {c["model"]: c["points"][1]["error"] for c in curves}
    assert errors[direct.models[0]] is None
    assert "cannot take missing values" in errors[direct.models[1]]


def test_bad_sections_are_spec_problems(project: Any) -> None:
    root, store, _, _ = project
    bad = {
        "behaviour": {"tests": [{"name": "x", "kind": "sideways"}]},
        "robustness": {"perturbations": ["wobble"], "models": ["nobody"]},
    }
    with pytest.raises(SpecError) as caught:
        evaluate(lean(root, bad), store=store, record=False)
    text = str(caught.value)
    assert "diagnostics.behaviour.tests.0.kind:" in text
    assert "diagnostics.robustness: perturbation 'wobble' is unknown" in text
    assert "diagnostics.robustness: model 'nobody' is not one of the models" in text
