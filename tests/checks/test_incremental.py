"""Incremental checks: a version that adds inserts to one checked before reads only the
new deltas, and every verdict, value and example equals a full pass and pandas."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import assay
from assay.checks import check
from tests_helpers import run_assay

ACS = Path(__file__).parents[2] / "examples/data/acs_employment_ma.parquet"
SIZE = 3
SUITE: dict[str, Any] = {
    "suite": "incremental",
    "sample_size": SIZE,
    "expectations": [
        {"row_count": {"min": 1}},
        {"not_null": {"column": "MIL"}},  # FAIL: planted nulls
        {"between": {"column": "AGEP", "min": 0, "max": 90}},  # FAIL: ages over 90
        {"unique": {"column": "id"}},
        {"mean_between": {"column": "employed", "min": 0.2, "max": 0.8}},
        {"stdev_between": {"column": "AGEP", "min": 10, "max": 30}},
        {"quantile_between": {"column": "AGEP", "q": 0.9, "min": 60, "max": 80}},
        {"median_between": {"column": "SCHL", "min": 1, "max": 24}},
        {"distinct_count_between": {"column": "SCHL", "min": 5, "max": 30}},
        {"in_set": {"column": "RAC1P", "values": [1, 2, 3, 4, 5, 6, 7, 8]}},  # FAIL: 9
        {"compare": {"left": "AGEP", "op": ">", "right": "SCHL", "mostly": 0.9}},
        {"min_between": {"column": "AGEP", "min": 0}},
        {"max_between": {"column": "AGEP", "max": 99}},
        {"sum_between": {"column": "employed", "min": 0}},
        {"null_fraction": {"column": "MIL", "max": 0.5}},
        {
            "slice": {
                "name": "women",
                "where": "SEX = 2",
                "expectations": [
                    {"expression": {"expr": "AGEP >= 16 or ESP > 0"}},
                    {"mean_between": {"column": "AGEP", "min": 1, "max": 90}},
                ],
            }
        },
    ],
}


def _frame(rows: pa.Table, delta: int) -> pd.DataFrame:
    df = rows.to_pandas()
    df["MIL"] = df["MIL"].astype("Int64")
    df["_delta"] = delta
    return df


@pytest.fixture(scope="module")
def parts() -> dict[str, pa.Table]:
    """Real ACS rows cut into deltas, MIL nulls planted (seeded)."""
    acs = pq.read_table(ACS).slice(0, 18_000)
    rng = np.random.default_rng(13)
    mil = acs.column("MIL").to_numpy().astype(float)
    mil[rng.choice(len(mil), 150, replace=False)] = np.nan
    acs = acs.set_column(
        acs.schema.get_field_index("MIL"), "MIL", pa.array(mil, from_pandas=True).cast(pa.int64())
    )
    base, ins1, ins2 = acs.slice(0, 8_000), acs.slice(8_000, 6_000), acs.slice(14_000, 4_000)
    up = base.slice(0, 300)  # live ids, new ages
    up = up.set_column(up.schema.get_field_index("AGEP"), "AGEP", pa.array(np.full(300, 95)))
    gone = base.slice(2_000, 200).select(["id"])
    return {"base": base, "up": up, "gone": gone, "ins1": ins1, "ins2": ins2}


@pytest.fixture
def history(tmp_path: Path, parts: dict[str, pa.Table]) -> Iterator[assay.Store]:
    """A store with base, an upsert, a delete and an insert: version A is all four."""
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "acs", ["id"], label="employed")
        assay.add_delta(store, "acs", parts["base"], name="base")
        assay.add_delta(store, "acs", parts["up"], op="upsert", name="up")
        assay.add_delta(store, "acs", parts["gone"], op="delete", name="gone")
        assay.add_delta(store, "acs", parts["ins1"], name="ins1")
        yield store


def reference(parts: dict[str, pa.Table], names: list[str]) -> pd.DataFrame:
    """The version's rows by pandas, in its order: by the delta of a row's final value,
    then by key."""
    df = _frame(parts["base"], 1)
    up = _frame(parts["up"], 2)
    df = pd.concat([df[~df["id"].isin(up["id"])], up])
    df = df[~df["id"].isin(parts["gone"].column("id").to_numpy())]
    for i, name in enumerate(names, start=4):
        df = pd.concat([df, _frame(parts[name], i)])
    return df.sort_values(["_delta", "id"]).reset_index(drop=True)


def first_rows(df: pd.DataFrame, bad: pd.Series, columns: list[str]) -> list[dict[str, Any]]:
    rows = df[bad.fillna(False).astype(bool)].head(SIZE)
    return [
        {c: (None if pd.isna(r[c]) else int(r[c])) for c in ["id", *columns]}
        for _, r in rows.iterrows()
    ]


def assert_matches_pandas(results: list[dict[str, Any]], df: pd.DataFrame) -> None:
    """Observed values and examples, computed by pandas on the same rows."""
    by = {r["label"]: r for r in results}

    def observed(prefix: str) -> Any:
        (hit,) = [r for label, r in by.items() if label.startswith(prefix)]
        return hit

    women = df[df["SEX"] == 2]
    assert observed("row_count")["observed"] == len(df)
    mil = observed("not_null(MIL)")
    assert mil["unexpected_count"] == df["MIL"].isna().sum() > 0
    assert mil["sample"] == first_rows(df, df["MIL"].isna(), ["MIL"])
    age = observed("between(AGEP")
    assert age["unexpected_count"] == (df["AGEP"] > 90).sum() > 0
    assert age["sample"] == first_rows(df, df["AGEP"] > 90, ["AGEP"])
    assert observed("unique(id)")["passed"]
    assert observed("mean_between(employed")["observed"] == pytest.approx(df["employed"].mean())
    assert observed("stdev_between(AGEP")["observed"] == pytest.approx(df["AGEP"].std())
    assert observed("quantile_between(AGEP")["observed"] == pytest.approx(df["AGEP"].quantile(0.9))
    assert observed("median_between(SCHL")["observed"] == pytest.approx(df["SCHL"].median())
    assert observed("distinct_count_between(SCHL")["observed"] == df["SCHL"].nunique()
    race = observed("in_set(RAC1P")
    assert race["unexpected_count"] == (~df["RAC1P"].isin(range(1, 9))).sum() > 0
    assert race["sample"] == first_rows(df, ~df["RAC1P"].isin(range(1, 9)), ["RAC1P"])
    assert observed("min_between(AGEP")["observed"] == df["AGEP"].min()
    assert observed("max_between(AGEP")["observed"] == df["AGEP"].max()
    assert observed("sum_between(employed")["observed"] == df["employed"].sum()
    assert observed("mean_between(AGEP")["observed"] == pytest.approx(women["AGEP"].mean())
    young = (women["AGEP"] < 16) & ~(women["ESP"] > 0)
    expression = observed("expression(")
    assert expression["unexpected_count"] == young.sum()


def assert_same_results(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Verdicts, counts and examples identical; floats equal up to rounding."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for field in ("label", "passed", "reason", "element_count", "unexpected_count", "sample"):
            assert x[field] == y[field], (x["label"], field)
        if isinstance(x["observed"], float):
            assert math.isclose(x["observed"], y["observed"], rel_tol=1e-12), x["label"]
        else:
            assert x["observed"] == y["observed"], x["label"]


def test_an_added_insert_is_checked_from_stored_parts(
    history: assay.Store, parts: dict[str, pa.Table], tmp_path: Path
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    recipe = tmp_path / "all.yaml"
    recipe.write_text("dataset: acs\n")

    def cli(*extra: str) -> dict[str, Any]:
        done = run_assay("check", suite, "--on", recipe, "--json", *extra, cwd=tmp_path)
        assert done.rc == 1, done.err  # some expectations fail by design
        result: dict[str, Any] = done.json()
        return result

    # Version A: no stored state yet, a full pass that stores one.
    first = check(SUITE, {"dataset": "acs"}, store=history).to_dict()
    assert first["incremental"]["used"] is False
    assay.add_delta(history, "acs", parts["ins2"], name="ins2")
    extended = cli()
    assert extended["incremental"]["used"] is True
    assert extended["incremental"]["base"] == first["fingerprint"]
    assert extended["incremental"]["deltas_read"] == ["ins2"]
    full = cli("--full")
    assert full["incremental"] == {
        "used": False,
        "reason": "a full pass was asked for",
        "base": None,
        "deltas_read": [],
        "from_cache": [],
    }
    assert_same_results(extended["results"], full["results"])
    assert_matches_pandas(extended["results"], reference(parts, ["ins1", "ins2"]))
    # The same version again: its own stored state, nothing read.
    again = check(SUITE, {"dataset": "acs"}, store=history).to_dict()
    assert again["incremental"]["used"] and again["incremental"]["deltas_read"] == []
    assert_same_results(again["results"], full["results"])


def test_only_the_new_delta_is_read(
    history: assay.Store, parts: dict[str, pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.store.verified import Verifier

    check(SUITE, {"dataset": "acs"}, store=history, record=False)
    assay.add_delta(history, "acs", parts["ins2"], name="ins2")
    read: list[str] = []
    start = Verifier.start

    def counting(self: Verifier, deltas: Any) -> None:
        deltas = list(deltas)
        read.extend(d.name for d in deltas)
        start(self, deltas)

    monkeypatch.setattr(Verifier, "start", counting)
    report = check(SUITE, {"dataset": "acs"}, store=history, record=False)
    assert report.incremental is not None and report.incremental["used"]
    assert set(read) == {"ins2"}
    read.clear()
    full = check(SUITE, {"dataset": "acs"}, store=history, record=False, full=True)
    assert set(read) == {"base", "up", "gone", "ins1", "ins2"}  # what a full pass reads
    assert_same_results(report.to_dict()["results"], full.to_dict()["results"])


def _cache_objects(store: assay.Store) -> set[str]:
    from assay.checks.incremental import PREFIX

    return set(store.objects.list(f"{PREFIX}/"))


def test_a_damaged_partial_is_recomputed_not_trusted(
    history: assay.Store, parts: dict[str, pa.Table]
) -> None:
    recipe = {"dataset": "acs"}
    check(SUITE, recipe, store=history, record=False)
    state_a = _cache_objects(history)
    assay.add_delta(history, "acs", parts["ins2"], name="ins2")
    check(SUITE, recipe, store=history, record=False)
    written = _cache_objects(history) - state_a  # the partial of ins2 and the state of A+ins2
    assert len(written) == 2
    for key in written:  # same length, other bytes: only the checksum can tell
        data = bytearray(history.objects.get_bytes(key))
        data[-20] ^= 0xFF
        history.objects.put_bytes(key, bytes(data))
    report = check(SUITE, recipe, store=history, record=False)
    assert report.incremental is not None
    assert report.incremental["used"] and report.incremental["deltas_read"] == ["ins2"]
    full = check(SUITE, recipe, store=history, record=False, full=True)
    assert_same_results(report.to_dict()["results"], full.to_dict()["results"])
    assert_matches_pandas(report.to_dict()["results"], reference(parts, ["ins1", "ins2"]))
    # Rewritten whole: the next check reads nothing.
    again = check(SUITE, recipe, store=history, record=False)
    assert again.incremental is not None and again.incremental["deltas_read"] == []


def _changed(df: pd.DataFrame, ids: Any, delta: int, **values: Any) -> pd.DataFrame:
    """``df`` with the rows of ``ids`` rewritten by ``delta``, in the version's order."""
    hit = df["id"].isin(np.asarray(ids))
    df = df.copy()
    for column, value in values.items():
        df.loc[hit, column] = value
    df.loc[hit, "_delta"] = delta
    return df.sort_values(["_delta", "id"]).reset_index(drop=True)


