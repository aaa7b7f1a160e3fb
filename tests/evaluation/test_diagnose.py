"""The spec's ``diagnostics:`` section: each diagnostic runs on the spec's data, its
thresholds gate, and its numbers equal the diagnostic run on its own."""

from __future__ import annotations

from typing import Any

import pytest

from assay.diagnostics.drift import drift
from assay.diagnostics.fairness import fairness
from assay.diagnostics.importance import importance
from assay.errors import SpecError
from assay.evaluation import evaluate
from assay.evaluation.run import GateReason
from assay.results import GateStatus
from eval_project import build_project, spec

FEW = {"samples": 20, "seed": 1}  # bootstrap intervals are not under test here


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from build_project(tmp_path_factory)


def lean(root: Any, **extra: Any) -> dict[str, Any]:
    """The release spec cut to what the diagnostics need: one model, one dataset, one
    metric, a small bootstrap (the diagnostics are under test, not the metrics)."""
    lean_spec = spec(
        root,
        "production",
        models={"candidate": "employment@production"},
        datasets={"test": {"recipe": str(root / "recipe.yaml"), "split": "test"}},
        slices=[],
        metrics=["accuracy"],
        thresholds=[],
        bootstrap=FEW,
    )
    return lean_spec | extra


def rows(ev: Any, name: str) -> list[Any]:
    return [g for g in ev.gate if g.diagnostic == name]


def test_fairness_threshold_gates_and_equals_the_diagnostic(project: Any) -> None:
    root, store, version, models = project
    test = version.to_arrow(split="test").drop_columns(["split"])
    direct = fairness(
        "employment@degraded", test, sensitive=["SEX"], label="employed", bootstrap=FEW, store=store
    )
    gap = direct.value("demographic_parity_difference")
    assert gap is not None and gap > 0.01
    # By hand: the largest difference of the groups' selection rates.
    X = test.to_pandas()
    chosen = models["degraded"].predict(X[models["degraded"].feature_names_in_])
    rates = [chosen[X.SEX.to_numpy() == s].mean() for s in (1, 2)]
    assert gap == pytest.approx(abs(rates[0] - rates[1]), abs=1e-12)

    def run(limit: float) -> Any:
        section = {
            "dataset": "test",
            "sensitive": ["SEX"],
            "thresholds": [{"metric": "demographic_parity_difference", "max": limit}],
        }
        return evaluate(
            lean(root, diagnostics={"fairness": section}),
            store=store,
            record=False,
        )

    # The candidate here is "production"; the same model class on the same data.
    own = fairness(
        "employment@production",
        test,
        sensitive=["SEX"],
        label="employed",
        bootstrap=FEW,
        store=store,
    )
    value = own.value("demographic_parity_difference")
    assert value is not None
    failing = run(value - 0.005)
    (row,) = rows(failing, "fairness")
    assert row.status == GateStatus.FAIL and not failing.passed
    assert row.observed == pytest.approx(value, abs=1e-12)
    assert failing.reasons == [GateReason.THRESHOLD_FAILED]
    reported = failing.diagnostics["fairness"]["demographic_parity_difference"]
    assert reported == pytest.approx(value, abs=1e-12)
    passing = run(value + 0.005)
    assert passing.passed and rows(passing, "fairness")[0].status == GateStatus.PASS


