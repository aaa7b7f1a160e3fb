"""Fairness, against a pandas hand computation, stored Fairlearn outputs and a real
model trained on the ACS data; the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

import assay
from assay.diagnostics.fairness import fairness, fairness_from_predictions
from assay.errors import UsageError
from assay.scoring.metrics import Predictions
from tests_helpers import run_assay, year

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
# Made by `bench/.venv/bin/python bench/fairness_check.py fixture` with Fairlearn.
FAIRLEARN = Path(__file__).parent / "fixtures" / "fairlearn_small.json"


def by_hand(frame: pd.DataFrame, groups: list[str]) -> dict[str, Any]:
    """Fairlearn's definitions, by pandas: rates per group, max − min, min / max (a group
    without positives has a TPR of 0, one without negatives an FPR of 0)."""
    rows = []
    for key, g in frame.groupby(groups):
        pos, neg = g[g.y == 1], g[g.y == 0]
        rows.append(
            {
                "key": key,
                "count": len(g),
                "sel": g.yhat.mean(),
                "tpr": pos.yhat.mean() if len(pos) else 0.0,
                "fpr": neg.yhat.mean() if len(neg) else 0.0,
            }
        )
    t = pd.DataFrame(rows)
    return {
        "table": t,
        "demographic_parity_difference": t.sel.max() - t.sel.min(),
        "demographic_parity_ratio": t.sel.min() / t.sel.max(),
        "equalized_odds_difference": max(t.tpr.max() - t.tpr.min(), t.fpr.max() - t.fpr.min()),
        "equalized_odds_ratio": min(t.tpr.min() / t.tpr.max(), t.fpr.min() / t.fpr.max()),
    }


def small_table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "race": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),
            "y": rng.integers(0, 2, n),
        }
    )
    frame["yhat"] = np.where(rng.random(n) < 0.7, frame.y, 1 - frame.y)
    # One group with no positives: its TPR is 0 in Fairlearn (an empty confusion row).
    frame.loc[(frame.sex == "m") & (frame.race == 3), "y"] = 0
    return frame


def predictions(frame: pd.DataFrame) -> Predictions:
    y, yhat = frame.y.to_numpy(), frame.yhat.to_numpy()
    return Predictions("binary", y, yhat, None, (0, 1))


def test_a_small_table_matches_a_pandas_hand_computation() -> None:
    frame = small_table()
    report = fairness_from_predictions(
        predictions(frame),
        {"sex": frame.sex.tolist(), "race": frame.race.tolist()},
        bootstrap={"samples": 200, "seed": 1},
    )
    assert report.feature == "sex & race"
    hand = by_hand(frame, ["sex", "race"])
    out = report.to_dict()
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    ):
        assert out[name] == pytest.approx(hand[name], abs=1e-12), name
    inter = [g for g in report.groups if g.feature == "sex & race"]
    assert [g.count for g in inter] == hand["table"]["count"].tolist()
    assert [g.true_positive_rate for g in inter] == pytest.approx(hand["table"].tpr.tolist())
    assert [g.false_positive_rate for g in inter] == pytest.approx(hand["table"].fpr.tolist())
    assert any(w.code == "undefined_rate" and "sex=m, race=3" in w.message for w in report.warnings)
    for column in ("sex", "race"):
        one = by_hand(frame, [column])
        got = report.by_feature[column]["demographic_parity_difference"].value
        assert got == pytest.approx(one["demographic_parity_difference"], abs=1e-12)
    lo, hi = out["intervals"]["demographic_parity_difference"]
    assert lo <= out["demographic_parity_difference"] <= hi and lo < hi
    again = fairness_from_predictions(
        predictions(frame),
        {"sex": frame.sex.tolist(), "race": frame.race.tolist()},
        bootstrap={"samples": 200, "seed": 1},
    )
    assert again.to_dict()["intervals"] == out["intervals"]  # seeded


def test_matches_stored_fairlearn_outputs() -> None:
    stored = json.loads(FAIRLEARN.read_text())
    frame = pd.DataFrame(stored["rows"])
    report = fairness_from_predictions(
        predictions(frame),
        {c: frame[c].tolist() for c in stored["sensitive"]},
        bootstrap={"samples": 0},
    )
    for name, value in stored["fairlearn"].items():
        assert report.value(name) == pytest.approx(value, abs=1e-12), name
    inter = [g for g in report.groups if g.feature == report.feature]
    assert [g.selection_rate for g in inter] == pytest.approx(stored["by_group"]["selection_rate"])
    assert [g.true_positive_rate for g in inter] == pytest.approx(
        stored["by_group"]["true_positive_rate"]
    )


def test_thresholds_fail_with_reason_codes() -> None:
    frame = small_table()
    sens = {"sex": frame.sex.tolist()}
    dpd = by_hand(frame, ["sex"])["demographic_parity_difference"]
    report = fairness_from_predictions(
        predictions(frame),
        sens,
        bootstrap={"samples": 0},
        thresholds=[
            {"metric": "demographic_parity_difference", "max": dpd / 2},
            {"metric": "demographic_parity_ratio", "min": 0.0},
        ],
    )
    assert not report.passed and report.reasons == ["above_max"]
    with pytest.raises(UsageError, match="not a fairness number"):
        fairness_from_predictions(
            predictions(frame), sens, thresholds=[{"metric": "auc", "max": 1}]
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A store with a logistic regression trained on 4,000 people of 2018, and 3,000
    others to judge it on."""
    root = tmp_path_factory.mktemp("fairness")
    rows = year(acs, 2018).to_pandas().sample(7_000, random_state=0)
    train, test = rows.iloc[:4_000], rows.iloc[4_000:]
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train.employed)
    store = assay.init_store(root / ".assay")
    assay.register_model(
        "employment", model, sample=train[FEATURES].head(50), aliases=["candidate"], store=store
    )
    regressor = LinearRegression().fit(train[FEATURES], train.employed)
    assay.register_model("regressor", regressor, sample=train[FEATURES].head(50), store=store)
    test.to_parquet(root / "test.parquet", index=False)
    yield root, store, model, test
    store.close()