def test_appended_upserts_and_deletes_subtract_what_they_remove(
    history: assay.Store, parts: dict[str, pa.Table]
) -> None:
    import pyarrow.compute as pc

    recipe = {"dataset": "acs"}
    check(SUITE, recipe, store=history, record=False)
    ins1 = parts["ins1"]
    # Rows no expectation finds unexpected: removing them leaves every example in place.
    age = ins1.column("AGEP")
    clean = ins1.filter(
        pc.and_(
            pc.and_(pc.is_valid(ins1.column("MIL")), pc.less_equal(ins1.column("RAC1P"), 8)),
            pc.and_(
                pc.greater(age, ins1.column("SCHL")), pc.and_(pc.greater(age, 17), pc.less(age, 80))
            ),
        )
    )
    # And one with a null MIL, after the first examples: the examples stay the same.
    late_null = ins1.filter(pc.is_null(ins1.column("MIL"))).slice(0, 1)
    up = pa.concat_tables([clean.slice(0, 40), late_null]).sort_by("id")
    up = up.set_column(up.schema.get_field_index("AGEP"), "AGEP", pa.array(np.full(41, 60)))
    assay.add_delta(history, "acs", up, op="upsert", name="up2")
    expected = _changed(reference(parts, ["ins1"]), up.column("id"), 5, AGEP=60)
    upserted = check(SUITE, recipe, store=history, record=False)
    assert upserted.incremental is not None and upserted.incremental["used"], upserted.incremental
    # The key index names the one delta holding the rows the upsert replaces.
    assert set(upserted.incremental["deltas_read"]) == {"up2", "ins1"}
    full = check(SUITE, recipe, store=history, record=False, full=True)
    assert_same_results(upserted.to_dict()["results"], full.to_dict()["results"])
    assert_matches_pandas(upserted.to_dict()["results"], expected)

    gone = clean.slice(40, 30).select(["id"])
    assay.add_delta(history, "acs", gone, op="delete", name="gone2")
    deleted = check(SUITE, recipe, store=history, record=False)
    assert deleted.incremental is not None and deleted.incremental["used"], deleted.incremental
    assert set(deleted.incremental["deltas_read"]) == {"gone2", "ins1"}
    expected = expected[~expected["id"].isin(gone.column("id").to_numpy())].reset_index(drop=True)
    full = check(SUITE, recipe, store=history, record=False, full=True)
    assert_same_results(deleted.to_dict()["results"], full.to_dict()["results"])
    assert_matches_pandas(deleted.to_dict()["results"], expected)

    # An upsert that removes a row some example shows: only a full pass knows the next.
    shown = next(r for r in full.results if r.label.startswith("not_null(MIL")).sample[0]["id"]
    row = expected[expected["id"] == shown].drop(columns="_delta").assign(MIL=1)
    again = pa.Table.from_pandas(row, preserve_index=False).cast(ins1.schema)
    assay.add_delta(history, "acs", again, op="upsert", name="up3")
    fallback = check(SUITE, recipe, store=history, record=False)
    assert fallback.incremental is not None and not fallback.incremental["used"]
    assert "example" in fallback.incremental["reason"]
    expected = _changed(expected, [shown], 7, MIL=1)
    assert_matches_pandas(fallback.to_dict()["results"], expected)


