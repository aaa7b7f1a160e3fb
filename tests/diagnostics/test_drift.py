"""Drift: every statistic against scipy on the raw values (the engine only counts), the
automatic choice, thresholds and the dataset verdict, on generated and ACS data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial import distance

import assay
from assay.diagnostics.drift import ColumnDrift, DriftReport, drift
from assay.errors import UsageError
from assay.experiments.log import LogWriter, dumps
from tests_helpers import year

RNG = np.random.default_rng(15)


def one(a: np.ndarray | list[object], b: np.ndarray | list[object], **kw: object) -> ColumnDrift:
    """The drift of one column ``x`` holding ``a`` in the reference and ``b`` now."""
    report = drift(pa.table({"x": a}), pa.table({"x": b}), **kw)  # type: ignore[arg-type]
    assert isinstance(report, DriftReport)
    return report.columns[0]


def clean(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


KS_CASES = {
    "ints": (RNG.integers(0, 50, 300), RNG.integers(3, 55, 450)),
    "floats with ties": (
        np.round(RNG.normal(0, 1, 700), 1),
        np.round(RNG.normal(0.1, 1, 400), 1),
    ),
    "tiny": (np.array([1.0, 2.5, 3.0]), np.array([2.0, 4.0, 5.5, 7.0])),
    "same values": (np.arange(20.0), np.arange(20.0)),
    "unequal sizes": (RNG.exponential(1, 37), RNG.exponential(1.4, 991)),
    "exact at 10,000": (RNG.normal(0, 1, 10_000), RNG.normal(0.02, 1, 10_000)),
    "asymptotic above": (RNG.normal(0, 1, 10_001), RNG.normal(0.02, 1, 12_000)),
    "large ints": (RNG.integers(0, 90, 200_000), RNG.integers(0, 91, 150_000)),
    "with NaN and inf": (
        np.concatenate([RNG.normal(0, 1, 400), [np.nan, np.inf, -np.inf]]),
        np.concatenate([RNG.normal(0.3, 1, 300), [np.nan] * 5]),
    ),
}


@pytest.mark.parametrize("case", KS_CASES)
def test_ks_equals_scipy(case: str) -> None:
    a, b = KS_CASES[case]
    got = one(a, b, stat="ks")
    ref = stats.ks_2samp(clean(a), clean(b), method="auto")
    assert got.stat == "ks"
    assert got.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert got.p_value == pytest.approx(ref.pvalue, abs=1e-6, rel=1e-6)
    assert got.reference_rows == len(clean(a))
    assert got.drifted == (ref.pvalue < 0.05)


def test_ks_exact_and_asymptotic_differ_at_the_boundary() -> None:
    """Below 10,000 a side scipy's exact p-value, above its asymptotic one: the test
    would pass with either everywhere if they agreed, so check they do not here."""
    a, b = KS_CASES["exact at 10,000"]
    exact = one(a, b, stat="ks").p_value
    asymp = stats.ks_2samp(a, b, method="asymp").pvalue
    assert exact == pytest.approx(stats.ks_2samp(a, b, method="exact").pvalue, rel=1e-9)
    assert abs(exact - asymp) > 1e-6  # type: ignore[operator]


def _table(a: list[object], b: list[object]) -> np.ndarray:
    levels = sorted({v for v in a + b if v is not None}, key=str)
    return np.array([[a.count(v) for v in levels], [b.count(v) for v in levels]])


CHI2_CASES = {
    "strings": (
        list(RNG.choice(["a", "b", "c", "d"], 500, p=[0.4, 0.3, 0.2, 0.1])),
        list(RNG.choice(["a", "b", "c", "e"], 300, p=[0.3, 0.3, 0.3, 0.1])),
    ),
    "with nulls": (["x", "y", None, "x", "y", "y", None], ["x", "x", "x", None, "y"]),
    "booleans": (list(RNG.random(800) < 0.3), list(RNG.random(600) < 0.35)),
    "few ints": (list(RNG.integers(1, 4, 900)), list(RNG.integers(1, 5, 700))),
}


@pytest.mark.parametrize("case", CHI2_CASES)
def test_chi2_equals_scipy(case: str) -> None:
    a, b = ([v.item() if hasattr(v, "item") else v for v in side] for side in CHI2_CASES[case])
    got = one(a, b, stat="chi2")
    ref = stats.chi2_contingency(_table(a, b), correction=False)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-9, abs=1e-9)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-9)


def test_binary_chi2_is_evidentlys_z_test() -> None:
    """Evidently tests a binary column with a two-proportion z-test; its p-value is the
    2 × 2 chi-square's (z² = χ²), so one test serves both."""
    a, b = [0] * 70 + [1] * 30, [0] * 50 + [1] * 50
    got = one(a, b)
    assert got.stat == "chi2"
    p1, p2, pooled = 0.3, 0.5, 0.4
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert got.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_wasserstein_is_normed_by_the_reference_std() -> None:
    a, b = RNG.normal(10, 3, 5000), np.round(RNG.normal(10.6, 3, 4000), 2)
    got = one(a, b)
    assert got.stat == "wasserstein"
    expected = stats.wasserstein_distance(a, b) / np.std(a)
    assert got.statistic == pytest.approx(expected, rel=1e-9)
    assert got.distance == got.statistic and got.p_value is None
    assert got.drifted == (expected >= 0.1)
    assert one(np.full(2000, 5.0), np.full(2000, 5.5), stat="wasserstein").statistic == (
        pytest.approx(0.5 / 0.001)
    )


