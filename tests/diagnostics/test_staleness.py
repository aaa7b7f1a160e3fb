"""Staleness on the real ACS years: a model trained on 2015 scored on 2015–2018, against
scikit-learn's metrics and a direct bootstrap; the CLI end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, roc_auc_score

import assay
from assay.diagnostics.staleness import staleness
from assay.errors import UsageError
from assay.report import staleness as page
from assay.scoring import bootstrap as boot
from tests_helpers import run_assay

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
YEARS = {2015: "base", 2016: "y2016", 2017: "y2017", 2018: "y2018"}
RECIPE = """\
dataset: employment
deltas: {{include: [{delta}]}}
split: {{seed: 0, fractions: {{train: 0.8, test: 0.2}}}}
"""
# Between the observed accuracies (2015 0.771, 2016 0.762, 2017 0.772, 2018 0.767):
# the first crosses at 2016 under both; only the higher one is crossed by 2018.
LOW, HIGH = 0.765, 0.768


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, employment_template: Path) -> Any:
    """The four years as deltas, a recipe per year (its held-out fifth is ``:test``),
    and a logistic regression trained on 2015's other four fifths."""
    root = tmp_path_factory.mktemp("staleness")
    shutil.copytree(employment_template, root, dirs_exist_ok=True)
    store = assay.open_store(root / ".assay")
    for year, delta in YEARS.items():
        (root / f"{year}.yaml").write_text(RECIPE.format(delta=delta))
    train = assay.compose(root / "2015.yaml", store=store).to_arrow(split="train").to_pandas()
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train.employed)
    assay.register_model(
        "employment", model, sample=train[FEATURES].head(50), aliases=["candidate"], store=store
    )
    ages = [c for c in FEATURES if c != "AGEP"]
    regressor = LinearRegression().fit(train[ages], train.AGEP)
    assay.register_model("age", regressor, sample=train[ages].head(50), store=store)
    tables = {
        year: assay.compose(root / f"{year}.yaml", store=store).to_arrow(split="test")
        for year in YEARS
    }
    for year, table in tables.items():
        pq.write_table(table, root / f"{year}-test.parquet")
    yield root, store, model, {year: t.to_pandas() for year, t in tables.items()}, tables
    store.close()


def versions(root: Path) -> list[str]:
    return [f"{root / f'{year}.yaml'}:test" for year in YEARS]


# Composing a year takes seconds: the tests after the first judge the composed rows.
LABEL = {"label": "employed", "bootstrap": {"samples": 0}}


def test_each_version_matches_sklearn_and_the_crossing_is_2016(project: Any) -> None:
    root, store, model, tests, tables = project
    report = staleness(
        "employment@candidate",
        versions(root),
        metric="accuracy",
        min=LOW,
        bootstrap={"samples": 0},
        store=store,
    )
    expected = [accuracy_score(t.employed, model.predict(t[FEATURES])) for t in tests.values()]
    assert [p.value for p in report.points] == pytest.approx(expected, abs=1e-12)
    assert [p.rows for p in report.points] == [len(t) for t in tests.values()]
    assert [p.crossed for p in report.points] == [v < LOW for v in expected]
    assert report.first_crossing == 1 and report.points[1].name.endswith("2016.yaml:test")
    assert report.passed  # 2016 dipped, the newest (2018) is back above the line
    assert report.value("versions_until_crossing") == 1
    assert report.value("last") == pytest.approx(expected[-1])
    assert report.value("change") == pytest.approx(expected[-1] - expected[0])
    assert report.value("min_value") == pytest.approx(min(expected))
    fingerprints = [assay.compose(root / f"{y}.yaml", store=store).fingerprint for y in YEARS]
    assert [p.fingerprint for p in report.points] == fingerprints

    stale = staleness(
        "employment@candidate", list(tables.values()), metric="accuracy", min=HIGH,
        store=store, **LABEL,
    )  # fmt: skip
    assert not stale.passed and stale.reasons == ["crossed"]
    assert stale.first_crossing == 1 and stale.points[-1].crossed
    auc = staleness("employment@candidate", [tables[2018]], metric="roc_auc", store=store, **LABEL)
    newest = tests[2018]
    assert auc.value("last") == pytest.approx(
        roc_auc_score(newest.employed, model.predict_proba(newest[FEATURES])[:, 1]), abs=1e-12
    )
    assert auc.passed and auc.first_crossing is None  # no line: reported, not judged


