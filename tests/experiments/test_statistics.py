"""The A/B statistics against scipy and statsmodels, edge cases included, and the
confidence sequence's guarantee checked by simulation (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from assay.errors import UsageError
from assay.experiments.statistics import (
    confidence_sequence,
    sample_ratio,
    sample_size_means,
    sample_size_proportions,
    two_proportions,
    welch,
)

# (control conversions, control units, treatment conversions, treatment units)
PROPORTIONS = [
    (30, 1000, 45, 900),  # unequal sizes
    (120, 1000, 100, 1000),  # treatment worse
    (0, 50, 3, 40),  # zero conversions in one arm
    (3, 7, 5, 9),  # tiny samples
    (4980, 10000, 5100, 10000),  # large
]


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), PROPORTIONS)
def test_two_proportions_matches_statsmodels(c1: int, n1: int, c2: int, n2: int) -> None:
    got = two_proportions(c1, n1, c2, n2, alpha=0.05)
    # statsmodels also computes the ratio of the rates, which divides by a zero rate.
    with np.errstate(divide="ignore", invalid="ignore"):
        z, p = proportions_ztest([c2, c1], [n2, n1])  # pooled SE, treatment - control
        score = sm_proportion.test_proportions_2indep(
            c2, n2, c1, n1, method="score", correction=False
        )
        lo, hi = confint_proportions_2indep(c2, n2, c1, n1, method="wald", compare="diff")
    assert got.difference == pytest.approx(c2 / n2 - c1 / n1, abs=1e-15)
    assert got.statistic == pytest.approx(z, rel=1e-10)
    assert got.p_value == pytest.approx(p, rel=1e-10)
    assert got.p_value == pytest.approx(score.pvalue, rel=1e-8)
    assert got.ci == pytest.approx((lo, hi), rel=1e-10)


def test_two_proportions_at_another_level_and_lift() -> None:
    got = two_proportions(200, 2000, 260, 2100, alpha=0.01)
    lo, hi = confint_proportions_2indep(260, 2100, 200, 2000, method="wald", alpha=0.01)
    assert got.ci == pytest.approx((lo, hi), rel=1e-10)
    assert got.relative == pytest.approx((260 / 2100 - 0.1) / 0.1)
    assert got.significant == (got.p_value < 0.01)


def test_two_proportions_without_any_conversion_is_no_evidence() -> None:
    got = two_proportions(0, 500, 0, 300)
    assert (got.difference, got.p_value, got.ci) == (0.0, 1.0, (0.0, 0.0))
    assert not got.significant
    empty = two_proportions(0, 0, 3, 10)
    assert math.isnan(empty.p_value) and empty.to_dict()["p_value"] is None


def test_two_proportions_refuses_impossible_counts() -> None:
    with pytest.raises(UsageError, match="control: 11 conversions of 10 units"):
        two_proportions(11, 10, 1, 10)
    with pytest.raises(UsageError, match=r"alpha 1\.5"):
        two_proportions(1, 10, 1, 10, alpha=1.5)


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "scale2"),
    [(200, 200, 0.3, 1.0), (50, 400, -0.2, 3.0), (3, 4, 1.0, 0.5), (1000, 37, 0.0, 2.0)],
)
def test_welch_matches_scipy(n1: int, n2: int, shift: float, scale2: float) -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(10.0, 1.0, n1)
    b = rng.normal(10.0 + shift, scale2, n2)
    got = welch(a, b, alpha=0.05)
    ref = stats.ttest_ind(b, a, equal_var=False)  # treatment - control
    ci = ref.confidence_interval(0.95)
    assert got.difference == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert got.df == pytest.approx(ref.df, rel=1e-10)
    assert got.ci == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_welch_is_undefined_without_two_units_or_variance() -> None:
    assert math.isnan(welch([1.0], [1.0, 2.0, 3.0]).p_value)
    constant = welch([2.0, 2.0, 2.0], [2.0, 2.0])
    assert math.isnan(constant.p_value) and math.isnan(constant.df or math.nan)


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ({"control": 9050, "treatment": 950}, {"control": 0.9, "treatment": 0.1}),
        ({"control": 5000, "treatment": 5300}, {"control": 0.5, "treatment": 0.5}),
        ({"a": 310, "b": 330, "c": 360}, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
    ],
)
def test_sample_ratio_matches_scipy_chisquare(
    observed: dict[str, int], expected: dict[str, float]
) -> None:
    got = sample_ratio(observed, expected)
    obs = np.array(list(observed.values()), dtype=float)
    exp = np.array([expected[a] for a in observed]) * obs.sum()
    ref = stats.chisquare(obs, exp)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert got.mismatch == (ref.pvalue < 0.001)


def test_sample_ratio_alarms_on_a_broken_split_only() -> None:
    assert sample_ratio({"c": 5000, "t": 5400}, {"c": 0.5, "t": 0.5}).mismatch  # p ≈ 9e-5
    assert not sample_ratio({"c": 5000, "t": 5100}, {"c": 0.5, "t": 0.5}).mismatch
    # Expected counts from a ramp: 1000 units at 90/10, then 1000 at 50/50.
    expected = {"c": 1000 * 0.9 + 1000 * 0.5, "t": 1000 * 0.1 + 1000 * 0.5}
    fine = sample_ratio({"c": 1390, "t": 610}, expected)
    assert fine.expected == pytest.approx(expected) and not fine.mismatch
    # Judged against the final weights alone, the same counts look broken.
    assert sample_ratio({"c": 1390, "t": 610}, {"c": 0.5, "t": 0.5}).mismatch
    # Traffic in an arm that should get none is certainly wrong.
    assert sample_ratio({"c": 10, "t": 1}, {"c": 1.0, "t": 0.0}).p_value == 0.0
    assert sample_ratio({}, {"c": 1.0}).p_value == 1.0


def test_the_confidence_sequence_is_wider_than_the_fixed_interval() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 2000), rng.normal(0.1, 1, 2000)
    fixed = welch(a, b)
    seq = confidence_sequence(fixed.difference, fixed.se, 4000)
    assert seq.ci[0] < fixed.ci[0] < fixed.ci[1] < seq.ci[1]
    assert (seq.p_value < 0.05) == (seq.ci[0] > 0 or seq.ci[1] < 0)
    assert seq.p_value > fixed.p_value
    # The p-value inverts the sequence: below alpha exactly when 0 is outside it.
    for difference in np.linspace(-0.3, 0.3, 61):
        at = confidence_sequence(float(difference), fixed.se, 4000)
        assert (at.p_value < 0.05) == (at.ci[0] > 0 or at.ci[1] < 0), difference


def test_the_confidence_sequence_matches_its_formula() -> None:
    # By hand: alpha 0.05, tuning n 5000, n 4000, difference 0.05, se 0.02.
    rho2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000
    s2 = 4000 * 0.02**2
    width = math.sqrt(s2 * 2 * (4000 * rho2 + 1) / (4000**2 * rho2))
    half = width * math.sqrt(math.log(math.sqrt(4000 * rho2 + 1) / 0.05))
    got = confidence_sequence(0.05, 0.02, 4000)
    assert got.ci == pytest.approx((0.05 - half, 0.05 + half), rel=1e-12)


def _peeks(rng: np.random.Generator, experiments: int, peeks: int, step: int, effect: float):
    """Per simulated experiment and peek: difference of means and its Welch SE."""
    a = rng.normal(0.0, 1.0, (experiments, peeks * step))
    b = rng.normal(effect, 1.0, (experiments, peeks * step))
    n = np.arange(1, peeks + 1) * step
    idx = n - 1

    def running(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, s2 = np.cumsum(x, axis=1)[:, idx], np.cumsum(x * x, axis=1)[:, idx]
        mean = s / n
        return mean, (s2 - n * mean * mean) / (n - 1)

    (ma, va), (mb, vb) = running(a), running(b)
    return mb - ma, np.sqrt(va / n + vb / n), n


def test_peeking_at_the_sequential_p_value_keeps_the_error_rate() -> None:
    # 300 A/A experiments, 200 looks each (every 25 units per arm, up to 5,000 per arm).
    diff, se, n = _peeks(np.random.default_rng(20261206), 300, 200, 25, 0.0)
    ever = np.zeros(diff.shape[0], dtype=bool)
    naive = np.zeros(diff.shape[0], dtype=bool)
    for e in range(diff.shape[0]):
        for j in range(diff.shape[1]):
            ever[e] |= confidence_sequence(diff[e, j], se[e, j], 2 * n[j]).p_value < 0.05
        naive[e] = bool(np.any(2 * stats.norm.sf(np.abs(diff[e] / se[e])) < 0.05))
    assert ever.mean() <= 0.05 + 0.02
    # The fixed-horizon p-value, peeked at as often, is wrong far more often than 5%.
    assert naive.mean() > 0.2


def test_the_sequential_result_detects_a_real_effect() -> None:
    diff, se, n = _peeks(np.random.default_rng(11), 100, 40, 100, 0.15)
    last = [confidence_sequence(diff[e, -1], se[e, -1], 2 * n[-1]) for e in range(100)]
    assert np.mean([s.p_value < 0.05 for s in last]) > 0.9


@pytest.mark.parametrize(
    ("baseline", "mde", "ratio"), [(0.1, 0.02, 1.0), (0.5, -0.05, 1.0), (0.03, 0.005, 1 / 9)]
)
def test_sample_size_for_rates_matches_statsmodels(
    baseline: float, mde: float, ratio: float
) -> None:
    got = sample_size_proportions(baseline, mde, ratio=ratio)
    h = proportion_effectsize(baseline + mde, baseline)
    ref = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=ratio)
    assert got.effect_size == pytest.approx(h, rel=1e-12)
    assert got.n_control == math.ceil(ref - 1e-6)
    assert got.n_treatment == math.ceil(ref * ratio - 1e-6)


def test_sample_size_for_means_matches_statsmodels() -> None:
    got = sample_size_means(12.0, 1.5, alpha=0.01, power=0.9)
    ref = NormalIndPower().solve_power(effect_size=1.5 / 12.0, alpha=0.01, power=0.9)
    assert got.n_control == got.n_treatment == math.ceil(ref - 1e-6)
    # The textbook approximation (one tail) agrees to a unit or two.
    z = stats.norm.isf(0.005) + stats.norm.isf(0.1)
    assert abs(got.n_control - 2 * (z * 12 / 1.5) ** 2) < 2


def test_sample_size_refuses_what_cannot_be_planned() -> None:
    with pytest.raises(UsageError, match=r"baseline rate 1\.2"):
        sample_size_proportions(1.2, 0.01)
    with pytest.raises(UsageError, match=r"mde 0\.95"):
        sample_size_proportions(0.1, 0.95)
    with pytest.raises(UsageError, match=r"sd -1 "):
        sample_size_means(-1, 0.5)
    with pytest.raises(UsageError, match=r"power 0\.01"):
        sample_size_means(1, 0.5, power=0.01)
