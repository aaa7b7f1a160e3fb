"""Failure examples come from the same query as the verdicts, and are the same examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.checks import check

ACS = Path(__file__).parents[2] / "examples/data/acs_employment_ma.parquet"
SIZE = 5
SUITE = f"""
suite: examples
sample_size: {SIZE}
expectations:
  - row_count: {{min: 1}}
  - not_null: {{column: MIL}}
  - between: {{column: AGEP, min: 0, max: 95}}
  - compare: {{left: AGEP, op: ">", right: SCHL, mostly: 0.999}}
  - in_set: {{column: SEX, values: [1, 2]}}
  - unique: {{columns: [SCHL, RAC1P]}}
  - unique: {{column: id}}
  - slice:
      name: women
      where: "SEX = 2"
      expectations:
        - expression: {{expr: "AGEP >= 16 or ESP > 0"}}
"""


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Real ACS rows; failures planted across the whole table, many for some rules."""
    df = pq.read_table(ACS).slice(0, 40_000).to_pandas()
    rng = np.random.default_rng(3)
    df["MIL"] = df["MIL"].astype("Int64")
    df.loc[np.sort(rng.choice(len(df), 300, replace=False)), "MIL"] = pd.NA
    late = np.sort(rng.choice(np.arange(20_000, len(df)), 7, replace=False))
    df.loc[late, "AGEP"] = 130 + np.arange(7)  # the first failures sit in later row groups
    df.loc[[39_990, 39_991], "id"] = df.loc[[25_000, 25_001], "id"].to_numpy()
    return df


def first_failing(df: pd.DataFrame, mask: pd.Series, columns: list[str]) -> list[dict[str, Any]]:
    """The reference: the first failing rows in the data's order, as examples show them."""
    rows = df[mask.fillna(False).astype(bool)].head(SIZE)
    return [
        {"row": int(i), **{c: (None if pd.isna(r[c]) else r[c]) for c in columns}}
        for i, r in rows.iterrows()
    ]


def repeated(df: pd.DataFrame, columns: list[str]) -> tuple[list[dict[str, Any]], int, int]:
    """The reference for a unique: the most repeated values, how many, in how many rows."""
    counts = df.groupby(columns).size().reset_index(name="count")
    dup = counts[counts["count"] > 1].sort_values(
        ["count", *columns], ascending=[False, *[True] * len(columns)]
    )
    top = [
        {**{c: r[c] for c in columns}, "count": r["count"]} for _, r in dup.head(SIZE).iterrows()
    ]
    return top, len(dup), int(dup["count"].sum())


@pytest.fixture(scope="module")
def parquet(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "acs.parquet"
    # Small row groups: the engine scans them in parallel, so order is not for free.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=2048)
    return path


def by_label(report: Any) -> dict[str, Any]:
    return {r.label if r.slice is None else f"{r.slice}:{r.label}": r for r in report.results}


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_examples_come_from_the_verdicts_query(
    kind: str, frame: pd.DataFrame, parquet: Path
) -> None:
    data: Any = str(parquet) if kind == "parquet" else pa.Table.from_pandas(frame)
    report = check(SUITE, data)
    # Six expectations fail; before, their examples cost three more queries. Only the
    # one-column unique's repeated values are a follow-up (its COUNT(DISTINCT) in the
    # pass is cheaper than the group-by that a passing unique id would otherwise pay).
    assert report.queries == 2
    got = by_label(report)
    assert not got["not_null(MIL)"].passed
    assert got["not_null(MIL)"].sample == first_failing(frame, frame.MIL.isna(), ["MIL"])
    agep = frame.AGEP
    assert got["between(AGEP)"].sample == first_failing(frame, ~agep.between(0, 95), ["AGEP"])
    assert got["between(AGEP)"].sample[0]["AGEP"] == 130
    compare = got["compare(AGEP > SCHL)"]
    assert not compare.passed
    assert compare.sample == first_failing(frame, ~(agep > frame.SCHL), ["AGEP", "SCHL"])
    women = frame.SEX == 2
    young = ~((agep >= 16) | (frame.ESP > 0))
    expression = got["women:expression(AGEP >= 16 or ESP > 0)"]
    assert expression.sample == first_failing(frame, women & young, ["AGEP", "ESP"])
    assert got["in_set(SEX)"].passed and got["in_set(SEX)"].sample == []
    top, values, rows = repeated(frame, ["SCHL", "RAC1P"])
    pair = got["unique(SCHL, RAC1P)"]
    assert pair.sample == top and pair.unexpected_count == rows
    assert pair.message.startswith(f"{values:,} value(s) of SCHL, RAC1P repeat, in {rows:,} of ")
    ids = got["unique(id)"]
    top, values, rows = repeated(frame, ["id"])
    assert (ids.sample, ids.unexpected_count, values) == (top, rows, 2)


def test_examples_in_the_pass_equal_the_follow_up_queries(frame: pd.DataFrame) -> None:
    """An Ibis table has no row positions, so its rows' examples come from the streamed
    follow-up query: keyed by ``id``, both ways must show the same rows in the same order
    (the two-column unique's repeated values come from the pass either way)."""
    keyed = "key: [id]\n" + SUITE
    table = pa.Table.from_pandas(frame, preserve_index=False)
    in_pass = check(keyed, table)
    follow_up = check(keyed, ibis.memtable(table))
    assert (in_pass.queries, follow_up.queries) == (2, 3)
    for a, b in zip(in_pass.results, follow_up.results, strict=True):
        assert (a.label, a.passed, a.unexpected_count, a.message) == (
            b.label,
            b.passed,
            b.unexpected_count,
            b.message,
        )
        assert a.sample == b.sample
    between = by_label(in_pass)["between(AGEP)"].sample
    assert [r["id"] for r in between] == frame.id[frame.AGEP > 95].head(SIZE).tolist()


def test_verdicts_only_stay_one_query_without_the_group_by(parquet: Path) -> None:
    report = check(SUITE.replace(f"sample_size: {SIZE}", "sample_size: 0"), str(parquet))
    assert report.queries == 1
    assert all(r.sample == [] for r in report.results)
    pair = by_label(report)["unique(SCHL, RAC1P)"]
    assert "(rows − distinct)" in pair.message  # decided by the counts, no group-by