def test_the_interval_is_a_percentile_bootstrap_of_sklearn_weighted_accuracy(
    project: Any,
) -> None:
    _root, store, model, tests, tables = project
    settings = {"samples": 200, "seed": 3, "confidence": 0.9}
    first_two = [tables[2015], tables[2016]]
    report = staleness(
        "employment@candidate",
        first_two,
        metric="accuracy",
        label="employed",
        bootstrap=settings,
        store=store,
    )
    for point, test in zip(report.points, tests.values(), strict=False):
        guess = model.predict(test[FEATURES])
        # Rows that are no version are keyed by their name in the bootstrap.
        assert point.fingerprint is None
        direct = [
            accuracy_score(test.employed, guess, sample_weight=w)
            for chunk in boot.resamples(len(test), 200, 3, "staleness", point.name)
            for w in chunk
        ]
        lo, hi = np.percentile(direct, [5, 95])
        assert point.interval == pytest.approx((lo, hi), abs=1e-12)
        assert point.interval[0] < point.value < point.interval[1]
    again = staleness(
        "employment@candidate", first_two, metric="accuracy", label="employed",
        bootstrap=settings, store=store,
    )  # fmt: skip
    assert again.to_dict()["points"] == report.to_dict()["points"]  # seeded


def test_thresholds_on_the_top_level_numbers(project: Any) -> None:
    _root, store, _model, _tests, tables = project
    report = staleness(
        "employment@candidate",
        [tables[2017], tables[2018]],
        metric="accuracy",
        label="employed",
        bootstrap={"samples": 0},
        thresholds=[{"metric": "last", "min": 0.9}, {"metric": "change", "min": -0.5}],
        store=store,
    )
    assert not report.passed and report.reasons == ["below_min"]
    assert "last" in report.failures[0].message
    with pytest.raises(UsageError, match=r"'age' is not a number staleness gives.*last"):
        staleness(
            "employment@candidate", [tables[2018]], metric="accuracy",
            thresholds=[{"metric": "age", "max": 3}], store=store, **LABEL,
        )  # fmt: skip


def test_a_regressor_on_a_numeric_label_matches_sklearn(project: Any) -> None:
    _root, store, _model, tests, tables = project
    versions = [tables[2015], tables[2018]]
    ages = [c for c in FEATURES if c != "AGEP"]
    loaded = assay.load_model("age@1", store=store).raw
    expected = [
        mean_absolute_error(tests[y].AGEP, loaded.predict(tests[y][ages])) for y in (2015, 2018)
    ]
    # A lower-is-better metric crosses above its max.
    line = expected[-1] - 1e-6
    report = staleness(
        "age@1", versions, metric="mae", max=line, label="AGEP", bootstrap={"samples": 0},
        store=store,
    )  # fmt: skip
    assert [p.value for p in report.points] == pytest.approx(expected, abs=1e-9)
    assert [p.crossed for p in report.points] == [v > line for v in expected]
    assert report.reasons == ["crossed"] and "above the max" in report.failures[0].message
    r2 = staleness("age@1", versions[-1:], metric="r2", store=store, **{**LABEL, "label": "AGEP"})
    assert r2.value("last") == pytest.approx(
        r2_score(tests[2018].AGEP, loaded.predict(tests[2018][ages]))
    )
    with pytest.raises(UsageError, match=r"'accuracy' does not apply to a regression label"):
        staleness("age@1", versions, metric="accuracy", label="AGEP", store=store)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "acc"}, r"metric 'acc' is unknown; use one of: accuracy"),
        ({"metric": "mae"}, r"'mae' does not apply to a binary label; use one of: accuracy"),
        ({"metric": "accuracy", "min": 0.9, "max": 0.1}, r"min 0.9 is above max 0.1"),
        ({"metric": "accuracy", "bootstrap": {"samples": -1}}, r"bootstrap samples"),
    ],
)
def test_bad_input_is_one_usage_error(project: Any, kwargs: dict[str, Any], message: str) -> None:
    _root, store, _model, _tests, tables = project
    with pytest.raises(UsageError, match=message):
        staleness("employment@candidate", [tables[2018]], label="employed", store=store, **kwargs)


