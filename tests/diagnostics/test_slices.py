"""Slice finding (SliceLine) against a brute-force enumeration of every slice, with and
without pruning; bins against numpy's quantiles; each slice's expression against the
rows DuckDB selects with it; a planted weak subgroup found on the real ACS data."""

from __future__ import annotations

import itertools
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

import assay
from assay.data.expr import parse
from assay.diagnostics.slices import find_slices, slices_from_errors
from assay.errors import UsageError
from tests_helpers import year


def score(size: float, errors: float, n: int, e_avg: float, alpha: float) -> float:
    """The paper's score, written out."""
    return alpha * ((errors / size) / e_avg - 1) - (1 - alpha) * (n / size - 1)


def brute_force(
    frame: pd.DataFrame, e: np.ndarray, *, k: int, max_level: int, min_support: int, alpha: float
) -> list[tuple[tuple[tuple[str, Any], ...], float, int]]:
    """Every conjunction of up to ``max_level`` predicates on different (categorical)
    columns, counted by pandas; the top-k by score, then size, then fewer predicates,
    then the predicates' order (columns as given, values sorted)."""
    n, e_avg = len(frame), float(e.sum() / len(frame))
    columns = list(frame.columns)
    rank = {c: {v: i for i, v in enumerate(sorted(frame[c].unique()))} for c in columns}
    data = frame.assign(_e=e)
    found = []
    for level in range(1, max_level + 1):
        for combo in itertools.combinations(columns, level):
            groups = data.groupby(list(combo))["_e"].agg(["size", "sum"])
            for values, row in groups.iterrows():
                values = values if isinstance(values, tuple) else (values,)
                size, errors = int(row["size"]), float(row["sum"])
                sc = score(size, errors, n, e_avg, alpha)
                if size >= min_support and sc > 0:
                    order = tuple(
                        (columns.index(c), rank[c][v]) for c, v in zip(combo, values, strict=True)
                    )
                    found.append(
                        (-sc, -size, level, order, tuple(zip(combo, values, strict=True)), sc)
                    )
    found.sort(key=lambda f: f[:4])
    return [(f[4], f[5], -f[1]) for f in found[:k]]