def test_another_row_filter_never_reuses_the_stored_parts(
    history: assay.Store, parts: dict[str, pa.Table]
) -> None:
    check(SUITE, {"dataset": "acs"}, store=history, record=False)
    assay.add_delta(history, "acs", parts["ins2"], name="ins2")
    filtered = check(SUITE, {"dataset": "acs", "where": "AGEP >= 16"}, store=history, record=False)
    assert filtered.incremental is not None and not filtered.incremental["used"]
    expected = reference(parts, ["ins1", "ins2"])
    assert_matches_pandas(
        filtered.to_dict()["results"], expected[expected["AGEP"] >= 16].reset_index(drop=True)
    )


def test_a_float_near_its_bound_or_too_many_values_runs_the_full_pass(
    history: assay.Store, parts: dict[str, pa.Table]
) -> None:
    mean = reference(parts, ["ins1", "ins2"])["employed"].mean()
    near = {
        "suite": "near",
        "expectations": [{"mean_between": {"column": "employed", "max": mean}}],
    }
    recipe = {"dataset": "acs"}
    check(near, recipe, store=history, record=False)
    assay.add_delta(history, "acs", parts["ins2"], name="ins2")
    report = check(near, recipe, store=history, record=False)
    # Combined sums could round to either side of the bound: the full pass decides.
    assert report.incremental is not None and not report.incremental["used"]
    assert "cannot be combined exactly" in report.incremental["reason"]
    assert report.results[0].observed == pytest.approx(mean)
    ids = {"suite": "ids", "expectations": [{"distinct_count_between": {"column": "id", "min": 1}}]}
    report = check(ids, recipe, store=history, record=False)
    assert report.incremental is not None and not report.incremental["used"]
    assert "more than 10,000 distinct values" in report.incremental["reason"]
    assert report.results[0].observed == len(reference(parts, ["ins1", "ins2"]))