def test_a_real_model_matches_pandas_and_sklearn(project: Any) -> None:
    _root, store, model, test = project
    table = pa.Table.from_pandas(test, preserve_index=False)
    report = fairness(
        "employment@candidate",
        table,
        sensitive=["SEX", "RAC1P"],
        label="employed",
        bootstrap={"samples": 100},
        store=store,
    )
    frame = pd.DataFrame(
        {
            "SEX": test.SEX,
            "RAC1P": test.RAC1P,
            "y": test.employed,
            "yhat": model.predict(test[FEATURES]),
        }
    )
    hand = by_hand(frame, ["SEX", "RAC1P"])
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        assert report.value(name) == pytest.approx(hand[name], abs=1e-12)
    women = next(g for g in report.groups if g.values == {"SEX": 2})
    w = frame[frame.SEX == 2]
    assert women.count == len(w)
    assert women.metrics["accuracy"] == pytest.approx(accuracy_score(w.y, w.yhat))
    assert women.metrics["f1"] == pytest.approx(f1_score(w.y, w.yhat))
    assert report.overall["selection_rate"] == pytest.approx(frame.yhat.mean())
    with pytest.raises(UsageError, match=r"no sensitive column\(s\) 'sex'.*SEX"):
        fairness("employment@candidate", table, sensitive=["sex"], label="employed", store=store)
    with pytest.raises(UsageError, match=r"regressor@1 answers numbers.*needs a classifier"):
        fairness("regressor@1", table, sensitive=["SEX"], label="employed", store=store)


def test_cli(project: Any) -> None:
    root, store, model, test = project
    data = root / "test.parquet"
    r = run_assay(
        "fairness",
        "employment@candidate",
        data,
        "--sensitive",
        "SEX",
        "--sensitive",
        "RAC1P",
        "--label",
        "employed",
        "--json",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 0, r.err
    out = r.json()
    frame = pd.DataFrame(
        {
            "SEX": test.SEX,
            "RAC1P": test.RAC1P,
            "y": test.employed,
            "yhat": model.predict(test[FEATURES]),
        }
    )
    hand = by_hand(frame, ["SEX", "RAC1P"])
    assert out["demographic_parity_difference"] == pytest.approx(
        hand["demographic_parity_difference"], abs=1e-12
    )
    assert out["equalized_odds_difference"] == pytest.approx(
        hand["equalized_odds_difference"], abs=1e-12
    )
    r = run_assay(
        "fairness",
        "employment@candidate",
        data,
        "--sensitive",
        "SEX",
        "--label",
        "employed",
        "--max",
        "demographic_parity_difference=0",
        "--markdown",
        root / "f.md",
        "--html",
        root / "f.html",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 1
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "demographic_parity_difference" in (root / "f.md").read_text()
    assert "<table" in (root / "f.html").read_text()
    r = run_assay(
        "fairness",
        "employment@candidate",
        data,
        "--sensitive",
        "sex",
        "--label",
        "employed",
        "--store",
        store.url,
        cwd=root,
    )
    assert r.rc == 2 and "'sex'" in r.error_line() and "SEX" in r.error_line()
    r = run_assay(
        "fairness",
        "employment@candidate",
        data,
        "--sensitive",
        "SEX",
        "--max",
        "auc=0.1",
        "--store",
        store.url,
        cwd=root,
    )
    assert (
        r.rc == 2
        and "'auc'" in r.error_line()
        and "demographic_parity_difference" in r.error_line()
    )


def test_min_group_rows_leaves_small_groups_out_of_the_disparities() -> None:
    frame = small_table()
    sizes = frame.groupby(["sex", "race"]).size()
    floor = int(sizes.median()) + 1  # leaves out about half of the groups
    report = fairness_from_predictions(
        predictions(frame),
        {"sex": frame.sex.tolist(), "race": frame.race.tolist()},
        bootstrap={"samples": 0},
        min_group_rows=floor,
    )
    big = sizes[sizes >= floor].index
    kept = frame.set_index(["sex", "race"]).loc[big].reset_index()
    hand = by_hand(kept, ["sex", "race"])
    assert 0 < len(big) < len(sizes)
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        assert report.value(name) == pytest.approx(hand[name], abs=1e-12), name
    left_out = [w for w in report.warnings if w.code == "left_out"]
    assert len(left_out) == (sizes < floor).sum() + sum(
        (frame.groupby(c).size() < floor).sum() for c in ("sex", "race")
    )
    assert len([g for g in report.groups if g.feature == "sex & race"]) == len(sizes)
