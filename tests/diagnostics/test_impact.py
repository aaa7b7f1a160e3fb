"""Delta impact and balance, against scipy and pandas on the real ACS data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy import stats

import assay
from assay.diagnostics.drift import counts as _counts
from assay.diagnostics.drift import ks_from_counts
from assay.diagnostics.drift import tvd_chi2 as _chi2
from assay.diagnostics.impact import delta_impact
from assay.errors import RecipeError
from tests_helpers import year


@pytest.fixture
def skewed(store: assay.Store, acs: pa.Table, tmp_path: Path) -> assay.Store:
    """2015 and 2016, then a 'scrape' of 2017 rows that are all employed."""
    assay.create_dataset(store, "employment", ["id"], label="employed")
    pq.write_table(year(acs, 2015), tmp_path / "base.parquet")
    pq.write_table(year(acs, 2016), tmp_path / "y2016.parquet")
    y17 = year(acs, 2017)
    pq.write_table(
        y17.filter(pc.equal(y17["employed"], 1)).slice(0, 20_000), tmp_path / "scrape.parquet"
    )
    for name in ("base", "y2016", "scrape"):
        assay.add_delta(store, "employment", tmp_path / f"{name}.parquet")
    return store


def test_distances_match_scipy(acs: pa.Table) -> None:
    a, b = year(acs, 2015), year(acs, 2018)
    d, p = ks_from_counts(_counts(a["AGEP"]), _counts(b["AGEP"]))
    ref = stats.ks_2samp(a["AGEP"].to_numpy(), b["AGEP"].to_numpy(), method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-6)
    tvd, p = _chi2(_counts(a["SCHL"]), _counts(b["SCHL"]))
    sa, sb = a["SCHL"].to_pandas(), b["SCHL"].to_pandas()
    table = np.array(
        [
            [(sa == v).sum() for v in sorted(set(sa) | set(sb))],
            [(sb == v).sum() for v in sorted(set(sa) | set(sb))],
        ]
    )
    assert p == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    shares = table / table.sum(axis=1, keepdims=True)
    assert tvd == pytest.approx(0.5 * np.abs(shares[0] - shares[1]).sum())


def test_yearly_deltas_are_not_flagged(employment: assay.Store, acs: pa.Table) -> None:
    impacts = delta_impact(employment, "employment")
    df = acs.to_pandas()
    y2016 = impacts[1]
    before = df[df.year == 2015].employed.value_counts(normalize=True)
    after = df[df.year <= 2016].employed.value_counts(normalize=True)
    assert y2016.label_before == pytest.approx({str(k): v for k, v in before.items()})
    assert y2016.label_after == pytest.approx({str(k): v for k, v in after.items()})
    assert y2016.label_shift["1"] == pytest.approx(after[1] - before[1])
    assert not any(i.flagged for i in impacts)
    # `year` is constant within a delta: the largest possible shift.
    assert max(y2016.features, key=lambda f: f.distance).column == "year"


def test_a_skewed_delta_is_flagged_and_balance_undoes_it(skewed: assay.Store) -> None:
    impacts = delta_impact(skewed, "employment", threshold=0.02)
    scrape = impacts[-1]
    assert scrape.flagged and [i.name for i in impacts if i.flagged] == ["scrape"]
    assert "employed=1" in scrape.reasons[0]
    assert scrape.label_delta == {"1": 1.0}
    assert scrape.label_p_value is not None and scrape.label_p_value < 1e-100

    plain = assay.compose({"dataset": "employment"}, store=skewed).to_pandas()
    spec = {"dataset": "employment", "balance": {"column": "employed", "max_share": {1: 0.5}}}
    balanced = assay.compose(spec, store=skewed)
    got = balanced.to_pandas()
    n0 = int((plain.employed == 0).sum())
    # Exactly as many employed rows as the cap allows: floor(0.5 * N) with N = n0 + n1.
    assert int((got.employed == 1).sum()) == n0 and len(got) == 2 * n0
    # Only the capped group lost rows, and the order of the kept rows is unchanged.
    assert set(got[got.employed == 0].id) == set(plain[plain.employed == 0].id)
    kept = set(got.id)
    assert got.id.tolist() == [i for i in plain.id if i in kept]
    again = assay.compose(spec, store=skewed)
    assert again.fingerprint == balanced.fingerprint and again.table.equals(balanced.table)
    assert (
        balanced.fingerprint != assay.compose({"dataset": "employment"}, store=skewed).fingerprint
    )
    other = assay.compose(
        {**spec, "balance": {**spec["balance"], "seed": 9}}, store=skewed
    ).to_pandas()
    assert len(other) == len(got) and set(other.id) != set(got.id)
    # A count cap.
    capped = assay.compose(
        {
            "dataset": "employment",
            "where": "AGEP >= 65",
            "balance": {"column": "SEX", "max_count": {2: 1000}},
        },
        store=skewed,
    ).to_pandas()
    assert int((capped.SEX == 2).sum()) == 1000
    assert int((capped.SEX == 1).sum()) == int(((plain.AGEP >= 65) & (plain.SEX == 1)).sum())


def test_bad_balance_is_refused(skewed: assay.Store) -> None:
    with pytest.raises(RecipeError, match="max_share"):
        assay.compose({"dataset": "employment", "balance": {"column": "employed"}}, store=skewed)
    with pytest.raises(RecipeError, match=r"must be in \(0, 1\)"):
        assay.compose(
            {"dataset": "employment", "balance": {"column": "employed", "max_share": {1: 1.5}}},
            store=skewed,
        )
    with pytest.raises(RecipeError, match="'employd'"):
        assay.compose(
            {"dataset": "employment", "balance": {"column": "employd", "max_share": {1: 0.5}}},
            store=skewed,
        )


def test_identifiers_are_skipped_not_ranked(store: assay.Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    colors = np.array(["red", "green", "blue"])

    def batch(first: int, n: int, p: list[float]) -> pa.Table:
        ids = np.arange(first, first + n)
        return pa.table(
            {
                "id": ids,
                "email": [f"user{i}@example.com" for i in ids],  # unique per row
                "color": colors[rng.choice(3, size=n, p=p)],
                "day": pa.array(np.datetime64("2020-01-01") + ids % 400, pa.date32()),
            }
        )

    assay.create_dataset(store, "users", ["id"])
    old, new = batch(0, 400, [0.6, 0.3, 0.1]), batch(400, 200, [0.2, 0.3, 0.5])
    for name, rows in [("old", old), ("new", new)]:
        pq.write_table(rows, tmp_path / f"{name}.parquet")
        assay.add_delta(store, "users", tmp_path / f"{name}.parquet")
    impact = delta_impact(store, "users")[1]
    assert impact.skipped == {"id": "key", "email": "id-like"}
    shifts = {f.column: f for f in impact.features}
    assert set(shifts) == {"color", "day"}  # the e-mails (TVD 1.0) are not a shift
    a, b = new["color"].to_pandas(), old["color"].to_pandas()
    shares = pd.concat([a.value_counts(normalize=True), b.value_counts(normalize=True)], axis=1)
    assert shifts["color"].distance == pytest.approx(
        0.5 * shares.fillna(0).diff(axis=1).abs().sum().iloc[1]
    )
    # Dates are compared as numbers (KS), not as 400 categories.
    ref = stats.ks_2samp(
        new["day"].cast(pa.int32()).to_numpy(),
        old["day"].cast(pa.int32()).to_numpy(),
        method="asymp",
    )
    assert (shifts["day"].kind, shifts["day"].test) == ("numeric", "ks")
    assert shifts["day"].distance == pytest.approx(ref.statistic, abs=1e-12)
