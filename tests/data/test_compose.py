"""Composition checked against an independent, row-by-row reference in plain Python."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy import stats

import assay
from assay.errors import DeltaNotFound, RecipeError
from tests_helpers import compose_by_hand


def test_skipping_a_year_matches_pandas(employment: assay.Store, acs: pa.Table) -> None:
    v = assay.compose(
        {
            "dataset": "employment",
            "deltas": {"include": ["base", "y2016", "y2018"]},
            "where": "AGEP >= 16 and RAC1P != 9",
            "slices": {"women": "SEX = 2", "over_65": "AGEP >= 65"},
        },
        store=employment,
    )
    df = acs.to_pandas()
    want = df[df.year.isin([2015, 2016, 2018]) & (df.AGEP >= 16) & (df.RAC1P != 9)]
    got = v.to_pandas()
    assert len(got) == len(want)
    # Rows come out by delta in commit order, then by key.
    want = want.sort_values(["year", "id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.drop(columns="split"), want, check_dtype=False)
    summary = v.summary()
    assert summary["rows"] == len(want)
    assert sum(summary["splits"].values()) == len(want)
    women = got[got.SEX == 2]
    assert summary["slices"]["women"]["rows"] == len(women)
    assert summary["slices"]["women"]["splits"]["test"] == int((women.split == "test").sum())
    assert v.to_arrow(split="dev", slice="over_65").num_rows == int(
        ((got.split == "dev") & (got.AGEP >= 65)).sum()
    )


def test_fingerprint_and_bytes_are_stable(employment: assay.Store, tmp_path: Path) -> None:
    recipe = {
        "dataset": "employment",
        "deltas": {"include": ["base", "y2016"]},
        "where": "AGEP > 20",
    }
    a = assay.compose(recipe, store=employment)
    a.write_parquet(tmp_path / "a.parquet")
    # Same recipe written differently: whitespace, keyword case, selector by tag/id.
    ids = [d.delta_id for d in a.deltas]
    b = assay.compose(
        {
            "dataset": "employment",
            "deltas": {"include": [ids[0][:10], "y2016"]},
            "where": "(AGEP  >  20)",
        },
        store=employment,
    )
    assert b.fingerprint == a.fingerprint
    b.write_parquet(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    # A new, unselected delta changes neither the fingerprint nor the bytes.
    extra = tmp_path / "late.csv"
    pd.DataFrame({c: [1] for c in a.table.column_names if c != "split"}).assign(id=10**9).to_csv(
        extra, index=False
    )
    assay.add_delta(employment, "employment", extra, name="late")
    c = assay.compose(recipe, store=employment)
    assert c.fingerprint == a.fingerprint
    c.write_parquet(tmp_path / "c.parquet")
    assert (tmp_path / "c.parquet").read_bytes() == (tmp_path / "a.parquet").read_bytes()
    # ...and the recorded version rebuilds the same bytes.
    assay.load_version(a.fingerprint[:8], store=employment).write_parquet(tmp_path / "d.parquet")
    assert (tmp_path / "d.parquet").read_bytes() == (tmp_path / "a.parquet").read_bytes()
    # A different filter is a different version.
    assert (
        assay.compose({**recipe, "where": "AGEP > 21"}, store=employment).fingerprint
        != a.fingerprint
    )


def test_rows_keep_their_split_as_deltas_are_added(employment: assay.Store) -> None:
    small = assay.compose(
        {"dataset": "employment", "deltas": ["base"]}, store=employment
    ).to_pandas()
    big = assay.compose({"dataset": "employment", "deltas": "all"}, store=employment).to_pandas()
    merged = small[["id", "split"]].merge(
        big[["id", "split"]], on="id", suffixes=("_small", "_big")
    )
    assert len(merged) == len(small)
    assert (merged.split_small == merged.split_big).all()
    # A different seed reassigns rows.
    other = assay.compose(
        {"dataset": "employment", "deltas": ["base"], "split": {"seed": 7}}, store=employment
    ).to_pandas()
    assert (other.split.to_numpy() != small.split.to_numpy()).mean() > 0.2


def test_split_fractions_hold_within_sampling_error(employment: assay.Store) -> None:
    fractions = {"train": 0.7, "dev": 0.2, "test": 0.1}
    v = assay.compose(
        {"dataset": "employment", "split": {"seed": 3, "fractions": fractions}}, store=employment
    )
    counts = v.summary()["splits"]
    n = v.table.num_rows
    observed = [counts[s] for s in fractions]
    expected = [n * f for f in fractions.values()]
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # The split is a function of the key alone: the same ids in any order get the same split.
    assert list(counts) == list(fractions)


def test_upserts_and_deletes_match_reference(store: assay.Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    assay.create_dataset(store, "toy", ["id"], label="y")
    deltas: list[tuple[str, pd.DataFrame]] = []
    live: set[int] = set()
    ever: set[int] = set()
    next_id = 0
    for i in range(12):
        op = (
            "insert"
            if i == 0
            else random.Random(i).choice(["insert", "upsert", "upsert", "delete"])
        )
        if op == "insert" or not live:
            op = "insert"
            ids = list(range(next_id, next_id + 40))
            next_id += 40
        elif op == "upsert":
            old = rng.choice(sorted(live), size=min(15, len(live)), replace=False).tolist()
            dead = sorted(ever - live)
            revive = (
                rng.choice(dead, size=min(3, len(dead)), replace=False).tolist() if dead else []
            )
            ids = sorted(set(old + revive + [next_id, next_id + 1]))
            next_id += 2
        else:
            ids = sorted(rng.choice(sorted(live), size=min(10, len(live)), replace=False).tolist())
        df = pd.DataFrame({"id": ids})
        if op != "delete":
            df["x"] = rng.integers(0, 100, len(ids))
            df["y"] = rng.integers(0, 2, len(ids))
        path = tmp_path / f"d{i}.csv"
        df.to_csv(path, index=False)
        assay.add_delta(store, "toy", path, op=op, name=f"d{i}")
        deltas.append((op, df))
        ever |= set(ids)
        live = live - set(ids) if op == "delete" else live | set(ids)
    picker = random.Random(5)
    selections = [set(range(12))] + [
        {0, *picker.sample(range(1, 12), k)} for k in (3, 5, 7, 9, 2, 6)
    ]
    for sel in selections:
        names = [f"d{i}" for i in sorted(sel)]
        if all(deltas[i][0] == "delete" for i in sel):
            continue
        got = assay.compose({"dataset": "toy", "deltas": names}, store=store).to_pandas()
        want = compose_by_hand(deltas, sel)
        assert got["id"].tolist() == want["id"].tolist(), names
        assert got["x"].tolist() == want["x"].tolist(), names
    # The full history is exactly the live keys.
    full = assay.compose({"dataset": "toy"}, store=store).to_pandas()
    assert set(full["id"]) == live


def test_upsert_of_an_unselected_row_affects_nothing(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pd.DataFrame({"id": [1, 2], "v": [10, 20]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"id": [3, 4], "v": [30, 40]}).to_csv(tmp_path / "b.csv", index=False)
    # Relabels rows 2 (in a) and 3 (in b), and adds a brand-new row 5.
    pd.DataFrame({"id": [2, 3, 5], "v": [21, 31, 50]}).to_csv(tmp_path / "fix.csv", index=False)
    pd.DataFrame({"id": [1]}).to_csv(tmp_path / "gone.csv", index=False)
    for name, op in [("a", "insert"), ("b", "insert"), ("fix", "upsert"), ("gone", "delete")]:
        assay.add_delta(store, "t", tmp_path / f"{name}.csv", op=op)

    def rows(include: list[str]) -> list[tuple[int, int]]:
        t = assay.compose({"dataset": "t", "deltas": include}, store=store).to_arrow()
        return list(zip(t["id"].to_pylist(), t["v"].to_pylist(), strict=True))

    assert rows(["a", "fix"]) == [(1, 10), (2, 21), (5, 50)]  # b skipped: 3's fix too
    assert rows(["a", "b"]) == [(1, 10), (2, 20), (3, 30), (4, 40)]
    assert rows(["b", "gone"]) == [(3, 30), (4, 40)]  # deleting an unselected row: nothing
    assert rows(["all"]) == [(4, 40), (2, 21), (3, 31), (5, 50)]


def test_columns_and_tags_until_exclude(employment: assay.Store) -> None:
    v = assay.compose(
        {
            "dataset": "employment",
            "deltas": {"include": ["tag:survey"], "exclude": ["y2016"], "until": "y2017"},
            "columns": ["AGEP", "SEX", "employed"],
        },
        store=employment,
    )
    assert [d.name for d in v.deltas] == ["base", "y2017"]
    assert v.table.column_names == ["AGEP", "SEX", "employed", "split"]


def test_bad_recipes_name_the_problem(employment: assay.Store) -> None:
    with pytest.raises(DeltaNotFound, match=r"'y2019'.*did you mean 'y2018'"):
        assay.compose({"dataset": "employment", "deltas": ["base", "y2019"]}, store=employment)
    with pytest.raises(RecipeError, match=r"'AGE'.*did you mean 'AGEP'"):
        assay.compose({"dataset": "employment", "columns": ["AGE"]}, store=employment)
    with pytest.raises(RecipeError, match="add up to 1"):
        assay.compose(
            {"dataset": "employment", "split": {"fractions": {"train": 0.8, "test": 0.1}}},
            store=employment,
        )
    with pytest.raises(RecipeError, match="selects no deltas"):
        assay.compose(
            {"dataset": "employment", "deltas": {"include": ["base"], "exclude": ["base"]}},
            store=employment,
        )
    from assay.errors import ExpressionError

    with pytest.raises(ExpressionError, match="AGEX"):
        assay.compose({"dataset": "employment", "where": "AGEX > 3"}, store=employment)


def test_new_columns_are_null_in_earlier_deltas(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pq.write_table(pa.table({"id": [2, 1], "a": [1.5, 2.5]}), tmp_path / "one.parquet")
    pq.write_table(pa.table({"id": [3], "a": [3.0], "lang": ["es"]}), tmp_path / "two.parquet")
    assay.add_delta(store, "t", tmp_path / "one.parquet")
    r = assay.add_delta(store, "t", tmp_path / "two.parquet")
    assert r.added_columns == ("lang",)
    t = assay.compose({"dataset": "t", "slices": {"es": "lang = 'es'"}}, store=store)
    assert t.to_arrow().select(["id", "a", "lang"]).to_pylist() == [
        {"id": 1, "a": 2.5, "lang": None},
        {"id": 2, "a": 1.5, "lang": None},
        {"id": 3, "a": 3.0, "lang": "es"},
    ]
    assert t.summary()["slices"]["es"]["rows"] == 1
    assert pc.sum(pc.equal(t.table["lang"], "es")).as_py() == 1


def test_an_ambiguous_delta_token_lists_its_candidates(store: assay.Store, tmp_path: Path) -> None:
    from dataclasses import replace

    from assay.data.compose import resolve_deltas
    from assay.data.recipe import Recipe

    assay.create_dataset(store, "t", ["id"])
    for name, ids in [("base", [1, 2]), ("more", [3])]:
        pq.write_table(pa.table({"id": ids}), tmp_path / f"{name}.parquet")
        assay.add_delta(store, "t", tmp_path / f"{name}.parquet", tags=("batch",))
    base, more = store.catalog.list_deltas("t")

    def pick(token: str, deltas: list) -> list[str]:
        return [d.name for d in resolve_deltas(Recipe(dataset="t", deltas=[token]), deltas)]

    # A store from before names were checked: `more` is named like base's id prefix.
    prefix = base.delta_id[:12]
    old = [base, replace(more, name=prefix)]
    with pytest.raises(RecipeError) as refused:
        pick(prefix, old)
    message = str(refused.value)
    assert f"{prefix!r} is ambiguous" in message
    assert f"delta #1 'base' ({base.short_id})" in message
    assert f"delta #2 {prefix!r} ({more.short_id})" in message
    assert pick(more.delta_id[:8], old) == [prefix]  # a longer (or other) prefix is one delta

    # Two ids that share a prefix.
    twins = [base, replace(more, delta_id=base.delta_id[:7] + more.delta_id[7:])]
    with pytest.raises(RecipeError, match=r"'base' .*, delta #2 'more' .*longer id prefix"):
        pick(base.delta_id[:7], twins)
    assert pick(base.delta_id[:8], twins) == ["base"]

    # A name that is also a tag of other deltas.
    tagged = [base, replace(more, tags=("base",))]
    with pytest.raises(RecipeError, match=r"tag 'base' \(1 deltas\); write tag:base for the tag"):
        pick("base", tagged)
    assert pick("tag:base", tagged) == ["more"]
    assert pick("batch", [base, more]) == ["base", "more"]
