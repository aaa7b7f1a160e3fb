"""The statistics that decide an A/B test: pure functions over counts and arrays.

Each is the textbook method a peer library implements, and the tests compare it with
that library (scipy, statsmodels) on ordinary inputs and edge cases:

- ``two_proportions``: the difference of two rates. The *test* is the pooled
  two-proportion z-test (statsmodels ``proportions_ztest``, which equals
  ``test_proportions_2indep(method="score", correction=False)`` at a difference of 0);
  the *interval* is the unpooled Wald interval (``confint_proportions_2indep(
  method="wald")``): under the null both rates are one rate, so the test pools them,
  while the interval describes the difference as it is, so it does not.
- ``welch``: the difference of two means, Welch's t-test with the Welch–Satterthwaite
  degrees of freedom and its t interval (scipy ``ttest_ind(equal_var=False)``).
- ``sample_ratio``: the sample-ratio-mismatch check, a chi-square goodness of fit of the
  arms' counts against their expected shares (scipy ``chisquare``); alarm at p < 0.001.
- ``confidence_sequence``: an always-valid result, the asymptotic confidence sequence of
  Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory
  and asymptotic confidence sequences" (Annals of Statistics, 2024), in the form Eppo
  and GrowthBook use; its p-value may be watched after every request.
- ``sample_size_proportions`` / ``sample_size_means``: units per arm for a minimum
  detectable effect (statsmodels ``NormalIndPower``: Cohen's h for rates, d for means).

scipy gives the distributions (``assay[models]`` brings it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from assay.errors import UsageError
from assay.extras import require

__all__ = [
    "SRM_THRESHOLD",
    "Difference",
    "SampleRatio",
    "SampleSize",
    "Sequential",
    "confidence_sequence",
    "plain",
    "sample_ratio",
    "sample_size_means",
    "sample_size_proportions",
    "two_proportions",
    "welch",
    "welch_summary",
]

PURPOSE = "A/B test statistics"
# The alarm GrowthBook, Eppo and Statsig raise: a split this unlikely is a bug (in
# assignment, logging or the join), not chance, and makes every other number suspect.
SRM_THRESHOLD = 0.001
# The sample size at which the confidence sequence is tightest (total units, both arms):
# GrowthBook's default. Any value keeps the sequence valid; it only moves where it is
# narrowest.
TUNING_N = 5000


def _stats() -> Any:
    return require("scipy.stats", PURPOSE)


def plain(value: Any) -> Any:
    """``value`` ready for JSON: NaN and infinity as None, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Difference:
    """Treatment minus control: the estimate, its interval at ``1 - alpha``, the test."""

    method: str
    control: float  # the control arm's rate or mean
    treatment: float
    difference: float  # treatment - control
    ci: tuple[float, float]
    p_value: float
    statistic: float  # z or t
    alpha: float
    df: float | None = None  # Welch–Satterthwaite degrees of freedom (t-test only)
    se: float = math.nan  # the standard error the interval uses

    @property
    def relative(self) -> float | None:
        """The difference as a share of the control's value (the "lift")."""
        return self.difference / self.control if self.control else None

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        return plain({**asdict(self), "relative": self.relative, "significant": self.significant})


def two_proportions(
    conversions_control: int,
    n_control: int,
    conversions_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
) -> Difference:
    """The two-proportion z-test (pooled SE) and the Wald interval (unpooled SE).

    With no conversions (or all) in both arms the rates are equal, the pooled SE is 0,
    and the p-value is 1; an arm without units has no rate (NaN everywhere).
    """
    _check_alpha(alpha)
    for what, k, n in (
        ("control", conversions_control, n_control),
        ("treatment", conversions_treatment, n_treatment),
    ):
        if n < 0 or k < 0 or k > n:
            raise UsageError(
                f"{what}: {k} conversions of {n} units; need 0 <= conversions <= units"
            )
    z_crit = _stats().norm.isf(alpha / 2)
    method = "two-proportion z-test (pooled SE), Wald interval (unpooled SE)"
    if n_control == 0 or n_treatment == 0:
        nan = math.nan
        return Difference(method, nan, nan, nan, (nan, nan), nan, nan, alpha)
    p1, p2 = conversions_control / n_control, conversions_treatment / n_treatment
    diff = p2 - p1
    pooled = (conversions_control + conversions_treatment) / (n_control + n_treatment)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    se = math.sqrt(p1 * (1 - p1) / n_control + p2 * (1 - p2) / n_treatment)
    if se0 == 0:  # both arms all 0 or all 1: no evidence of a difference
        z, p = 0.0, 1.0
    else:
        z = diff / se0
        p = float(2 * _stats().norm.sf(abs(z)))
    ci = (diff - z_crit * se, diff + z_crit * se)
    return Difference(method, p1, p2, diff, ci, p, z, alpha, se=se)


