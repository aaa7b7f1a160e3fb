"""Permutation importance, against scikit-learn's permutation_importance on a real model
trained on the ACS data (same metric, repeats and random_state: the same shuffles, so
the same numbers to 1e-9); the CLI end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression

import assay
from assay.diagnostics.importance import importance
from assay.errors import UsageError
from tests_helpers import run_assay, year

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
RECIPE = """\
dataset: employment
split: {seed: 0, fractions: {train: 0.5, test: 0.5}}
slices: {women: "SEX = 2"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A logistic regression trained on 3,000 people of 2018, and 1,500 others."""
    root = tmp_path_factory.mktemp("importance")
    rows = year(acs, 2018).to_pandas().sample(4_500, random_state=1)
    train, test = rows.iloc[:3_000], rows.iloc[3_000:].reset_index(drop=True)
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train.employed)
    store = assay.init_store(root / ".assay")
    assay.register_model(
        "employment", model, sample=train[FEATURES].head(50), aliases=["candidate"], store=store
    )
    test.to_parquet(root / "test.parquet", index=False)
    # The same people as a dataset with a recipe that names a split and a slice.
    assay.create_dataset(store, "employment", ["id"], label="employed")
    assay.add_delta(store, "employment", root / "test.parquet", name="base")
    (root / "recipe.yaml").write_text(RECIPE)
    yield root, store, model, test
    store.close()


@pytest.mark.parametrize(
    ("metric", "scoring"), [("accuracy", "accuracy"), ("log_loss", "neg_log_loss")]
)
def test_equals_sklearn_permutation_importance(project: Any, metric: str, scoring: str) -> None:
    _root, store, model, test = project
    table = pa.Table.from_pandas(test[[*FEATURES, "employed"]], preserve_index=False)
    report = importance(
        "employment@candidate",
        table,
        metric=metric,
        repeats=4,
        random_state=3,
        label="employed",
        store=store,
    )
    ref = permutation_importance(
        model, test[FEATURES], test.employed, scoring=scoring, n_repeats=4, random_state=3
    )
    overall = report.slice("overall")
    by_column = {c.column: c for c in overall.columns}
    for i, column in enumerate(FEATURES):
        got = by_column[column]
        assert got.mean == pytest.approx(ref.importances_mean[i], abs=1e-9), column
        assert got.std == pytest.approx(ref.importances_std[i], abs=1e-9), column
        assert got.repeats == pytest.approx(tuple(ref.importances[i]), abs=1e-9)
    assert overall.ranking() == [
        FEATURES[i] for i in np.argsort(-ref.importances_mean, kind="stable")
    ]
    # The interval is Student's t over the repeats.
    top = overall.columns[0]
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(top.repeats), scale=stats.sem(top.repeats))
    assert top.interval == pytest.approx((lo, hi))


def test_a_slice_permutes_within_its_rows(project: Any) -> None:
    _root, store, model, test = project
    table = pa.Table.from_pandas(test[[*FEATURES, "employed"]], preserve_index=False)
    report = importance(
        "employment@candidate",
        table,
        repeats=3,
        random_state=0,
        slices=["SEX = 2"],
        label="employed",
        store=store,
    )
    women = test[test.SEX == 2]
    ref = permutation_importance(
        model, women[FEATURES], women.employed, scoring="accuracy", n_repeats=3, random_state=0
    )
    got = {c.column: c.mean for c in report.slice("SEX = 2").columns}
    assert [got[c] for c in FEATURES] == pytest.approx(list(ref.importances_mean), abs=1e-9)
    assert report.slice("SEX = 2").rows == len(women)
    with pytest.raises(UsageError, match="does not apply"):
        importance("employment@candidate", table, metric="r2", label="employed", store=store)


def test_cli(project: Any) -> None:
    root, store, model, test = project
    r = run_assay(
        "importance",
        "employment@candidate",
        root / "test.parquet",
        "--label",
        "employed",
        "--repeats",
        "2",
        "--slice",
        "AGEP >= 65",
        "--json",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 0, r.err
    out = r.json()
    ref = permutation_importance(
        model, test[FEATURES], test.employed, scoring="accuracy", n_repeats=2, random_state=0
    )
    means = {c["column"]: c["mean"] for c in out["slices"][0]["columns"]}
    assert [means[c] for c in FEATURES] == pytest.approx(list(ref.importances_mean), abs=1e-9)
    assert [s["slice"] for s in out["slices"]] == ["overall", "AGEP >= 65"]
    r = run_assay(
        "importance",
        "employment@candidate",
        root / "test.parquet",
        "--label",
        "employed",
        "--repeats",
        "2",
        "--markdown",
        root / "i.md",
        "--html",
        root / "i.html",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 0 and max(len(line) for line in r.out.splitlines()) <= 80
    assert "SCHL" in (root / "i.md").read_text() and "<table" in (root / "i.html").read_text()
    r = run_assay(
        "importance",
        "employment@candidate",
        root / "test.parquet",
        "--label",
        "employed",
        "--metric",
        "nope",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 2 and "'nope'" in r.error_line()


def test_cli_reads_a_recipe_split_its_label_and_its_slices(project: Any) -> None:
    root, store, model, _test = project
    r = run_assay(
        "importance",
        "employment@candidate",
        "recipe.yaml:test",
        "--repeats",
        "2",
        "--slice",
        "women",
        "--json",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 0, r.err
    out = r.json()
    test = assay.compose(root / "recipe.yaml", store=store).to_pandas(split="test")
    women = test[test.SEX == 2]
    ref = permutation_importance(
        model, women[FEATURES], women.employed, scoring="accuracy", n_repeats=2, random_state=0
    )
    got = {c["column"]: c["mean"] for c in out["slices"][1]["columns"]}
    assert out["slices"][1]["slice"] == "women" and out["slices"][1]["rows"] == len(women)
    assert [got[c] for c in FEATURES] == pytest.approx(list(ref.importances_mean), abs=1e-9)
    r = run_assay(
        "importance",
        "employment@candidate",
        "recipe.yaml:test",
        "--slice",
        "nobody",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 2 and "'nobody'" in r.error_line() and "women" in r.error_line()