def evidently_bins(a: np.ndarray, b: np.ndarray, fill: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's get_binned_data, written out on the raw values."""
    if len(np.unique(a)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
        pa_, pb = np.histogram(a, edges)[0] / len(a), np.histogram(b, edges)[0] / len(b)
    else:
        keys = sorted(set(a.tolist()) | set(b.tolist()))
        pa_ = np.array([(a == k).sum() for k in keys]) / len(a)
        pb = np.array([(b == k).sum() for k in keys]) / len(b)
    if fill:
        for p in (pa_, pb):
            smallest = p[p > 0].min()
            p[p == 0] = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return pa_, pb


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (RNG.gamma(2, 2, 3000), RNG.gamma(2.2, 2, 2500)),  # binned (Sturges)
        (RNG.integers(0, 8, 3000), RNG.integers(0, 9, 2000)),  # a bin per value, one empty
        (RNG.integers(0, 400, 3000), RNG.integers(200, 800, 2000)),  # empty bins both sides
    ],
)
def test_psi_and_jensenshannon_on_evidentlys_bins(a: np.ndarray, b: np.ndarray) -> None:
    pa_, pb = evidently_bins(a.astype(float), b.astype(float), fill=False)
    js = one(a, b, stat="jensenshannon")
    assert js.statistic == pytest.approx(distance.jensenshannon(pa_, pb), rel=1e-9)
    pa_, pb = evidently_bins(a.astype(float), b.astype(float), fill=True)
    psi = one(a, b, stat="psi")
    assert psi.statistic == pytest.approx(float(np.sum((pa_ - pb) * np.log(pa_ / pb))), rel=1e-9)
    assert psi.drifted == (psi.statistic >= 0.1)


def test_automatic_choice_follows_evidently() -> None:
    small, large = 1000, 1001
    many, few = np.arange(small) % 6 + 0.5, np.arange(small) % 5 + 0.5
    assert one(many, many).stat == "ks"  # numbers, > 5 values, <= 1,000 rows
    assert one(few, few).stat == "chi2"
    assert one(["a", "b"] * 500, ["a"] * 10).stat == "chi2"
    assert one(np.arange(large) % 6 + 0.5, many).stat == "wasserstein"
    assert one(np.arange(large) % 5 + 0.5, many).stat == "jensenshannon"
    # integers with <= 10 values are codes (Evidently 0.7 infers them as categories)
    codes = one(np.arange(large) % 10, np.arange(small) % 10)
    assert (codes.kind, codes.stat) == ("categorical", "jensenshannon")
    assert one(np.arange(small) % 10, np.arange(small) % 10).stat == "chi2"
    counts = one(np.arange(large) % 11, np.arange(small) % 11)
    assert (counts.kind, counts.stat) == ("numerical", "wasserstein")
    assert one(np.arange(small) % 10, np.arange(small) % 10, stat="ks").stat == "ks"
    assert one(["a", "b", "c"] * 400, ["a"] * 10).stat == "jensenshannon"
    # rows are the reference's values, nulls not counted
    assert one([*range(1000), *[None] * 10], [1, 2]).stat == "ks"


def test_thresholds_and_the_dataset_verdict() -> None:
    n = 400
    ref = pa.table({f"c{i}": np.arange(n) % 7 for i in range(4)})
    shifted = np.arange(n) % 7 + 3
    cur = pa.table({"c0": shifted, "c1": shifted, "c2": ref["c2"], "c3": ref["c3"]})
    report = drift(ref, cur)
    assert [c.drifted for c in report.columns] == [True, True, False, False]
    assert report.drift_share == 0.5 and report.drifted  # at least half: Evidently's rule
    assert not drift(ref, cur, drift_share=0.75).drifted
    assert report.reasons == ["drifted", "drifted"] and report.status == "fail"
    # a p-value threshold so small that nothing counts
    assert not drift(ref, cur, threshold=1e-300).drifted
    # every column's own statistic stays; only the verdicts move
    loose = drift(ref, cur, stat="psi", threshold=1e-9)
    assert loose.drift_share == 0.5  # equal columns: psi 0, never >= a positive threshold