def welch(control: ArrayLike, treatment: ArrayLike, *, alpha: float = 0.05) -> Difference:
    """Welch's t-test of two means (unequal variances) and its t interval."""
    a = np.asarray(control, dtype=float)
    b = np.asarray(treatment, dtype=float)
    return welch_summary(_mean(a), _var(a), a.size, _mean(b), _var(b), b.size, alpha=alpha)


def welch_summary(
    mean_control: float,
    var_control: float,
    n_control: int,
    mean_treatment: float,
    var_treatment: float,
    n_treatment: int,
    *,
    alpha: float = 0.05,
) -> Difference:
    """``welch`` from each arm's mean, sample variance (ddof 1) and size.

    Fewer than two units in an arm, or no variance in either, leaves the test undefined
    (NaN p-value and interval), as scipy does.
    """
    _check_alpha(alpha)
    method = "Welch t-test (Welch–Satterthwaite df)"
    diff = mean_treatment - mean_control
    nan = math.nan
    if n_control < 2 or n_treatment < 2:
        return Difference(method, mean_control, mean_treatment, diff, (nan, nan), nan, nan, alpha)
    v1, v2 = var_control / n_control, var_treatment / n_treatment
    se = math.sqrt(v1 + v2)
    if se == 0:
        return Difference(method, mean_control, mean_treatment, diff, (nan, nan), nan, nan, alpha)
    df = (v1 + v2) ** 2 / (v1**2 / (n_control - 1) + v2**2 / (n_treatment - 1))
    t = diff / se
    dist = _stats().t
    p = float(2 * dist.sf(abs(t), df))
    half = float(dist.isf(alpha / 2, df)) * se
    return Difference(
        method, mean_control, mean_treatment, diff, (diff - half, diff + half), p, t, alpha,
        df=df, se=se,
    )  # fmt: skip


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


def _var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if x.size > 1 else math.nan


