"""Behaviour tests (MFT, INV, DIR) on real ACS rows with registered scikit-learn models,
each failure count held to a recomputation from the model's own scikit-learn answers;
a TF-IDF text model for typos and synonyms; the CLI end to end."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assay.diagnostics.behaviour import behaviour, load_behaviour, typo
from assay.errors import UsageError
from behaviour_models import FEATURES, IGNORED, Project, make_project
from tests_helpers import run_assay


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: Any) -> Any:
    p = make_project(tmp_path_factory.mktemp("behaviour"), acs)
    yield p
    p.store.close()


def proba(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict_proba(frame))[:, 1]


def test_dir_holds_for_a_monotone_model_and_fails_the_other_way(project: Project) -> None:
    # The logistic regression gives schooling a positive weight: more school never
    # lowers the employment probability.
    schl = project.lr.coef_[0][FEATURES.index("SCHL")]
    assert schl > 0
    spec = {
        "tests": [
            {"name": "more school", "kind": "dir", "change": {"SCHL": "+2"}, "expect": "not_decrease"},
            {"name": "wrong way", "kind": "dir", "change": {"SCHL": "+2"}, "expect": "decrease"},
            {"name": "halve age", "kind": "dir", "change": {"AGEP": "/2"}, "expect": "increase",
             "max_failure_rate": 0.9},
        ]
    }  # fmt: skip
    report = behaviour(
        "employment@candidate", spec, str(project.root / "recipe.yaml"), store=project.store
    )
    test = project.test
    before = proba(project.lr, test[FEATURES])
    after = proba(project.lr, test[FEATURES].assign(SCHL=test.SCHL + 2))
    holds = report.test("more school")
    assert (holds.cases, holds.failures, holds.passed) == (len(test), 0, True)
    wrong = report.test("wrong way")
    # "decrease" fails wherever the probability did not fall: every row, recomputed.
    assert wrong.failures == int((after - before >= 0).sum()) == len(test)
    assert not wrong.passed and wrong.failure_rate == 1.0
    # The worst examples are the rows whose probability rose most, with their key.
    first = wrong.examples[0]
    top = int(np.argmax(after - before))
    assert first.row == {"id": int(test.id[top])}
    assert first.changes == {"SCHL": (int(test.SCHL[top]), int(test.SCHL[top]) + 2)}
    assert first.score == pytest.approx((before[top], after[top]))
    assert len(wrong.examples) == 5
    # Age's weight decides the third: its failures are the rows not strictly rising.
    age = report.test("halve age")
    halved = proba(project.lr, test[FEATURES].assign(AGEP=test.AGEP / 2))
    assert age.failures == int((halved - before <= 0).sum())
    assert 0 < age.failures < len(test)
    assert age.passed == (age.failures / len(test) <= 0.9)
    assert not report.passed and report.to_dict()["reasons"] == ["test_failed"]
    assert report.value("failed_tests") == 1.0
    assert report.value("max_failure_rate") == 1.0


def test_inv_on_a_column_the_model_drops_holds(project: Project) -> None:
    spec = {
        "tests": [
            {"name": "relp", "kind": "inv", "set": {IGNORED: 0}, "tolerance": 0.0},
            {"name": "shuffled relp", "kind": "inv", "shuffle": IGNORED, "tolerance": 0.0},
        ]
    }
    report = behaviour(
        "ignoring@candidate", spec, project.root / "test.parquet", store=project.store
    )
    assert report.passed, report.summary()
    assert [t.cases for t in report.tests] == [len(project.test)] * 2
    assert [t.failures for t in report.tests] == [0, 0]
    # The other model never takes the column: it holds and says why.
    lr = behaviour("employment@candidate", spec, project.root / "test.parquet", store=project.store)
    assert lr.passed and "not inputs of model" in lr.tests[0].notes[0]


def test_inv_counts_equal_the_models_own_answers(project: Project) -> None:
    spec = {
        "tests": [
            {"name": "sex", "kind": "inv", "set": {"SEX": 1}, "slice": "women"},
            {"name": "sex close", "kind": "inv", "set": {"SEX": 1}, "slice": "SEX = 2",
             "tolerance": 0.05},
        ]
    }  # fmt: skip
    report = behaviour(
        "employment@candidate", spec, str(project.root / "recipe.yaml"), store=project.store
    )
    women = project.test[project.test.SEX == 2]
    x, flipped = women[FEATURES], women[FEATURES].assign(SEX=1)
    changed = project.lr.predict(x) != project.lr.predict(flipped)
    moved = np.abs(project.lr.predict_proba(x) - project.lr.predict_proba(flipped)).max(axis=1)
    sex, close = report.test("sex"), report.test("sex close")
    assert sex.cases == close.cases == len(women)
    assert sex.failures == int(changed.sum()) > 0
    assert close.failures == int((changed | (moved > 0.05)).sum())
    assert sex.failure_rate == pytest.approx(changed.mean())


def test_mft_inline_rows_and_a_file(project: Project) -> None:
    test = project.test
    rows = test[FEATURES].head(20).copy()
    predicted = project.lr.predict(rows)
    # Expect the model's own answer for 17 rows and the other class for the first 3.
    expected = predicted.copy()
    expected[:3] = 1 - expected[:3]
    inline = [
        {**{c: int(v) for c, v in r.items()}, "expected": int(e)}
        for r, e in zip(rows.to_dict("records"), expected, strict=True)
    ]
    spec = {
        "tests": [
            {"name": "inline", "kind": "mft", "rows": inline},
            {"name": "file", "kind": "mft", "data": str(project.root / "test.parquet"),
             "expected": "employed", "max_failure_rate": 0.25},
        ]
    }  # fmt: skip
    report = behaviour("employment@candidate", spec, store=project.store)
    inline_result, file_result = report.test("inline"), report.test("file")
    assert (inline_result.cases, inline_result.failures) == (20, 3)
    assert {e.row["row"] for e in inline_result.examples} == {0, 1, 2}
    assert all(e.answer == (int(expected[e.row["row"]]), int(predicted[e.row["row"]]))
               for e in inline_result.examples)  # fmt: skip
    wrong = int((project.lr.predict(test[FEATURES]) != test.employed).sum())
    assert (file_result.cases, file_result.failures) == (len(test), wrong)
    assert file_result.passed == (wrong / len(test) <= 0.25)


def test_text_model_typos_and_synonyms(project: Project) -> None:
    spec = {
        "tests": [
            {"name": "typo", "kind": "inv", "typo": {"column": "review", "swaps": 1}, "seed": 4},
            {"name": "synonyms", "kind": "inv",
             "synonyms": {"column": "review", "words": {"good": ["fine", "great"]}}},
        ]
    }  # fmt: skip
    report = behaviour(
        "reviews@candidate", spec, project.root / "reviews.parquet", store=project.store
    )
    texts = project.reviews.review.tolist()
    before = project.text.predict(project.reviews[["review"]])
    # Typos: the same seeded swaps, each text's prediction compared.
    rng = np.random.default_rng(4)
    typed = [typo(t, rng, 1) for t in texts]
    assert all(sorted(a) == sorted(b) and a != b for a, b in zip(texts, typed, strict=True))
    after = project.text.predict(pd.DataFrame({"review": typed}))
    assert report.test("typo").cases == len(texts)
    assert report.test("typo").failures == int((before != after).sum())
    # Synonyms: a row with "good" is one case; it fails when either alternative flips it.
    has = [i for i, t in enumerate(texts) if re.search(r"\bgood\b", t)]
    flips = set()
    for alt in ("fine", "great"):
        swapped = [re.sub(r"\bgood\b", alt, texts[i]) for i in has]
        answer = project.text.predict(pd.DataFrame({"review": swapped}))
        flips |= {i for i, a in zip(has, answer, strict=True) if a != before[i]}
    syn = report.test("synonyms")
    assert syn.cases == len(has) > 0
    assert syn.failures == len(flips)
    assert any("nothing to perturb" in n for n in syn.notes)


def test_thresholds_and_no_cases(project: Project) -> None:
    spec = {
        "tests": [{"name": "no good", "kind": "inv", "slice": "AGEP > 200", "set": {"SEX": 1}}],
        "thresholds": [{"metric": "failed_tests", "max": 0}],
    }
    report = behaviour(
        "employment@candidate", spec, project.root / "test.parquet", store=project.store
    )
    t = report.tests[0]
    assert (t.cases, t.passed, t.failure_rate) == (0, False, None)
    assert [str(r) for r in report.reasons] == ["no_cases", "above_max"]
    assert report.value("max_failure_rate") is None


@pytest.mark.parametrize(
    ("test", "message"),
    [
        ({"name": "a", "kind": "inv", "set": {"NOPE": 1}}, "test 'a': no column(s) 'NOPE'"),
        ({"name": "b", "kind": "sideways", "set": {"SEX": 1}}, "tests[0] (b).kind"),
        ({"name": "c", "kind": "dir", "change": {"SCHL": "+2"}}, "needs `expect:`"),
        ({"name": "d", "kind": "dir", "change": {"SCHL": "twice"}, "expect": "increase"},
         "change SCHL: 'twice' is not a change"),
        ({"name": "e", "kind": "inv", "typo": "AGEP"}, "typo needs a text column; AGEP holds int64"),
        ({"name": "f", "kind": "inv"}, "needs a perturbation"),
        ({"name": "g", "kind": "mft", "rows": [{"AGEP": 1}]}, "no column 'expected'"),
        ({"name": "h", "kind": "inv", "set": {"SEX": 1}, "slice": "nope"}, "slice 'nope'"),
        ({"name": "i", "kind": "inv", "set": {"SEX": 1}, "colour": 1},
         "(i).colour: unknown field"),
    ],
)  # fmt: skip
def test_bad_tests_are_one_line_errors(project: Project, test: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        behaviour(
            "employment@candidate",
            {"tests": [test]},
            project.root / "test.parquet",
            store=project.store,
        )
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_load_behaviour_names_twice_used_tests() -> None:
    with pytest.raises(UsageError, match=r"\['x'\] are used twice"):
        load_behaviour({"tests": [{"name": "x", "kind": "inv", "set": {"a": 1}}] * 2})


TESTS_YAML = """\
data: recipe.yaml
tests:
  - name: more school
    kind: dir
    change: {SCHL: "+2"}
    expect: not_decrease
  - name: wrong way
    kind: dir
    change: {SCHL: "+2"}
    expect: decrease