def test_drift_against_a_reference_recipe(project: Any) -> None:
    root, store, version, _ = project
    section = {
        "reference": {"recipe": str(root / "newest.yaml")},
        "dataset": "test",
        "thresholds": [{"metric": "drift_share", "max": 0.0}],
    }
    ev = evaluate(
        lean(root, diagnostics={"drift": section}),
        store=store,
        record=False,
    )
    reported = ev.diagnostics["drift"]
    columns = [c["column"] for c in reported["columns"]]
    assert "id" not in columns and "employed" not in columns and "split" not in columns
    from assay.data.compose import compose

    reference = compose(root / "newest.yaml", store=store).table
    current = version.to_arrow(split="test")
    direct = drift(reference, current, columns=columns, store=store)
    assert reported["drift_share"] == pytest.approx(direct.drift_share, abs=1e-12)
    (row,) = rows(ev, "drift")
    # Two survey years against a third: some column moved, so a max of 0 fails.
    assert direct.drift_share > 0 and row.status == GateStatus.FAIL and not ev.passed
    assert row.observed == pytest.approx(direct.drift_share)
    # Drift's own verdict (half the columns) never gates on its own.
    quiet = evaluate(
        spec(
            root,
            "production",
            thresholds=[],
            diagnostics={"drift": {**section, "thresholds": [{"metric": "drift_share", "max": 1}]}},
        ),
        store=store,
        record=False,
    )
    assert quiet.passed


def test_importance_thresholds_gate_on_one_columns_importance(project: Any) -> None:
    root, store, _, _ = project
    # Permutation importance predicts columns × repeats times: a small dataset keeps it quick.
    (root / "older.yaml").write_text(
        'dataset: employment\ndeltas: {include: [y2017]}\nwhere: "AGEP >= 40 and AGEP < 45"\n'
    )
    section = {
        "dataset": "older",
        "repeats": 2,
        "slices": [],
        "thresholds": [
            {"metric": "importance:SCHL", "max": 0.001},
            {"metric": "max_importance", "min": 0.0},
        ],
    }
    older = {"recipe": str(root / "older.yaml")}
    ev = evaluate(
        lean(root, diagnostics={"importance": section}, datasets={"older": older}),
        store=store,
        record=False,
    )
    schooling, top = rows(ev, "importance")
    assert 1000 < ev.datasets["older"]["rows"] < 10_000
    direct = importance("employment@production", str(root / "older.yaml"), repeats=2, store=store)
    assert schooling.observed == pytest.approx(direct.value("importance:SCHL"), abs=1e-12)
    # Schooling matters to an employment model: above a tenth of a point of accuracy.
    assert schooling.observed > 0.001 and schooling.status == GateStatus.FAIL
    assert top.status == GateStatus.PASS
    assert top.observed == pytest.approx(max(c.mean for c in direct.slices[0].columns))
    assert not ev.passed


def test_every_problem_in_the_section_at_once(project: Any) -> None:
    root, store, _, _ = project
    bad = {
        "fairnes": {"sensitive": ["SEX"]},
        "fairness": {"sensitive": ["SEX"], "dataset": "nope", "colour": 1},
        "drift": {"reference": {"recipe": "x.yaml"}, "thresholds": [{"metric": "psi", "max": 1}]},
        "staleness": {"datasets": ["test", {"recipe": "gone.yaml"}], "metric": "accuracy"},
        "importance": {"repeats": 0},
    }
    with pytest.raises(SpecError) as caught:
        evaluate(spec(root, "production", diagnostics=bad), store=store, record=False)
    text = str(caught.value)
    assert "diagnostics.fairnes: unknown diagnostic; known: " in text
    known = text.split("known: ")[1].split("\n")[0]
    assert {"drift", "fairness", "importance", "annotators"} <= set(known.split(", "))
    assert "diagnostics.fairness.colour: unknown field" in text
    assert "diagnostics.drift: drift thresholds[0]: 'psi' is not a number drift gives" in text
    assert "diagnostics.importance.repeats:" in text
    # Recipes a diagnostic names itself are found missing before anything is predicted.
    assert "diagnostics.drift: reference: recipe file 'x.yaml' does not exist" in text
    assert "diagnostics.staleness: datasets[1]: recipe file 'gone.yaml' does not exist" in text
    # fairness with an unknown field fails validation first; its dataset is not judged.
    assert "nope" not in text