def planted(seed: int, n: int = 1_500, squared: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Random categorical columns; errors at a 10% base rate, 60% inside two planted
    slices (one of two predicates, one of three)."""
    rng = np.random.default_rng(seed)
    domains = {"a": 3, "b": 4, "c": 2, "d": 5, "e": 3}
    frame = pd.DataFrame({c: rng.integers(0, d, n) for c, d in domains.items()})
    frame["c"] = frame["c"].map({0: "no", 1: "yes"})
    rate = np.full(n, 0.1)
    rate[(frame.a == 1) & (frame.b == 2)] = 0.6
    rate[(frame.c == "yes") & (frame.d == 0) & (frame.e == 2)] = 0.6
    if squared:
        return frame, rng.exponential(rate) ** 2
    return frame, (rng.random(n) < rate).astype(np.float64)


def found(report: Any) -> list[tuple[tuple[tuple[str, Any], ...], float, int]]:
    return [
        (tuple((p.column, p.value) for p in s.predicates), s.score, s.size) for s in report.slices
    ]


def same(ours: list[Any], reference: list[Any]) -> None:
    assert [o[0] for o in ours] == [r[0] for r in reference]
    assert [o[2] for o in ours] == [r[2] for r in reference]
    np.testing.assert_allclose([o[1] for o in ours], [r[1] for r in reference], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(
    ("max_level", "min_support", "alpha", "k"), [(2, 20, 0.95, 5), (3, 10, 0.97, 8)]
)
def test_the_top_k_is_the_brute_force_top_k(
    seed: int, max_level: int, min_support: int, alpha: float, k: int
) -> None:
    frame, e = planted(seed)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    report = slices_from_errors(
        table, e, k=k, max_level=max_level, min_support=min_support, alpha=alpha
    )
    reference = brute_force(
        frame, e, k=k, max_level=max_level, min_support=min_support, alpha=alpha
    )
    assert len(reference) >= 4  # enough to order
    same(found(report), reference)
    unpruned = slices_from_errors(
        table, e, k=k, max_level=max_level, min_support=min_support, alpha=alpha, prune=False
    )
    same(found(unpruned), reference)
    assert report.average_error == pytest.approx(e.mean(), abs=1e-15)
    assert report.slices[0].error == pytest.approx(report.slices[0].errors / report.slices[0].size)


def test_squared_errors_and_deep_levels_match_the_brute_force() -> None:
    """Real-valued errors exercise the bound's largest error (``sm``); level 4 the
    parents check over more than two parents. Pruning must cut candidates and change
    nothing."""
    frame, e = planted(5, n=3_000, squared=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    kw: dict[str, Any] = {"k": 6, "max_level": 4, "min_support": 15, "alpha": 0.9}
    report = slices_from_errors(table, e, **kw)
    unpruned = slices_from_errors(table, e, prune=False, **kw)
    reference = brute_force(frame, e, **kw)
    same(found(report), reference)
    same(found(unpruned), reference)
    pruned_work = sum(lv.evaluated for lv in report.levels)
    assert pruned_work < sum(lv.evaluated for lv in unpruned.levels)
    assert report.errors == "misclassification"  # the default kind; find_slices sets it


def test_counting_only_the_candidates_cells_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Column sets with too many cells for one bincount are counted by a search over
    the candidates' cells instead; forced here for every column set."""
    from assay.diagnostics import slices

    for squared in (False, True):
        frame, e = planted(6, n=2_000, squared=squared)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        kw: dict[str, Any] = {"k": 6, "max_level": 3, "min_support": 15, "alpha": 0.97}
        monkeypatch.setattr(slices, "_DENSE_CELLS", 0)
        same(found(slices_from_errors(table, e, **kw)), brute_force(frame, e, **kw))
        monkeypatch.undo()


def test_the_planted_slice_comes_first() -> None:
    frame, e = planted(11, n=4_000)
    report = slices_from_errors(pa.Table.from_pandas(frame), e, min_support=40)
    assert [(p.column, p.op, p.value) for p in report.slices[0].predicates] == [
        ("a", "=", 1),
        ("b", "=", 2),
    ]
    assert report.value("top_error") == report.slices[0].error > 0.5
    assert report.value("slices_found") == 5


def rows_selected(table: pa.Table, expr: str) -> int:
    t = ibis.memtable(table)
    return int(t.filter(parse(expr, context="slice").predicate(t)).count().execute())


def test_bins_are_quantiles_and_each_expression_selects_its_rows() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    age = rng.integers(16, 95, n)
    income = np.round(rng.lognormal(10, 1, n), 2)
    income[rng.random(n) < 0.05] = np.nan
    town = rng.choice(["Boston", "Salem", "Lowell", None], n)
    table = pa.table(
        {
            "age": age,
            "income": pa.array(income, from_pandas=True),
            "town": town,
            "flag": rng.random(n) < 0.3,
        }
    )
    e = ((rng.random(n) < 0.1) | ((age >= 70) & (rng.random(n) < 0.5))).astype(np.float64)
    report = slices_from_errors(table, e, k=60, max_level=2, min_support=10, bins=5, alpha=1)
    kinds = {c["column"]: c for c in report.columns}
    cuts = np.unique(np.quantile(age, [0.2, 0.4, 0.6, 0.8], method="inverted_cdf"))
    assert kinds["age"]["kind"] == "binned" and kinds["age"]["predicates"] == len(cuts) + 1
    assert kinds["income"]["predicates"] == 5 + 1  # five bins and "is null"
    assert kinds["town"] == {"column": "town", "kind": "categorical", "predicates": 4}
    age_predicates = {
        (p["op"], str(p["value"]))
        for s in report.to_dict()["slices"]
        for p in s["predicates"]
        if p["column"] == "age"
    }
    assert age_predicates  # the planted old-age errors are found
    assert age_predicates <= {("<", str(int(cuts[0]))), (">=", str(int(cuts[-1])))} | {
        ("range", str([int(lo), int(hi)])) for lo, hi in itertools.pairwise(cuts)
    }
    assert len(report.slices) >= 40
    ops = {p.op for s in report.slices for p in s.predicates}
    assert ops == {"=", "<", ">=", "range", "is null"}
    for s in report.slices:
        assert rows_selected(table, s.expr) == s.size, s.expr
    for s in report.to_dict()["slices"]:
        assert set(s) >= {"expr", "predicates", "score", "size", "error"}


def test_nulls_are_a_value_of_their_own() -> None:
    rng = np.random.default_rng(4)
    n = 1_000
    town = rng.choice(["a", "b", None], n).tolist()
    e = np.array([1.0 if t is None and rng.random() < 0.7 else 0.0 for t in town])
    table = pa.table({"town": town, "x": rng.integers(0, 3, n)})
    report = slices_from_errors(table, e, k=1, min_support=10)
    top = report.slices[0]
    assert top.expr == "town is null"
    assert top.size == sum(t is None for t in town) == rows_selected(table, top.expr)


def test_thresholds_and_bad_usage() -> None:
    frame, e = planted(0)
    table = pa.Table.from_pandas(frame)
    failed = slices_from_errors(
        table, e, min_support=20, thresholds=[{"metric": "top_error", "max": 0.3}]
    )
    assert not failed.passed and failed.reasons == ["above_max"]
    assert failed.to_dict()["passed"] is False and "top_error" in failed.failures[0].message
    passed = slices_from_errors(
        table, e, min_support=20, thresholds=[{"metric": "top_error", "max": 0.9}]
    )
    assert passed.passed and passed.to_dict()["status"] == "pass"
    none = slices_from_errors(table, np.zeros(len(frame)), min_support=20)
    assert none.slices == () and none.value("top_score") == 0.0 and none.passed
    assert none.warnings[0].code == "no_errors"
    assert none.value("top_error") == 0.0 and none.value("slices_found") == 0
    with pytest.raises(UsageError, match="no slice number 'auc'; use one of: top_score"):
        none.value("auc")
    for kw, message in [
        ({"k": 0}, "k 0 must be a whole number, 1 or more"),
        ({"alpha": 0}, "alpha 0 must be a number above 0"),
        ({"min_support": -3}, "min_support -3"),
        ({"bins": 1}, "bins 1"),
        ({"columns": ["nope"]}, r"no slice column\(s\) 'nope'"),
        ({"thresholds": [{"metric": "auc", "max": 1}]}, "'auc' is not a number slices gives"),
    ]:
        with pytest.raises(UsageError, match=message):
            slices_from_errors(table, e, **kw)
    with pytest.raises(UsageError, match="errors must be finite"):
        slices_from_errors(table, -e, min_support=20)


FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]