@dataclass(frozen=True)
class SampleRatio:
    """The sample-ratio-mismatch check: were the arms' units split as the weights say?"""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    threshold: float = SRM_THRESHOLD

    @property
    def mismatch(self) -> bool:
        """True when the split is too unlikely to be chance (p < threshold)."""
        return bool(self.p_value < self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return plain({**asdict(self), "mismatch": self.mismatch})


def sample_ratio(
    observed: Mapping[str, int],
    expected: Mapping[str, float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SampleRatio:
    """Chi-square goodness of fit of ``observed`` counts against ``expected`` ones.

    ``expected`` may be shares or counts (it is scaled to the observed total): when the
    weights were ramped, pass the sum over units of each unit's share for the arm, so
    that every unit is held to the split in force when it was assigned. An arm expected
    to get nothing that got units is a certain mismatch (p = 0); arms expected to get
    nothing that got nothing take no part. Fewer than two arms left: p = 1.
    """
    arms = list(dict.fromkeys([*observed, *expected]))
    obs = np.array([float(observed.get(a, 0)) for a in arms])
    exp = np.array([max(0.0, float(expected.get(a, 0.0))) for a in arms])
    total = obs.sum()
    if exp.sum() > 0:
        exp = exp * (total / exp.sum())
    counts = {a: int(o) for a, o in zip(arms, obs, strict=True)}
    shares = {a: float(e) for a, e in zip(arms, exp, strict=True)}
    if total == 0:
        return SampleRatio(counts, shares, 0.0, 1.0, threshold)
    if np.any((exp == 0) & (obs > 0)):
        return SampleRatio(counts, shares, math.inf, 0.0, threshold)
    keep = exp > 0
    if keep.sum() < 2:
        return SampleRatio(counts, shares, 0.0, 1.0, threshold)
    statistic = float((((obs - exp) ** 2) / exp)[keep].sum())
    p = float(_stats().chi2.sf(statistic, int(keep.sum()) - 1))
    return SampleRatio(counts, shares, statistic, p, threshold)


@dataclass(frozen=True)
class Sequential:
    """An always-valid result: a confidence sequence for the difference and its p-value.

    The probability that the sequence ever excludes the true difference, over every
    look at the data, is at most ``alpha`` (asymptotically), so it may be checked after
    every request; ``p_value`` is below ``alpha`` exactly when ``ci`` excludes 0.
    """

    difference: float
    ci: tuple[float, float]
    p_value: float
    n: int  # units in both arms
    alpha: float
    tuning_n: int
    method: str = "asymptotic confidence sequence (Waudby-Smith et al. 2024)"

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))


def confidence_sequence(
    difference: float,
    se: float,
    n: int,
    *,
    alpha: float = 0.05,
    tuning_n: int = TUNING_N,
) -> Sequential:
    """The asymptotic confidence sequence at ``n`` units for ``difference`` (with the
    fixed-horizon standard error ``se``, e.g. ``Difference.se``).

    With ``s² = n·se²`` (the variance of one unit's contribution) and the tuning
    ``ρ² = (−2 log α + log(1 − 2 log α)) / tuning_n``, the half-width is

        s · sqrt( 2(nρ² + 1) / (n²ρ²) · log( sqrt(nρ² + 1) / α ) )

    and the always-valid p-value, the smallest α' whose sequence (same ρ) excludes 0,
    is ``min(1, sqrt(nρ² + 1) · exp(−difference² n²ρ² / (2 s² (nρ² + 1))))``.
    """
    _check_alpha(alpha)
    if tuning_n <= 0:
        raise UsageError(f"tuning_n {tuning_n} must be a positive number of units")
    nan = math.nan
    if n <= 0 or not math.isfinite(se) or not math.isfinite(difference):
        return Sequential(difference, (nan, nan), nan, n, alpha, tuning_n)
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning_n
    s2 = n * se * se
    scale = 2 * (n * rho2 + 1) / (n * n * rho2)
    half = math.sqrt(s2 * scale * math.log(math.sqrt(n * rho2 + 1) / alpha))
    if s2 == 0:
        p = 1.0 if difference == 0 else 0.0
    else:
        p = min(1.0, math.sqrt(n * rho2 + 1) * math.exp(-(difference**2) / (s2 * scale)))
    return Sequential(difference, (difference - half, difference + half), p, n, alpha, tuning_n)


@dataclass(frozen=True)
class SampleSize:
    """Units each arm needs to detect ``mde`` with probability ``power`` at ``alpha``."""

    n_control: int
    n_treatment: int
    effect_size: float  # Cohen's h (rates) or d (means)
    mde: float
    alpha: float
    power: float
    method: str
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Units in both arms."""
        return self.n_control + self.n_treatment

    def to_dict(self) -> dict[str, Any]:
        return plain({**asdict(self), "total": self.total})


def sample_size_proportions(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> SampleSize:
    """Units per arm to detect a rate moving from ``baseline`` to ``baseline + mde``
    (absolute), two-sided: Cohen's h = 2·asin√p₂ − 2·asin√p₁ and the normal power of
    statsmodels ``NormalIndPower`` (both tails counted). ``ratio`` is treatment units
    per control unit."""
    if not 0 < baseline < 1:
        raise UsageError(f"baseline rate {baseline} must be between 0 and 1 (exclusive)")
    if mde == 0 or not 0 < baseline + mde < 1:
        raise UsageError(
            f"mde {mde} must be non-zero and keep the rate {baseline} + {mde} between 0 and 1"
        )
    h = 2 * math.asin(math.sqrt(baseline + mde)) - 2 * math.asin(math.sqrt(baseline))
    return _size(h, mde, alpha, power, ratio, "NormalIndPower, Cohen's h (arcsine)")


def sample_size_means(
    sd: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> SampleSize:
    """Units per arm to detect a difference ``mde`` of means with standard deviation
    ``sd`` in each arm, two-sided (statsmodels ``NormalIndPower``, d = mde / sd)."""
    if not sd > 0:
        raise UsageError(f"sd {sd} must be positive (the metric's standard deviation)")
    if mde == 0:
        raise UsageError("mde 0 cannot be detected; give the smallest difference that matters")
    return _size(mde / sd, mde, alpha, power, ratio, "NormalIndPower, Cohen's d")


def _size(
    effect: float, mde: float, alpha: float, power: float, ratio: float, method: str
) -> SampleSize:
    _check_alpha(alpha)
    if not alpha < power < 1:
        raise UsageError(f"power {power} must be between alpha ({alpha}) and 1")
    if not ratio > 0:
        raise UsageError(f"ratio {ratio} must be positive (treatment units per control unit)")
    stats = _stats()
    crit = float(stats.norm.isf(alpha / 2))
    d = abs(effect)

    def achieved(n1: float) -> float:
        shift = d * math.sqrt(1 / (1 / n1 + 1 / (n1 * ratio)))
        return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift)) - power

    hi = 2.0
    while achieved(hi) < 0:
        hi *= 2
    n1 = require("scipy.optimize", PURPOSE).brentq(achieved, 1e-6, hi, xtol=1e-10)
    return SampleSize(
        math.ceil(n1 - 1e-9), math.ceil(n1 * ratio - 1e-9), effect, mde, alpha, power, method
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha {alpha} must be between 0 and 1 (0.05 is usual)")