def test_cli(project: Any, tmp_path: Path) -> None:
    root, store, model, tests, _tables = project
    # Data files for the JSON run (read, not composed: fast), recipes for the page.
    files = [root / "2015-test.parquet", root / "2016-test.parquet"]
    r = run_assay(
        "staleness", "employment@candidate", *files, "--metric", "accuracy", "--min", HIGH,
        "--label", "employed", "--bootstrap", 0, "--json", "--store", store.url, cwd=tmp_path,
    )  # fmt: skip
    assert r.rc == 1, r.err
    out = r.json()
    expected = [accuracy_score(t.employed, model.predict(t[FEATURES])) for t in tests.values()]
    assert [p["value"] for p in out["points"]] == pytest.approx(expected[:2], abs=1e-12)
    assert out["first_crossing"] == 1 and out["passed"] is False
    assert out["reasons"] == ["crossed"] and out["last"] == pytest.approx(expected[1])
    newest = ["2017.yaml:test", "2018.yaml:test"]  # both above LOW; named from root
    args = ["staleness", "employment@candidate", *newest, "--store", store.url]
    r = run_assay(
        *args, "--metric", "accuracy", "--min", LOW, "--bootstrap", 100,
        "--html", tmp_path / "s.html", "--markdown", tmp_path / "s.md", cwd=root,
    )  # fmt: skip
    assert r.rc == 0, r.err
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "2018.yaml:test" in r.out and "never crosses min 0.765" in r.out
    md = (tmp_path / "s.md").read_text()
    assert f"| {expected[3]:.4f} |" in md
    assert "plotly-graph-div" in (tmp_path / "s.html").read_text()
    bad = [
        (["--metric", "acc"], "'acc'"),
        (["--metric", "accuracy", "--min", "0.9", "--max", "0.1"], "min 0.9 is above max 0.1"),
    ]
    for extra, needle in bad:
        r = run_assay(*args, *extra, "--html", tmp_path / "bad.html", cwd=root)
        assert r.rc == 2 and needle in r.error_line(), r.err
    r = run_assay(
        "staleness", "employment@candidate", tmp_path / "nowhere.yaml:test", "--metric",
        "accuracy", "--html", tmp_path / "bad.html", "--store", store.url, cwd=tmp_path,
    )  # fmt: skip
    assert r.rc == 2 and "nowhere.yaml" in r.error_line()
    assert not (tmp_path / "bad.html").exists()


def test_the_section_draws_from_plain_data(project: Any) -> None:
    _root, store, _model, _tests, tables = project
    report = staleness(
        "employment@candidate", list(tables.values()), metric="accuracy", min=HIGH,
        label="employed", bootstrap={"samples": 50}, store=store,
    )  # fmt: skip
    data = json.loads(json.dumps(report.to_dict()))  # as an evaluation records it
    html = page.section(data)
    assert html.startswith("<section") and "<h2 id='diagnostic-staleness'>" in html
    assert html.count("<tr class='bad'>") == sum(p.crossed for p in report.points)
    assert f"min {HIGH:g}" in html and '"fill":"tonexty"' in html
    assert "yes" in page.markdown(data)
