"""Robustness curves on real ACS rows with registered scikit-learn models: strength 0 is
the plain metric (scikit-learn's), deterministic cases give known values, a model that
cannot take nulls fails its points with a note; the CLI end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

from assay.diagnostics.robustness import perturb, robustness
from assay.errors import UsageError
from behaviour_models import FEATURES, IGNORED, Project, make_project
from tests_helpers import run_assay


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: Any) -> Any:
    p = make_project(tmp_path_factory.mktemp("robustness"), acs)
    yield p
    p.store.close()


def test_strength_zero_is_the_plain_metric(project: Project) -> None:
    test = project.test
    report = robustness(
        ["employment@candidate", "ignoring@candidate"],
        str(project.root / "test.parquet"),
        perturbations=["noise", "swap"],
        strengths=[0.1, 0.3],
        label="employed",
        store=project.store,
    )
    assert report.strengths == (0.0, 0.1, 0.3)  # 0 is always there
    lr = accuracy_score(test.employed, project.lr.predict(test[FEATURES]))
    ignoring = accuracy_score(test.employed, project.ignoring.predict(test[[*FEATURES, IGNORED]]))
    assert report.curve("employment", "noise").at(0).value == lr
    assert report.curve("ignoring", "swap").at(0).value == ignoring
    assert all(c.at(0).drop == 0 for c in report.curves)
    # The same perturbed rows for both models: the ignoring model is the same
    # regression on the same features, so its curves equal the other's.
    for p in ("noise", "swap"):
        a, b = report.curve("employment", p), report.curve("ignoring", p)
        assert [x.value for x in a.points] == pytest.approx([x.value for x in b.points], abs=2e-3)
    # Seeded: the same call gives the same curves; another seed other ones.
    again = robustness(
        "employment@candidate", project.root / "test.parquet", perturbations=["noise"],
        strengths=[0.1, 0.3], label="employed", store=project.store,
    )  # fmt: skip
    assert again.curves[0].points == report.curve("employment", "noise").points
    other = robustness(
        "employment@candidate", project.root / "test.parquet", perturbations=["noise"],
        strengths=[0.1, 0.3], label="employed", seed=1, store=project.store,
    )  # fmt: skip
    assert other.curves[0].points != again.curves[0].points


def test_deterministic_cases(project: Project) -> None:
    test = project.test
    # SEX has two values: swapping every cell turns 1 into 2 and 2 into 1.
    swap = robustness(
        "employment@candidate", project.root / "test.parquet", perturbations=["swap"],
        strengths=[1.0], columns=["SEX"], metric="log_loss", label="employed",
        store=project.store,
    )  # fmt: skip
    flipped = test[FEATURES].assign(SEX=3 - test.SEX)
    plain = log_loss(test.employed, project.lr.predict_proba(test[FEATURES]))
    expected = log_loss(test.employed, project.lr.predict_proba(flipped))
    point = swap.curves[0].at(1.0)
    assert point.value == pytest.approx(expected, rel=1e-12)
    # log loss: lower is better, so the drop is the rise.
    assert point.drop == pytest.approx(expected - plain, rel=1e-9)
    # Every RELP value missing leaves a model that drops RELP exactly where it was.
    missing = robustness(
        "ignoring@candidate", project.root / "test.parquet", perturbations=["missing"],
        strengths=[0.5, 1.0], columns=[IGNORED], label="employed",
        thresholds=[{"metric": "max_drop", "max": 0.0}], store=project.store,
    )  # fmt: skip
    values = [p.value for p in missing.curves[0].points]
    assert values == [values[0]] * 3
    assert missing.passed and missing.value("max_drop") == 0.0


def test_a_model_that_cannot_take_nulls_fails_its_points(project: Project) -> None:
    report = robustness(
        "employment@candidate", project.root / "test.parquet", perturbations=["missing", "noise"],
        strengths=[0.1], label="employed", store=project.store,
        thresholds=[{"metric": "noise_drop_at_0.1", "max": 0.5}],
    )  # fmt: skip
    missing = report.curve("employment", "missing")
    assert missing.at(0).value is not None
    point = missing.at(0.1)
    assert point.value is None and point.drop is None
    assert point.error is not None and point.error.startswith("cannot take missing values")
    assert "Input X contains NaN" in point.error
    assert not report.passed
    assert [str(r) for r in report.reasons] == ["model_failed"]
    # The noise curve is still there, and its threshold holds.
    assert report.value("noise_drop_at_0.1") is not None
    assert report.breaches == ()


def test_perturbations_themselves() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": np.arange(1000, dtype=np.int64),
            "score": np.linspace(0, 1, 1000),
            "kind": ["a", "b", "c", "d"] * 250,
            "text": ["hello wide world"] * 1000,
        }
    )
    noisy = perturb(frame, "noise", ["age", "score"], 0.5, rng)
    assert noisy.age.dtype == np.int64  # integers stay whole numbers
    sd = (noisy.score - frame.score).std()
    assert 0.4 * frame.score.std() < sd < 0.6 * frame.score.std()
    gone = perturb(frame, "missing", ["kind"], 0.3, rng)
    assert gone.kind.isna().sum() == 300
    swapped = perturb(frame, "swap", ["kind"], 0.2, rng)
    changed = swapped.kind != frame.kind
    assert changed.sum() == 200 and set(swapped.kind) == {"a", "b", "c", "d"}
    typed = perturb(frame, "typo", ["text"], 1 / 3, rng)
    words = [
        sum(a != b for a, b in zip(t.split(), o.split(), strict=True))
        for t, o in zip(typed.text, frame.text, strict=True)
    ]
    assert sum(words) == 1000  # a third of the 3,000 words
    assert all(sorted(t) == sorted(o) for t, o in zip(typed.text, frame.text, strict=True))


def test_text_model_under_typos(project: Project) -> None:
    report = robustness(
        "reviews@candidate", project.root / "reviews.parquet", perturbations=["typo"],
        strengths=[0.5, 1.0], label="liked", store=project.store,
    )  # fmt: skip
    curve = report.curves[0]
    assert curve.columns == ("review",)
    plain = accuracy_score(project.reviews.liked, project.text.predict(project.reviews[["review"]]))
    assert curve.at(0).value == plain
    # Every word misspelt: TF-IDF knows none of them, so every text gets the answer
    # of an empty text.
    blank = project.text.predict(pd.DataFrame({"review": [""]}))[0]
    assert curve.at(1.0).value == pytest.approx((project.reviews.liked == blank).mean())
    assert 0 < curve.at(1.0).drop < 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"perturbations": ["wobble"]}, "unknown perturbation 'wobble'; use one or more of"),
        ({"perturbations": ["noise"], "columns": ["SEX"]},
         "perturbation noise applies to numeric columns; SEX is a category"),
        ({"perturbations": ["typo"]}, "perturbation typo applies to text columns"),
        ({"perturbations": ["swap"], "columns": ["NOPE"]}, "no column(s) 'NOPE'"),
        ({"perturbations": ["swap"], "strengths": [2]}, "strength 2 is above 1"),
        ({"thresholds": [{"metric": "drop_at_0.7", "max": 1}]}, "'drop_at_0.7' is not a number"),
        ({"metric": "r2"}, "metric 'r2' does not apply to binary models"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(project: Project, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        robustness(
            "employment@candidate", project.root / "test.parquet", label="employed",
            store=project.store, **kwargs,
        )  # fmt: skip
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_cli(project: Project) -> None:
    root = project.root
    r = run_assay(
        "robustness", "employment@candidate", "ignoring@candidate", "test.parquet",
        "--label", "employed", "--perturb", "noise,swap", "--strengths", "0.1,0.5",
        "--max", "swap_drop_at_0.5=0.001", "--json", "--html", "r.html",
        "--store", project.store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 1, r.err
    data = r.json()
    assert data["strengths"] == [0.0, 0.1, 0.5]
    assert [b["code"] for b in data["breaches"]] == ["above_max"]
    assert len(data["curves"]) == 4
    page = (root / "r.html").read_text()
    assert "<h2 id='diagnostic-robustness'>Robustness" in page and "Plotly.newPlot" in page
    assert any(p.name.startswith("plotly-") for p in root.iterdir())  # beside the page
    bad = run_assay(
        "robustness", "employment@candidate", "test.parquet", "--label", "employed",
        "--strengths", "0,x", "--store", project.store.url, cwd=root,
    )  # fmt: skip
    assert bad.rc == 2
    assert "'x' is not a number" in bad.error_line()