"""


def test_cli(project: Project) -> None:
    root = project.root
    (root / "tests.yaml").write_text(TESTS_YAML)
    (root / "holds.yaml").write_text(TESTS_YAML.split("  - name: wrong way")[0])
    # Run from elsewhere: the file's `data: recipe.yaml` is relative to the file.
    failed = run_assay(
        "behaviour", "employment@candidate", root / "tests.yaml", "--json", "--html",
        root / "b.html", "--markdown", root / "b.md", "--store", project.store.url,
        cwd=root.parent,
    )  # fmt: skip
    assert failed.rc == 1, failed.err
    data = failed.json()
    assert data["passed"] is False and data["failed_tests"] == 1
    assert [t["failures"] for t in data["tests"]] == [0, len(project.test)]
    page = (root / "b.html").read_text()
    assert "<h2 id='diagnostic-behaviour'>Behaviour tests" in page
    assert "Worst cases of wrong way" in page
    assert "| wrong way | DIR |" in (root / "b.md").read_text()
    held = run_assay(
        "behaviour", "employment@candidate", "holds.yaml", "test.parquet",
        "--store", project.store.url, cwd=root,
    )  # fmt: skip
    assert held.rc == 0, held.err
    assert "1 of 1 behaviour tests passed" in held.out
    (root / "bad.yaml").write_text("tests:\n  - {name: x, kind: inv, set: {NOPE: 1}}\n")
    bad = run_assay(
        "behaviour", "employment@candidate", "bad.yaml", "test.parquet",
        "--store", project.store.url, cwd=root,
    )  # fmt: skip
    assert bad.rc == 2
    assert "no column(s) 'NOPE'" in bad.error_line()
