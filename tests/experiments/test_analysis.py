"""``analyze`` and ``plan`` on a simulated experiment (real models, a log written by two
workers, outcomes), every number checked against pandas, scipy and statsmodels."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

import assay
from ab_simulation import START, Simulated, simulate
from assay.errors import ExperimentNotFound, UsageError
from assay.experiments import LogWriter, assign
from assay.experiments.analysis import Decision, analyze, plan
from assay.experiments.statistics import sample_size_proportions


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Simulated]:
    yield from simulate(tmp_path_factory.mktemp("experiment"), acs)


def _joined(sim: Simulated) -> pd.DataFrame:
    return sim.log.merge(sim.outcomes, on="request_id", how="left")


def test_counts_health_and_srm_without_a_metric(simulated: Simulated) -> None:
    got = analyze(simulated.store, "lr-vs-lr", skew_sample=0)
    log = simulated.log
    assert got.unit == "request" and got.metric is None and got.comparisons == []
    assert got.decision == Decision.NO_METRIC
    assert got.control == "control" and [a.arm for a in got.arms] == ["control", "treatment"]
    assert got.requests == len(log) == 1500  # both workers' files
    for arm in got.arms:
        rows = log[log["arm"] == arm.arm]
        assert arm.requests == arm.units == len(rows)
        assert arm.fallback_rate == pytest.approx((rows["status"] == "fallback").mean())
        assert arm.latency_p50_ms == pytest.approx(rows["latency_ms"].median())
        assert arm.latency_p95_ms == pytest.approx(np.percentile(rows["latency_ms"], 95))
        assert arm.value is None
    # SRM counts users (requests carry a sticky key): each at their first request, the
    # expected count summing each user's share under the weights in force then.
    first = log.sort_values(["time", "request_id"]).drop_duplicates("sticky_key")
    shares = first["weights"].map(json.loads)
    expected = [shares.map(lambda w, a=a: w[a]).sum() for a in ("control", "treatment")]
    observed = [int((first["arm"] == a).sum()) for a in ("control", "treatment")]
    assert sum(observed) == first["sticky_key"].nunique() < len(log)
    ref = stats.chisquare(observed, expected)
    assert got.srm.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert got.srm.observed == dict(zip(["control", "treatment"], observed, strict=True))
    assert got.srm.expected == pytest.approx(
        dict(zip(["control", "treatment"], expected, strict=True))
    )
    assert got.arm["treatment"].expected_share == pytest.approx(expected[1] / sum(expected))
    assert not got.srm.mismatch


def test_a_rate_metric_against_statsmodels(simulated: Simulated) -> None:
    got = analyze(simulated.store, "lr-vs-lr", "converted", skew_sample=0)
    joined = _joined(simulated)
    assert got.kind == "rate"
    counts = {}
    for arm in got.arms:
        rows = joined[joined["arm"] == arm.arm]
        measured = rows["converted"].dropna()
        assert arm.value == pytest.approx(measured.mean(), rel=1e-12)
        assert (arm.measured, arm.missing) == (len(measured), rows["converted"].isna().sum())
        counts[arm.arm] = (int(measured.sum()), len(measured))
    (c1, n1), (c2, n2) = counts["control"], counts["treatment"]
    (cmp,) = got.comparisons
    _, p = proportions_ztest([c2, c1], [n2, n1])
    lo, hi = confint_proportions_2indep(c2, n2, c1, n1, method="wald")
    assert cmp.arm == "treatment"
    assert cmp.fixed.difference == pytest.approx(c2 / n2 - c1 / n1, rel=1e-12)
    assert cmp.fixed.p_value == pytest.approx(p, rel=1e-9)
    assert cmp.fixed.ci == pytest.approx((lo, hi), rel=1e-9)
    assert cmp.sequential.n == n1 + n2
    assert cmp.sequential.ci[0] < lo and cmp.sequential.ci[1] > hi
    # A 1-point difference on ~1,450 requests: not decided, either way.
    assert not cmp.decided and got.decision == Decision.KEEP_RUNNING


def test_a_continuous_metric_against_scipy(simulated: Simulated) -> None:
    got = analyze(simulated.store, "lr-vs-lr", "revenue", alpha=0.1, skew_sample=0)
    joined = _joined(simulated).dropna(subset=["revenue"])
    a = joined.loc[joined["arm"] == "control", "revenue"]
    b = joined.loc[joined["arm"] == "treatment", "revenue"]
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.9)
    (cmp,) = got.comparisons
    assert got.kind == "mean"
    assert got.arm["treatment"].value == pytest.approx(b.mean(), rel=1e-12)
    assert got.arm["control"].sd == pytest.approx(a.std(), rel=1e-9)
    assert cmp.fixed.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert cmp.fixed.df == pytest.approx(ref.df, rel=1e-6)
    assert cmp.fixed.ci == pytest.approx((ci.low, ci.high), rel=1e-6)
    # Revenue +6 on a mean of 20: the always-valid interval excludes 0 too.
    assert cmp.sequential.ci[0] > 0 and got.decision == Decision.DECIDED


def test_the_timeline_is_cumulative_and_ends_at_the_totals(simulated: Simulated) -> None:
    got = analyze(simulated.store, "lr-vs-lr", "converted", skew_sample=0)
    line = got.timeline
    assert 2 <= len(line) <= 24
    units = [p["arms"]["treatment"]["units"] for p in line]
    assert units == sorted(units)
    last = line[-1]["arms"]
    assert last["control"]["units"] == got.arm["control"].units
    assert last["treatment"]["value"] == pytest.approx(got.arm["treatment"].value)
    assert last["treatment"]["ci"] == pytest.approx(list(got.comparisons[0].fixed.ci))
    assert last["treatment"]["cs"] == pytest.approx(list(got.comparisons[0].sequential.ci))
    # The first point holds the requests up to its time, by pandas.
    cut = pd.Timestamp(line[0]["time"])
    early = simulated.log[pd.to_datetime(simulated.log["time"], utc=True) <= cut]
    assert line[0]["arms"]["control"]["units"] == int((early["arm"] == "control").sum())


def test_users_are_units_when_outcomes_are_by_sticky_key(simulated: Simulated) -> None:
    got = analyze(simulated.store, "by-user", "retained", skew_sample=0)
    first = simulated.log.sort_values(["time", "request_id"]).drop_duplicates("sticky_key")
    merged = first.merge(simulated.users, left_on="sticky_key", right_on="user_id")
    assert got.unit == "user" and got.kind == "rate"
    for arm in got.arms:
        mine = merged[merged["arm"] == arm.arm]
        assert arm.units == len(mine) and arm.requests == int(
            (simulated.log["arm"] == arm.arm).sum()
        )
        assert arm.value == pytest.approx(mine["retained"].mean(), rel=1e-12)
    # Expected shares: each user at the weights of their first request.
    shares = first["weights"].map(json.loads)
    assert got.srm.expected["treatment"] == pytest.approx(
        shares.map(lambda w: w["treatment"]).sum()
    )


def test_shadow_agreement_and_skew(simulated: Simulated) -> None:
    got = analyze(simulated.store, "lr-vs-lr", skew_sample=10_000)
    log = simulated.log
    assert {s.arm for s in got.shadows} == {"control", "treatment"}
    # Agreement by hand: the shadow rows are the live rows' request ids.
    for result in got.shadows:
        assert result.model.startswith("employment@")
        assert result.requests == int((log["arm"] == result.arm).sum())
        assert result.failed == sum(
            1 for i, a in enumerate(log["arm"]) if a == result.arm and i % 50 == 0
        )
        assert 0.5 < (result.agreement or 0) <= 1
    skew = {s.model: s for s in got.skew}
    production = log.loc[log["arm"] == "control", "model"].iloc[0]
    candidate = log.loc[(log["arm"] == "treatment") & (log["status"] == "ok"), "model"].iloc[0]
    assert skew[production].differing == 0 and skew[production].sampled > 500
    assert skew[candidate].differing == simulated.corrupted == 4
    assert skew[candidate].sampled == int((log["model"] == candidate).sum())


def test_what_cannot_be_analysed_is_one_line_naming_the_fix(simulated: Simulated) -> None:
    with pytest.raises(
        UsageError, match=r"metric 'clicks' is not an outcome .* converted, revenue"
    ):
        analyze(simulated.store, "lr-vs-lr", "clicks")
    with pytest.raises(ExperimentNotFound):
        analyze(simulated.store, "no-such-experiment")
    with pytest.raises(UsageError, match=r"alpha 2"):
        analyze(simulated.store, "lr-vs-lr", alpha=2)


def test_plan_follows_the_weights() -> None:
    even = plan(baseline_rate=0.2, mde=0.02)
    assert even.n_control == even.n_treatment == sample_size_proportions(0.2, 0.02).n_control
    skewed = plan(baseline_rate=0.2, mde=0.02, weights={"control": 0.9, "treatment": 0.1})
    ratio = sample_size_proportions(0.2, 0.02, ratio=1 / 9)
    assert (skewed.n_control, skewed.n_treatment) == (ratio.n_control, ratio.n_treatment)
    assert skewed.weights == pytest.approx({"control": 0.9, "treatment": 0.1})
    assert plan(sd=10.0, mde=1.0).n_control == 1570  # 2·(1.96 + 0.84)²·10² ≈ 1569.8
    with pytest.raises(UsageError, match="not both"):
        plan(baseline_rate=0.2, sd=1.0, mde=0.1)
    with pytest.raises(UsageError, match="no traffic"):
        plan(baseline_rate=0.2, mde=0.02, weights={"control": 1.0, "treatment": 0.0})


def test_the_analysis_is_plain_data(simulated: Simulated) -> None:
    data = analyze(simulated.store, "lr-vs-lr", "converted", skew_sample=20).to_dict()
    back = json.loads(json.dumps(data, allow_nan=False))  # no NaN leaks into JSON
    assert back["comparisons"][0]["sequential"]["method"].startswith("asymptotic")
    users = sum(data["srm"]["observed"].values())
    share = data["srm"]["expected"]["treatment"] / users
    assert back["arms"][1]["expected_share"] == pytest.approx(share)
    assert len(back["timeline"]) >= 2 and back["skew"][0]["sampled"] == 20


def test_a_log_that_loses_one_arms_rows_raises_the_srm_alarm(store: assay.Store) -> None:
    """Users split 50/50 by the real routing function, but a fifth of the treatment's
    rows never reach the log (a logging bug): the check must say so."""
    weights = {"control": 0.5, "treatment": 0.5}
    writer = LogWriter(store, "lossy", worker="w", flush_rows=5000, flush_seconds=0.2)
    kept = {"control": 0, "treatment": 0}
    for i in range(4000):
        user = f"user-{i}"
        arm = assign(user, "lossy", weights)
        if arm == "treatment" and i % 5 == 0:
            continue
        kept[arm] += 1
        writer.append(
            {
                "request_id": f"{i:032x}", "time": START + dt.timedelta(seconds=i),
                "experiment": "lossy", "endpoint": "e", "role": "live", "sticky_key": user,
                "arm": arm, "model": f"m@{1 if arm == 'control' else 2}", "inputs": "[{}]",
                "outputs": "[1]", "latency_ms": 1.0, "status": "ok", "error": None,
                "weights": json.dumps(weights),
            }
        )  # fmt: skip
    writer.close()
    got = analyze(store, "lossy", skew_sample=0)  # no config recorded: the log names the arms
    ref = stats.chisquare(list(kept.values()))
    assert got.control == "control" and got.srm.observed == kept
    assert got.srm.p_value == pytest.approx(ref.pvalue, rel=1e-9) and ref.pvalue < 1e-6
    assert got.srm.mismatch and got.decision == Decision.SRM_MISMATCH
