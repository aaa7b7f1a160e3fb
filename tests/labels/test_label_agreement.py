"""Krippendorff's alpha and Fleiss' kappa against the textbook, a brute-force count of
pairs, and statsmodels."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_kappa

from assay.errors import UsageError
from assay.labels.agreement import coincidences, fleiss_kappa, krippendorff_alpha

E2 = Path(__file__).parents[2] / "examples/data/annotations_e2.csv"

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1-5, None where an observer gave no value.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _counts(observers: list[list[int | None]], values: int = 5) -> np.ndarray:
    counts = np.zeros((len(observers[0]), values))
    for row in observers:
        for unit, value in enumerate(row):
            if value is not None:
                counts[unit, value - 1] += 1
    return counts


def _brute_force_alpha(observers: list[list[int | None]], ordinal: bool) -> float:
    """Alpha from the definition: every ordered pair of values by different observers
    in a unit, weighted 1/(m_u - 1); the metric from the marginals n_c."""
    pairs: dict[tuple[int, int], float] = {}
    for unit in zip(*observers, strict=True):
        values = [v for v in unit if v is not None]
        if len(values) < 2:
            continue
        for i, j in itertools.permutations(range(len(values)), 2):
            key = (values[i], values[j])
            pairs[key] = pairs.get(key, 0.0) + 1.0 / (len(values) - 1)
    n_c = {c: sum(w for (a, _), w in pairs.items() if a == c) for c in range(1, 6)}
    n = sum(n_c.values())

    def delta(c: int, k: int) -> float:
        if not ordinal:
            return float(c != k)
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in range(lo, hi + 1)) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(w * delta(c, k) for (c, k), w in pairs.items())
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in n_c for k in n_c)
    return 1 - (n - 1) * observed / expected


def test_textbook_alpha_nominal_and_ordinal() -> None:
    counts = _counts(TEXTBOOK)
    nominal = krippendorff_alpha(counts, "nominal")
    ordinal = krippendorff_alpha(counts, "ordinal")
    # The paper's figures, to its three decimals.
    assert nominal == pytest.approx(0.743, abs=5e-4)
    assert ordinal == pytest.approx(0.815, abs=5e-4)
    # And to the last digit against the definition, counted pair by pair.
    assert nominal == pytest.approx(_brute_force_alpha(TEXTBOOK, ordinal=False), rel=1e-12)
    assert ordinal == pytest.approx(_brute_force_alpha(TEXTBOOK, ordinal=True), rel=1e-12)


def test_textbook_coincidences() -> None:
    o = coincidences(_counts(TEXTBOOK))
    # The paper's coincidence matrix: n = 40 pairable values, n_c = 9, 13, 10, 5, 3.
    assert o.sum() == pytest.approx(40)
    assert o.sum(axis=1) == pytest.approx([9, 13, 10, 5, 3])
    assert o[0, 0] == pytest.approx(7) and o[1, 1] == pytest.approx(10)
    assert o == pytest.approx(o.T)


def test_alpha_on_random_votes_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    observers = [
        [None if rng.random() < 0.3 else int(rng.integers(1, 6)) for _ in range(40)]
        for _ in range(5)
    ]
    for level, ordinal in (("nominal", False), ("ordinal", True)):
        assert krippendorff_alpha(_counts(observers), level) == pytest.approx(  # type: ignore[arg-type]
            _brute_force_alpha(observers, ordinal), rel=1e-10
        )


def test_alpha_undefined_without_disagreement_possible() -> None:
    assert krippendorff_alpha(np.array([[3.0, 0.0], [2.0, 0.0]])) is None
    assert krippendorff_alpha(np.array([[1.0, 0.0], [0.0, 1.0]])) is None  # nothing pairable
    with pytest.raises(UsageError, match="interval"):
        krippendorff_alpha(np.ones((2, 2)), "interval")  # type: ignore[arg-type]


def test_fleiss_kappa_equals_statsmodels_on_e2() -> None:
    votes = pacsv.read_csv(E2).to_pandas().pivot(index="item", columns="annotator", values="label")
    ratings = np.sort(votes.to_numpy(), axis=1)[:, :3]  # three ratings an item, NaN last
    table, _ = aggregate_raters(ratings.astype(int))
    kappa, items = fleiss_kappa(table)
    assert items == 15_521
    assert kappa == pytest.approx(statsmodels_kappa(table, method="fleiss"), rel=1e-12)
    assert 0.3 < kappa < 0.5  # a broken formula lands far from the published ~0.40


def test_fleiss_kappa_equals_statsmodels_on_random_tables() -> None:
    rng = np.random.default_rng(3)
    for raters in (2, 3, 6):
        table = rng.multinomial(raters, [0.5, 0.3, 0.15, 0.05], size=200)
        kappa, items = fleiss_kappa(table)
        assert items == 200
        assert kappa == pytest.approx(statsmodels_kappa(table, method="fleiss"), rel=1e-12)


def test_fleiss_kappa_with_unequal_votes_uses_the_common_count() -> None:
    rng = np.random.default_rng(5)
    threes = rng.multinomial(3, [0.6, 0.4], size=30)
    fours = rng.multinomial(4, [0.6, 0.4], size=10)
    ones = rng.multinomial(1, [0.6, 0.4], size=50)  # more items, but one vote says nothing
    kappa, items = fleiss_kappa(np.vstack([threes, fours, ones]))
    assert items == 30
    assert kappa == pytest.approx(statsmodels_kappa(threes, method="fleiss"), rel=1e-12)