def test_a_state_the_delta_statistics_helped_answer_is_extended_by_an_upsert(
    tmp_path: Path,
) -> None:
    import pyarrow.compute as pc

    acs = pq.read_table(ACS)
    year = acs.column("year")
    y2015 = acs.filter(pc.equal(year, 2015)).slice(0, 5_000)
    y2016 = acs.filter(pc.equal(year, 2016)).slice(0, 5_000)
    # 100 keys of 2016 whose ages are neither the version's minimum nor its maximum:
    # replacing them keeps both bounds combinable.
    age = y2016.column("AGEP")
    up = y2016.filter(pc.and_(pc.greater(age, 20), pc.less(age, 70))).slice(0, 100)
    up = up.set_column(up.schema.get_field_index("AGEP"), "AGEP", pa.array(np.full(100, 88)))
    suite = {
        "suite": "answered",
        "expectations": [
            # Before row_count: a state's aggregates must not depend on the plan's order.
            {"mean_between": {"column": "AGEP", "min": 0, "max": 90}},
            {"row_count": {"min": 1}},
            {"not_null": {"column": "SCHL"}},
            {"min_between": {"column": "AGEP", "min": 0}},
            {"max_between": {"column": "AGEP", "max": 99}},
        ],
    }
    recipe = {"dataset": "e"}
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "e", ["id"], label="employed")
        assay.add_delta(store, "e", y2015, name="y2015")
        assay.add_delta(store, "e", y2016, name="y2016")
        # What the statistics answer alone still runs no query (and stores nothing).
        counts = {"suite": "counts", "expectations": suite["expectations"][1:]}
        footers = check(counts, recipe, store=store, record=False)
        assert footers.queries == 0 and all(r.from_metadata for r in footers.results)
        first = check(suite, recipe, store=store, record=False)
        assert first.incremental is not None and not first.incremental["used"]
        assert [r.from_metadata for r in first.results] == [False, True, True, True, True]

        assay.add_delta(store, "e", up, op="upsert", name="up")
        report = check(suite, recipe, store=store, record=False)
        assert report.incremental is not None
        assert report.incremental["used"] is True, report.incremental
        assert report.incremental["base"] == first.fingerprint
        # The upsert, and the one delta holding the rows it replaces.
        assert sorted(report.incremental["deltas_read"]) == ["up", "y2016"]
        assert not any(r.from_metadata for r in report.results)
        full = check(suite, recipe, store=store, record=False, full=True)
        assert full.incremental is not None and not full.incremental["used"]
        assert_same_results(report.to_dict()["results"], full.to_dict()["results"])

    replaced = np.isin(y2016.column("id").to_numpy(), up.column("id").to_numpy())
    df = pa.concat_tables([y2015, y2016.filter(pa.array(~replaced)), up]).to_pandas()
    before = pd.concat([y2015.to_pandas(), y2016.to_pandas()])
    assert len(df) == 10_000 and df["AGEP"].mean() > before["AGEP"].mean()  # ages 88
    mean, count, schl, low, high = report.results
    assert mean.observed == pytest.approx(df["AGEP"].mean(), rel=1e-12)
    assert count.observed == len(df)
    assert (schl.element_count, schl.unexpected_count) == (len(df), df["SCHL"].isna().sum())
    assert (low.observed, high.observed) == (df["AGEP"].min(), df["AGEP"].max())