def test_json_shape_and_missing_values() -> None:
    report = drift(
        pa.table(
            {"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "e": pa.array([None] * 3, pa.int64())}
        ),
        pa.table({"a": [1.0, 2.5, 3.0], "b": ["x", "x", "x"], "e": [1, 2, 3]}),
    )
    doc = json.loads(json.dumps(report.to_dict()))
    assert {"columns", "drift_share", "drifted"} <= doc.keys()
    for col in doc["columns"]:
        assert {"column", "kind", "stat", "statistic", "p_value", "drifted"} <= col.keys()
    by = {c["column"]: c for c in doc["columns"]}
    assert by["a"]["kind"] == "numerical" and by["b"]["kind"] == "categorical"
    assert by["e"] == by["e"] | {"reason": "no_values", "drifted": False, "statistic": None}
    assert doc["drift_share"] == 0.0 and doc["reference_rows"] == 3


def test_bad_usage_is_one_line() -> None:
    t = pa.table({"a": [1, 2], "s": ["x", "y"]})
    with pytest.raises(UsageError, match=r"^column 'z' is not in the reference data"):
        drift(t, t, columns=["z"])
    with pytest.raises(UsageError, match=r"^column 's' is not in the current data"):
        drift(t, t.drop_columns(["s"]))
    with pytest.raises(UsageError, match=r"^--stat ks needs numbers, and column 's'"):
        drift(t, t, stat="ks")
    with pytest.raises(UsageError, match=r"^stat 'median' is not one of: auto, ks"):
        drift(t, t, stat="median")
    with pytest.raises(UsageError, match=r"^column 'a' holds numbers on one side"):
        drift(t, pa.table({"a": ["1", "2"], "s": ["x", "y"]}))
    with pytest.raises(UsageError, match="threshold -1"):
        drift(t, t, threshold=-1)


def test_acs_2015_against_2018(acs: pa.Table, tmp_path: Path) -> None:
    """The survey years as files the engine scans; each column against scipy on the
    raw values, with the statistic auto picks at this size."""
    a, b = year(acs, 2015), year(acs, 2018)
    pq.write_table(a, tmp_path / "2015.parquet")
    pq.write_table(b, tmp_path / "2018.parquet")
    cols = ["AGEP", "SCHL", "SEX", "RAC1P", "employed"]
    report = drift(str(tmp_path / "2015.parquet"), str(tmp_path / "2018.parquet"), columns=cols)
    assert report.reference_rows == a.num_rows and report.current_rows == b.num_rows
    by = {c.column: c for c in report.columns}
    assert {c: by[c].stat for c in cols} == {
        "AGEP": "wasserstein",
        "SCHL": "wasserstein",
        "SEX": "jensenshannon",
        "RAC1P": "jensenshannon",  # race codes 1-9: categories
        "employed": "jensenshannon",
    }
    x, y = a["AGEP"].to_numpy().astype(float), b["AGEP"].to_numpy().astype(float)
    assert by["AGEP"].statistic == pytest.approx(stats.wasserstein_distance(x, y) / x.std())
    s, t = a["SEX"].to_numpy(), b["SEX"].to_numpy()
    shares = [np.array([(v == 1).mean(), (v == 2).mean()]) for v in (s, t)]
    assert by["SEX"].statistic == pytest.approx(distance.jensenshannon(*shares), rel=1e-9)
    assert not report.drifted  # one year apart, the population barely moves
    ks = drift(a, b, columns=["AGEP"], stat="ks").columns[0]
    ref = stats.ks_2samp(x, y)
    assert ks.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert ks.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-6)


def test_log_input_against_a_recorded_sample(store: assay.Store, acs: pa.Table) -> None:
    """Traffic logged by a LogWriter, read back as log:EXPERIMENT and compared with the
    rows that were sent: no drift; against older people only: drift."""
    rows = year(acs, 2018).select(["AGEP", "SEX", "SCHL"]).slice(0, 600).to_pylist()
    writer = LogWriter(store, "ab", worker="w0", flush_rows=10**9, flush_seconds=3600)
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for i in range(0, len(rows), 3):
        writer.append(
            {
                "request_id": f"r{i:05d}",
                "time": t0 + dt.timedelta(seconds=i),
                "experiment": "ab",
                "endpoint": "employment",
                "role": "live",
                "sticky_key": None,
                "arm": "control",
                "model": "employment@1",
                "inputs": dumps(rows[i : i + 3]),
                "outputs": dumps([1, 0, 1]),
                "latency_ms": 1.0,
                "status": "ok",
                "error": None,
                "weights": dumps({"control": 1.0}),
            }
        )
    writer.close()
    sent = pa.Table.from_pylist(rows)
    same = drift(sent, "log:ab", store=store)
    assert same.current_rows == 600 and same.drift_share == 0.0
    assert all(c.statistic == pytest.approx(0.0, abs=1e-12) for c in same.columns)
    old = sent.filter(np.asarray(sent["AGEP"]) >= 50)
    moved = drift(old, "log:ab", store=store, columns=["AGEP"])
    assert moved.drifted and moved.columns[0].stat == "ks"