def test_recorded_evaluation_keeps_the_reports(project: Any) -> None:
    root, store, _, _ = project
    section = {"dataset": "test", "sensitive": ["SEX", "RAC1P"]}
    ev = evaluate(
        lean(root, diagnostics={"fairness": section}),
        store=store,
    )
    assert ev.passed and rows(ev, "fairness") == []  # no thresholds: it only reports
    stored = store.catalog.get_evaluation(ev.id)
    kept = stored["diagnostics"]["fairness"]
    assert kept["sensitive"] == ["SEX", "RAC1P"] and kept["dataset"] == "test"
    assert kept == ev.diagnostics["fairness"]
    assert kept["rows"] == ev.datasets["test"]["rows"]
    # The report draws the section from the recorded data alone.
    from assay.report import render_evaluation

    page = render_evaluation(stored)
    assert "id='diagnostic-fairness'" in page
    gap = kept["demographic_parity_difference"]
    assert f"<td class='num'>{gap:.4f}</td>" in page
    assert f"<td class='num'>{kept['groups'][0]['count']:,}</td>" in page


def test_annotator_trust_gates_on_the_least_trusted(project: Any) -> None:
    """e-2's annotators scored from the spec: the lowest trust is annotator 2's."""
    from pathlib import Path

    from assay.labels import read_annotations, score_annotators

    root, store, _, _ = project
    votes = str(Path(__file__).parents[2] / "examples/data/annotations_e2.csv")
    direct = score_annotators(
        read_annotations(votes, item="item", annotator="annotator", label="label")
    )
    lowest = min(direct.annotators, key=lambda a: a.trust)
    assert 0.6 < lowest.trust < 0.7  # the e-2 set's weakest annotator

    def run(floor: float) -> Any:
        section = {"annotations": votes, "thresholds": [{"metric": "lowest_trust", "min": floor}]}
        return evaluate(lean(root, diagnostics={"annotators": section}), store=store, record=False)

    failing = run(0.7)
    (row,) = rows(failing, "annotators")
    assert row.status == GateStatus.FAIL and row.observed == pytest.approx(lowest.trust, abs=1e-12)
    assert not failing.passed
    kept = failing.diagnostics["annotators"]
    assert [a["trust"] for a in kept["annotators"]] == [a.trust for a in direct.annotators]
    assert run(0.6).passed
    from assay.report import render_evaluation

    page = render_evaluation(failing.to_dict())
    assert "id='diagnostic-annotators'" in page and f"{lowest.trust:.3f}" in page


def test_suspected_label_errors_gate_on_their_rate(project: Any) -> None:
    """label_issues from the spec equals the library on the same rows; its rate gates."""
    from assay.labels import label_issues

    root, store, _, _ = project
    (root / "forties.yaml").write_text(
        'dataset: employment\ndeltas: {include: [y2017]}\nwhere: "AGEP >= 40 and AGEP < 45"\n'
    )
    direct = label_issues(str(root / "forties.yaml"), cv=3, store=store)
    n = len(direct.issues)
    assert 0 < n < direct.rows
    section = {
        "dataset": "forties",
        "cv": 3,
        "thresholds": [
            {"metric": "issues", "max": n},  # exactly at the bound: passes
            {"metric": "rate", "max": (n - 1) / direct.rows},  # one issue too many: fails
        ],
    }
    ev = evaluate(
        lean(
            root,
            datasets={"forties": {"recipe": str(root / "forties.yaml")}},
            diagnostics={"label_issues": section},
        ),
        store=store,
        record=False,
    )
    count, rate = rows(ev, "label_issues")
    assert count.status == GateStatus.PASS and count.observed == n
    assert rate.status == GateStatus.FAIL and rate.observed == pytest.approx(n / direct.rows)
    kept = ev.diagnostics["label_issues"]
    assert [i["key"] for i in kept["issues"]] == [i.key for i in direct.issues]
    from assay.report import render_evaluation

    assert "label" in render_evaluation(ev.to_dict()).lower()
