"""Version diffs checked against an independent pandas merge on the real ACS data.

The reference composes both versions (``assay.compose``, tested on its own in
test_compose.py), then outer-merges them by key in pandas and compares every shared
column null-safely; hand-known counts (the rows of a year, the ids an edit touched)
pin the reference itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import RecipeError, UsageError, VersionNotFound
from tests_helpers import year

KINDS = ("added", "removed", "changed", "unchanged")
BEFORE = {"dataset": "employment", "deltas": ["base", "y2016", "y2017"]}
AFTER = {"dataset": "employment", "deltas": ["base", "y2016", "y2017", "fix", "drop"]}


def reference(a: pd.DataFrame, b: pd.DataFrame, key: str = "id") -> pd.DataFrame:
    """One row per key of either version: change kind, split, changed columns."""
    cols = [c for c in b.columns if c in a.columns and c not in (key, "split")]
    m = a.merge(b, on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
    flags = pd.DataFrame(
        {
            c: ~(
                (m[f"{c}_a"] == m[f"{c}_b"]) | (m[f"{c}_a"].isna() & m[f"{c}_b"].isna())
            ).to_numpy()
            for c in cols
        }
    )
    any_flag = flags.any(axis=1).to_numpy() if cols else np.zeros(len(m), bool)
    change = np.select(
        [m["_merge"] == "right_only", m["_merge"] == "left_only", any_flag],
        ["added", "removed", "changed"],
        "unchanged",
    )
    split = m["split_b"].where(m["_merge"] != "left_only", m["split_a"])
    names: list[tuple[str, ...] | None] = [None] * len(m)
    for i in np.flatnonzero(change == "changed"):
        names[i] = tuple(c for c in cols if flags.at[i, c])
    return pd.DataFrame(
        {key: m[key], "change": change, "split": split, "changed_columns": names}
    ).sort_values(key, ignore_index=True)


def assert_matches(d: assay.VersionDiff, ref: pd.DataFrame) -> None:
    """Counts overall, per split and per column agree with the reference."""
    counts = ref["change"].value_counts()
    for kind in KINDS:
        assert getattr(d, kind) == int(counts.get(kind, 0)), kind
    by_split = ref.groupby(["split", "change"]).size()
    for split, per in d.splits.items():
        for kind in KINDS:
            assert per[kind] == int(by_split.get((split, kind), 0)), (split, kind)
    assert sum(sum(per.values()) for per in d.splits.values()) == len(ref)
    changed = ref.loc[ref.change == "changed", "changed_columns"]
    want = pd.Series([c for cols in changed for c in cols], dtype=object).value_counts()
    assert d.changed_columns == {c: int(n) for c, n in want.items()}
    # Samples: the lowest keys of each kind, in order.
    for kind in ("added", "removed", "changed"):
        ids = ref.loc[ref.change == kind, "id"].head(20).tolist()
        assert [s["key"]["id"] for s in d.samples[kind]] == ids, kind


def composed(recipe: dict[str, Any], store: assay.Store) -> pd.DataFrame:
    return assay.compose(recipe, store=store, record=False).to_pandas()


@dataclass
class Edited:
    store: assay.Store
    relabelled: list[int]  # `employed` flipped
    aged: list[int]  # ... and AGEP + 1 (a subset of relabelled)
    dropped: list[int]


@pytest.fixture
def edited(employment: assay.Store, acs: pa.Table, tmp_path: Path) -> Edited:
    """`employment` plus `fix` (upsert: 300 relabelled 2015 rows, 100 also aged) and
    `drop` (delete: 50 rows of 2016)."""
    df = acs.to_pandas()
    rng = np.random.default_rng(7)
    relabelled = rng.choice(df.loc[df.year == 2015, "id"].to_numpy(), 300, replace=False)
    fix = df[df.id.isin(relabelled)].copy()
    fix["employed"] = 1 - fix["employed"]
    aged = relabelled[:100]
    fix.loc[fix.id.isin(aged), "AGEP"] += 1
    fix.to_parquet(tmp_path / "fix.parquet", index=False)
    dropped = rng.choice(df.loc[df.year == 2016, "id"].to_numpy(), 50, replace=False)
    pd.DataFrame({"id": dropped}).to_csv(tmp_path / "drop.csv", index=False)
    assay.add_delta(employment, "employment", tmp_path / "fix.parquet", op="upsert", name="fix")
    assay.add_delta(employment, "employment", tmp_path / "drop.csv", op="delete", name="drop")
    return Edited(employment, sorted(relabelled), sorted(aged), sorted(dropped))


def test_adding_a_year_adds_exactly_its_rows(employment: assay.Store, acs: pa.Table) -> None:
    a = {"dataset": "employment", "deltas": ["base", "y2016"]}
    b = {"dataset": "employment", "deltas": ["base", "y2016", "y2018"]}
    d = assay.diff(a, b, store=employment)
    df = acs.to_pandas()
    assert d.added == int((df.year == 2018).sum()) == 70_131
    assert (d.removed, d.changed) == (0, 0)
    assert d.unchanged == int(df.year.isin([2015, 2016]).sum())
    assert d.dataset == "employment" and d.key == ("id",)
    assert not d.identical and d.split_moved == 0
    assert d.samples["added"][0]["key"] == {"id": int(df.loc[df.year == 2018, "id"].min())}
    assert_matches(d, reference(composed(a, employment), composed(b, employment)))


def test_upserts_and_deletes_match_pandas(edited: Edited, monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = composed(BEFORE, edited.store), composed(AFTER, edited.store)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("diff materialised a whole version")

    # Streaming, not materialising: neither version is ever built as one table.
    monkeypatch.setattr(sys.modules["assay.data.compose"], "materialise", refuse)
    d = assay.diff(BEFORE, AFTER, store=edited.store)
    # Hand-known: what the two deltas did.
    assert (d.added, d.removed, d.changed) == (0, 50, 300)
    assert d.changed_columns == {"AGEP": 100, "employed": 300}
    assert d.unchanged == len(before) - 350
    ref = reference(before, after)
    assert ref.loc[ref.change == "changed", "id"].tolist() == edited.relabelled
    assert ref.loc[ref.change == "removed", "id"].tolist() == edited.dropped
    assert_matches(d, ref)
    # A changed sample row carries the old and new values of exactly what changed.
    old = before.set_index("id")
    new = after.set_index("id")
    for s in d.samples["changed"]:
        i = s["key"]["id"]
        want = {"employed"} | ({"AGEP"} if i in edited.aged else set())
        assert set(s["changes"]) == want
        for c, v in s["changes"].items():
            assert (v["a"], v["b"]) == (old.at[i, c], new.at[i, c])
        assert s["split"] == new.at[i, "split"]
    # The other way round, removed rows come back as added.
    back = assay.diff(AFTER, BEFORE, store=edited.store)
    assert (back.added, back.removed, back.changed) == (50, 0, 300)
    assert_matches(back, reference(after, before))


def test_where_filters_remove_what_pandas_filters_out(
    employment: assay.Store, acs: pa.Table
) -> None:
    wide = {"dataset": "employment", "deltas": ["base", "y2017"], "where": "AGEP >= 16"}
    narrow = {**wide, "where": "AGEP >= 30 and SEX = 2"}
    d = assay.diff(wide, narrow, store=employment)
    df = acs.to_pandas()
    df = df[df.year.isin([2015, 2017]) & (df.AGEP >= 16)]
    gone = df[~((df.AGEP >= 30) & (df.SEX == 2))]
    assert (d.added, d.changed) == (0, 0)
    assert d.removed == len(gone)
    assert d.unchanged == len(df) - len(gone)
    ref = reference(composed(wide, employment), composed(narrow, employment))
    assert sorted(ref.loc[ref.change == "removed", "id"]) == sorted(gone.id)
    assert_matches(d, ref)


def test_fingerprints_prefixes_and_versions_agree_with_recipes(
    edited: Edited, tmp_path: Path
) -> None:
    from_recipes = assay.diff(BEFORE, AFTER, store=edited.store).to_dict()
    va = assay.compose(BEFORE, store=edited.store)  # recorded
    vb = assay.compose(AFTER, store=edited.store)
    (tmp_path / "after.yaml").write_text(
        "dataset: employment\ndeltas: [base, y2016, y2017, fix, drop]\n"
    )
    assert from_recipes["a"] == va.fingerprint and from_recipes["b"] == vb.fingerprint
    for a, b in [
        (va.fingerprint[:8], vb.fingerprint[:6].upper()),  # prefixes, any case
        (assay.Recipe.model_validate(BEFORE), str(tmp_path / "after.yaml")),
        (va, vb.fingerprint),  # a version already in memory is not composed again
    ]:
        assert assay.diff(a, b, store=edited.store).to_dict() == from_recipes


def test_out_parquet_holds_exactly_the_differing_rows(edited: Edited, tmp_path: Path) -> None:
    out = tmp_path / "diffs" / "d.parquet"
    d = assay.diff(BEFORE, AFTER, store=edited.store, out=out, sample=0)
    assert d.out == str(out) and d.samples == {"added": [], "removed": [], "changed": []}
    got = pq.read_table(out)
    assert got.column_names == ["id", "change", "split", "changed_columns"]
    ref = reference(composed(BEFORE, edited.store), composed(AFTER, edited.store))
    want = ref[ref.change != "unchanged"].reset_index(drop=True)
    rows = got.to_pylist()
    assert [r["id"] for r in rows] == want["id"].tolist()  # ordered by key
    assert [r["change"] for r in rows] == want["change"].tolist()
    assert [r["split"] for r in rows] == want["split"].tolist()
    assert [
        None if r["changed_columns"] is None else tuple(sorted(r["changed_columns"])) for r in rows
    ] == [None if c is None else tuple(sorted(c)) for c in want["changed_columns"]]
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.parquet"]  # no temporaries


def test_out_is_all_or_nothing(
    edited: Edited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "d.parquet"
    out.write_bytes(b"previous content")
    real = pq.ParquetWriter

    class Failing(real):  # type: ignore[misc,valid-type]
        def write_batch(self, *args: Any, **kwargs: Any) -> None:
            if str(self.where).startswith(str(tmp_path)):
                raise OSError("disk full")
            super().write_batch(*args, **kwargs)

    monkeypatch.setattr(pq, "ParquetWriter", Failing)
    with pytest.raises(OSError, match="disk full"):
        assay.diff(BEFORE, AFTER, store=edited.store, out=out)
    assert out.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".d.")) == []
    with pytest.raises(UsageError, match="is a folder"):
        assay.diff(BEFORE, AFTER, store=edited.store, out=tmp_path)


def test_comparison_is_null_safe(store: assay.Store, tmp_path: Path) -> None:
    nan = float("nan")
    assay.create_dataset(store, "t", ["id"])
    old = {"id": [1, 2, 3, 4, 5, 6], "x": [None, nan, None, 1.0, nan, 2.0]}
    new = {"id": [1, 2, 3, 4, 5, 6], "x": [None, nan, 1.0, None, 1.0, 2.0]}
    old["s"] = ["a", None, "b", "c", "d", "e"]
    new["s"] = ["a", None, "b", "c", "d", None]
    pq.write_table(pa.table(old), tmp_path / "old.parquet")
    pq.write_table(pa.table(new), tmp_path / "new.parquet")
    assay.add_delta(store, "t", tmp_path / "old.parquet", name="old")
    assay.add_delta(store, "t", tmp_path / "new.parquet", name="new", op="upsert")
    d = assay.diff({"dataset": "t", "deltas": ["old"]}, {"dataset": "t"}, store=store)
    assert (d.added, d.removed, d.changed, d.unchanged) == (0, 0, 4, 2)
    assert d.changed_columns == {"x": 3, "s": 1}
    assert [s["key"]["id"] for s in d.samples["changed"]] == [3, 4, 5, 6]
    assert d.samples["changed"][0]["changes"] == {"x": {"a": None, "b": 1.0}}
    # NaN survives into JSON as a string, not as invalid JSON.
    assert d.to_dict()["samples"]["changed"][2]["changes"]["x"] == {"a": "nan", "b": 1.0}


def test_columns_in_one_version_only_are_reported_not_compared(
    edited: Edited,
) -> None:
    a = {**BEFORE, "columns": ["AGEP", "employed", "SCHL"]}  # key projected away
    b = {**AFTER, "columns": ["SCHL", "AGEP", "SEX"]}
    d = assay.diff(a, b, store=edited.store)
    assert d.compared_columns == ("SCHL", "AGEP")
    assert (d.only_in_a, d.only_in_b) == (("employed",), ("SEX",))
    assert (d.added, d.removed, d.changed) == (0, 50, 100)  # only AGEP changes are seen
    assert d.changed_columns == {"AGEP": 100}


def test_different_seeds_move_rows_between_splits(employment: assay.Store) -> None:
    a = {"dataset": "employment", "deltas": ["base"]}
    b = {**a, "split": {"seed": 5, "fractions": {"train": 0.6, "dev": 0.2, "test": 0.2}}}
    d = assay.diff(a, b, store=employment)
    assert (d.added, d.removed, d.changed) == (0, 0, 0)
    m = composed(a, employment).merge(composed(b, employment), on="id", suffixes=("_a", "_b"))
    moved = m[m.split_a != m.split_b].groupby(["split_a", "split_b"]).size()
    assert d.split_moves == {
        f: {t: int(moved[(f, t)]) for t in ("train", "dev", "test") if (f, t) in moved}
        for f in ("train", "dev", "test")
    }
    assert d.split_moved == int(moved.sum()) > 0.3 * len(m)
    assert not d.identical
    assert d.splits["test"]["unchanged"] == int((m.split_b == "test").sum())


def test_errors_name_the_problem(employment: assay.Store, tmp_path: Path, acs: pa.Table) -> None:
    assay.create_dataset(employment, "other", ["id"])
    pq.write_table(year(acs, 2015).slice(0, 10), tmp_path / "o.parquet")
    assay.add_delta(employment, "other", tmp_path / "o.parquet")
    base = {"dataset": "employment", "deltas": ["base"]}
    with pytest.raises(UsageError, match=r"'employment'.*'other'.*one dataset"):
        assay.diff(base, {"dataset": "other"}, store=employment)
    with pytest.raises(VersionNotFound, match=r"'abcdef123456'.*assay data versions"):
        assay.diff("abcdef123456", base, store=employment)
    with pytest.raises(UsageError, match="at least 6"):
        assay.diff(base, "abc12", store=employment)
    with pytest.raises(UsageError, match=r"'latest'.*neither a recipe file.*nor a version"):
        assay.diff(base, "latest", store=employment)
    with pytest.raises(RecipeError, match=r"'AGE'.*did you mean 'AGEP'"):
        assay.diff(base, {**base, "columns": ["AGE"]}, store=employment)
    with pytest.raises(RecipeError, match="does not exist"):
        assay.diff(base, str(tmp_path / "missing.yaml"), store=employment)
    (tmp_path / "bad.yml").write_text("dataset: employment\nwhere: [\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        assay.diff(tmp_path / "bad.yml", base, store=employment)
    with pytest.raises(UsageError, match="sample"):
        assay.diff(base, base, store=employment, sample=-1)