@pytest.fixture(scope="module")
def weak(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A decision tree trained on 2018 rows where disabled women's labels are flipped:
    on the real labels it is weak on exactly that subgroup."""
    root = tmp_path_factory.mktemp("slices")
    rows = year(acs, 2018).to_pandas().sample(12_000, random_state=0)
    train, test = rows.iloc[:8_000], rows.iloc[8_000:]
    flipped = train.employed.where(~((train.SEX == 2) & (train.DIS == 1)), 1 - train.employed)
    model = DecisionTreeClassifier(min_samples_leaf=20, random_state=0)
    model.fit(train[FEATURES], flipped)
    store = assay.init_store(root / ".assay")
    assay.register_model("tree", model, sample=train[FEATURES].head(50), store=store)
    regressor = LinearRegression().fit(train[["SCHL", "MAR", "SEX"]], train.AGEP)
    assay.register_model(
        "age", regressor, sample=train[["SCHL", "MAR", "SEX"]].head(50), store=store
    )
    yield root, store, model, regressor, test
    store.close()


def test_a_planted_weak_subgroup_is_found_on_acs(weak: Any) -> None:
    _root, store, model, _regressor, test = weak
    table = pa.Table.from_pandas(test[[*FEATURES, "employed"]], preserve_index=False)
    report = find_slices("tree@1", table, label="employed", min_support=50, store=store)
    wrong = (model.predict(test[FEATURES]) != test.employed).to_numpy()
    assert report.errors == "misclassification"
    assert report.average_error == pytest.approx(wrong.mean(), abs=1e-15)
    top = report.slices[0]
    assert {(p.column, p.value) for p in top.predicates} == {("SEX", 2), ("DIS", 1)}
    inside = ((test.SEX == 2) & (test.DIS == 1)).to_numpy()
    assert top.size == inside.sum() and top.error == pytest.approx(wrong[inside].mean())
    assert rows_selected(table, top.expr) == top.size
    assert report.model == "tree@1" and report.label == "employed"


def test_a_column_with_one_value_is_no_candidate_unless_named(weak: Any) -> None:
    """2018's rows all hold year = 2018: a predicate on it would repeat every slice."""
    _root, store, _model, _regressor, test = weak
    table = pa.Table.from_pandas(test[[*FEATURES, "employed", "year"]], preserve_index=False)
    report = find_slices("tree@1", table, label="employed", min_support=50, k=20, store=store)
    assert report.slices and all(p.column != "year" for s in report.slices for p in s.predicates)
    named = find_slices(
        "tree@1", table, label="employed", min_support=50, k=20, columns=[*FEATURES, "year"],
        store=store,
    )  # fmt: skip
    assert any(p.column == "year" for s in named.slices for p in s.predicates)


def test_a_regressor_is_judged_on_its_squared_errors(weak: Any) -> None:
    _root, store, _model, regressor, test = weak
    table = pa.Table.from_pandas(test[[*FEATURES, "employed"]], preserve_index=False)
    columns = ["MAR", "DIS", "SEX"]
    report = find_slices(
        "age@1", table, label="AGEP", columns=columns, k=3, min_support=50, store=store
    )
    e = (test.AGEP - regressor.predict(test[["SCHL", "MAR", "SEX"]])).to_numpy() ** 2
    assert report.errors == "squared error"
    assert report.average_error == pytest.approx(e.mean(), rel=1e-12)
    reference = brute_force(
        test[columns].reset_index(drop=True), e, k=3, max_level=2, min_support=50, alpha=0.95
    )
    assert [(tuple((p.column, p.value) for p in s.predicates)) for s in report.slices] == [
        r[0] for r in reference
    ]
    np.testing.assert_allclose(
        [s.score for s in report.slices], [r[1] for r in reference], rtol=1e-9
    )
    with pytest.raises(UsageError, match="'employed' is the label"):
        find_slices("tree@1", table, label="employed", columns=["employed"], store=store)
