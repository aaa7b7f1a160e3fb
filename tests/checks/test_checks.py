"""Suites on every kind of input, judged against an independent pandas computation."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.checks import Reason, check, load_suite
from assay.errors import SuiteError, UsageError

# A suite with every expectation type; the data below makes some of them fail.
SUITE = """
suite: employment-clean
stage: preprocessed
expectations:
  - row_count: {min: 10000, max: 40000}
  - column_count: {min: 20}
  - columns: {required: [id, AGEP, SEX, employed]}
  - column_type: {column: AGEP, types: [float]}
  - not_null: {column: AGEP}
  - not_null: {column: MIL, mostly: 0.9}
  - null: {column: note, mostly: 0.95}
  - unique: {column: id}
  - unique: {columns: [SEX, RAC1P], mostly: 0.001}
  - unique_within_record: {columns: [DEAR, DEYE, DREM], mostly: 0.01}
  - between: {column: AGEP, min: 0, max: 95}
  - between: {column: SCHL, min: 1, max: 24, strict_max: true, mostly: 0.9}
  - in_set: {column: SEX, values: [1, 2]}
  - not_in_set: {column: RAC1P, values: [4, 5], severity: warn}
  - length_between: {column: name, min: 4, max: 6}
  - match_regex: {column: name, pattern: "^[A-Z]"}
  - not_match_regex: {column: name, pattern: "[0-9]"}
  - compare: {left: AGEP, op: ">", right: SCHL, mostly: 0.9}
  - expression: {expr: "AGEP >= 16 or ESP > 0", mostly: 0.99}
  - mean_between: {column: employed, min: 0.4, max: 0.6}
  - median_between: {column: AGEP, min: 30, max: 55}
  - quantile_between: {column: AGEP, q: 0.9, min: 70, max: 90}
  - stdev_between: {column: AGEP, min: 10, max: 30}
  - sum_between: {column: employed, min: 1000}
  - min_between: {column: AGEP, min: 0, max: 1}
  - max_between: {column: AGEP, max: 99}
  - null_fraction: {column: MIL, max: 0.01}
  - distinct_count_between: {column: RAC1P, min: 5, max: 9}
  - distinct_fraction_between: {column: id, min: 0.999}
  - distinct_values: {column: SEX, subset_of: [1, 2]}
  - distinct_values: {column: RAC1P, superset_of: [1, 2, 3, 10]}
  - most_common_in_set: {column: RAC1P, values: [1]}
  - slice:
      name: women
      where: "SEX = 2"
      expectations:
        - mean_between: {column: employed, min: 0.3, max: 0.45}
        - row_count: {min: 100}
        - not_null: {column: AGEP}
"""


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Real ACS rows with planted problems: nulls, an out-of-range age, a duplicate id."""
    acs = pq.read_table(Path(__file__).parents[2] / "examples/data/acs_employment_ma.parquet")
    df = acs.slice(0, 30_000).to_pandas()
    rng = np.random.default_rng(7)
    df["AGEP"] = df["AGEP"].astype("float64")
    df.loc[rng.choice(len(df), 40, replace=False), "AGEP"] = np.nan
    df.loc[[11, 12], "AGEP"] = [130.0, 97.0]
    df["MIL"] = df["MIL"].astype("Int64")
    df.loc[rng.choice(len(df), 900, replace=False), "MIL"] = pd.NA
    df.loc[20, "id"] = df.loc[21, "id"]
    words = np.array(["Anna", "Bob", "carl", "Dora5", "Eve", "Frederick"])
    df["name"] = words[rng.integers(0, len(words), len(df))]
    df.loc[rng.choice(len(df), 300, replace=False), "name"] = None
    df["note"] = None
    df.loc[rng.choice(len(df), 1000, replace=False), "note"] = "checked"
    return df


# -- the independent reference: each expectation computed with pandas ---------------


def _rows(df: pd.DataFrame, e: dict[str, Any], considered: pd.Series, bad: pd.Series) -> dict:
    total, unexpected = int(considered.sum()), int((bad & considered).sum())
    mostly = e.get("mostly", 1.0)
    ok = total == 0 or (total - unexpected) / total >= mostly
    return {"passed": ok, "unexpected": unexpected, "total": total}


def _bounded(value: Any, e: dict[str, Any]) -> dict:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {"passed": False, "observed": None}
    ok = True
    if e.get("min") is not None:
        ok &= value > e["min"] if e.get("strict_min") else value >= e["min"]
    if e.get("max") is not None:
        ok &= value < e["max"] if e.get("strict_max") else value <= e["max"]
    return {"passed": bool(ok), "observed": value}


def reference(df: pd.DataFrame, kind: str, e: dict[str, Any]) -> dict:
    """What pandas says about one expectation (independent of assay's code)."""
    c = e.get("column")
    col = df[c] if c is not None else None
    if kind == "row_count":
        return _bounded(len(df), e)
    if kind == "column_count":
        return _bounded(df.shape[1], e)
    if kind == "columns":
        return {"passed": all(x in df.columns for x in e["required"])}
    if kind == "column_type":
        return {"passed": pd.api.types.is_float_dtype(col)}
    if kind == "not_null":
        return _rows(df, e, pd.Series(True, index=df.index), col.isna())
    if kind == "null":
        return _rows(df, e, pd.Series(True, index=df.index), col.notna())
    if kind == "unique":
        cols = [c] if c else e["columns"]
        sub = df[cols]
        considered = sub.notna().any(axis=1)
        bad = sub[considered].duplicated(keep=False).reindex(df.index, fill_value=False)
        return _rows(df, e, considered, bad)
    if kind == "unique_within_record":
        sub = df[e["columns"]]
        values = sub.to_numpy(dtype="float64")
        bad = pd.Series(
            [len(set(r[~np.isnan(r)])) < int((~np.isnan(r)).sum()) for r in values], index=df.index
        )
        return _rows(df, e, sub.notna().any(axis=1), bad)
    if kind == "between":
        lo, hi = e.get("min"), e.get("max")
        ok = pd.Series(True, index=df.index)
        if lo is not None:
            ok &= col > lo if e.get("strict_min") else col >= lo
        if hi is not None:
            ok &= col < hi if e.get("strict_max") else col <= hi
        return _rows(df, e, col.notna(), ~ok)
    if kind == "in_set":
        return _rows(df, e, col.notna(), ~col.isin(e["values"]))
    if kind == "not_in_set":
        return _rows(df, e, col.notna(), col.isin(e["values"]))
    if kind == "length_between":
        n = col.str.len()
        return _rows(df, e, col.notna(), ~n.between(e["min"], e["max"]))
    if kind in ("match_regex", "not_match_regex"):
        hit = col.map(lambda v: isinstance(v, str) and re.search(e["pattern"], v) is not None)
        return _rows(df, e, col.notna(), ~hit if kind == "match_regex" else hit)
    if kind == "compare":
        a, b = df[e["left"]], df[e["right"]]
        return _rows(df, e, a.notna() & b.notna(), ~(a > b))
    if kind == "expression":
        ok = ((df.AGEP >= 16) & df.AGEP.notna()) | (df.ESP > 0)
        return _rows(df, e, pd.Series(True, index=df.index), ~ok)
    if kind == "mean_between":
        return _bounded(col.mean(), e)
    if kind == "median_between":
        return _bounded(col.median(), e)
    if kind == "quantile_between":
        return _bounded(col.quantile(e["q"]), e)
    if kind == "stdev_between":
        return _bounded(col.std(ddof=1), e)
    if kind == "sum_between":
        return _bounded(col.sum(), e)
    if kind == "min_between":
        return _bounded(col.min(), e)
    if kind == "max_between":
        return _bounded(col.max(), e)
    if kind == "null_fraction":
        return _bounded(col.isna().mean(), e)
    if kind == "distinct_count_between":
        return _bounded(col.nunique(), e)
    if kind == "distinct_fraction_between":
        return _bounded(col.nunique() / col.notna().sum(), e)
    if kind == "distinct_values":
        seen = set(col.dropna().unique())
        if "subset_of" in e:
            return {"passed": seen <= set(e["subset_of"])}
        return {"passed": set(e["superset_of"]) <= seen}
    if kind == "most_common_in_set":
        counts = col.value_counts()
        modes = set(counts[counts == counts.max()].index)
        return {"passed": modes <= set(e["values"])}
    raise AssertionError(kind)


def expected_results(df: pd.DataFrame) -> list[tuple[str, dict]]:
    """(position, reference verdict) for every leaf of SUITE, on ``df``."""
    import yaml

    doc = yaml.safe_load(SUITE)
    out = []
    for i, entry in enumerate(doc["expectations"]):
        ((kind, args),) = entry.items()
        kind = kind or "null"  # YAML reads the key `null:` as None
        if kind == "slice":
            women = df[df.SEX == 2]
            for j, child in enumerate(args["expectations"]):
                ((k, a),) = child.items()
                out.append((f"{i}.{j + 1}", reference(women.reset_index(drop=True), k, a)))
        else:
            out.append((str(i), reference(df, kind, args)))
    return out


def assert_matches_reference(report: assay.checks.CheckReport, df: pd.DataFrame) -> None:
    got = {r.position: r for r in report.results}
    ref = expected_results(df)
    assert [p for p, _ in ref] == [r.position for r in report.results]
    for position, want in ref:
        r = got[position]
        assert r.passed == want["passed"], (position, r.label, r.message, want)
        if "unexpected" in want:
            assert (r.unexpected_count, r.element_count) == (want["unexpected"], want["total"]), (
                position,
                r.label,
            )
        if want.get("observed") is not None and r.type not in ("row_count", "column_count"):
            assert r.observed == pytest.approx(want["observed"], rel=1e-9), (position, r.label)


def test_reference_is_not_trivial(frame: pd.DataFrame) -> None:
    # The planted problems make a real mix of verdicts, so agreement means something.
    verdicts = [v["passed"] for _, v in expected_results(frame)]
    assert 8 <= verdicts.count(False) <= len(verdicts) - 8


def test_pandas_frame_matches_pandas_reference(frame: pd.DataFrame) -> None:
    report = check(SUITE, frame)
    assert_matches_reference(report, frame)
    assert not report.passed and report.exit_code == 1
    assert report.row_count == len(frame)
    # One pass for every aggregate, then follow-ups only around failures (examples; for
    # unique also the count of repeated rows), plus the group-by of most_common_in_set.
    unique = sum(1 for r in report.results if r.type == "unique" and r.unexpected_count)
    assert report.queries <= 1 + len(report.failures) + unique + 1


@pytest.mark.parametrize(
    "kind", ["arrow", "arrow-stream", "polars", "duckdb", "parquet", "url", "csv", "jsonl"]
)
def test_every_input_kind_gives_the_same_results(
    frame: pd.DataFrame, kind: str, tmp_path: Path
) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    data: Any
    if kind == "arrow":
        data = table
    elif kind == "arrow-stream":
        data = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(4096))
    elif kind == "polars":
        data = pl.from_arrow(table)
    elif kind == "duckdb":
        import duckdb

        data = duckdb.connect().from_arrow(table)
    elif kind == "parquet":
        data = tmp_path / "rows.parquet"
        pq.write_table(table, data)
    elif kind == "url":  # any fsspec URL: read through a local copy
        import fsspec

        with fsspec.open(f"memory://{tmp_path.name}/rows.parquet", "wb") as f:
            pq.write_table(table, f)
        data = f"memory://{tmp_path.name}/rows.parquet"
    elif kind == "csv":
        data = tmp_path / "rows.csv"
        frame.to_csv(data, index=False)
    else:
        data = tmp_path / "rows.jsonl"
        frame.to_json(data, orient="records", lines=True)
    report = check(SUITE, data)
    if kind in ("csv", "jsonl"):
        # Text formats carry no types: an all-integer AGEP column reads back as integers.
        rest = [r for r in report.results if r.type != "column_type"]
        baseline = [r for r in check(SUITE, frame).results if r.type != "column_type"]
        assert [(r.position, r.passed, r.unexpected_count) for r in rest] == [
            (r.position, r.passed, r.unexpected_count) for r in baseline
        ]
    else:
        assert_matches_reference(report, frame)


def test_failing_rows_are_sampled_with_their_position(frame: pd.DataFrame) -> None:
    report = check(SUITE, frame)
    between = next(r for r in report.results if r.label == "between(AGEP)")
    assert between.reason == Reason.UNEXPECTED_ROWS
    assert between.sample == [{"row": 11, "AGEP": 130.0}, {"row": 12, "AGEP": 97.0}]
    unique = next(r for r in report.results if r.label == "unique(id)")
    dup = frame.loc[20, "id"]
    assert unique.unexpected_count == 2 and unique.sample == [{"id": dup, "count": 2}]
    superset = next(r for r in report.results if r.position == "30")
    assert superset.reason == Reason.MISSING_VALUES and "10" in superset.message
    assert sorted(superset.observed) == sorted(frame.RAC1P.unique().tolist())


def test_a_passing_suite_is_one_query(frame: pd.DataFrame) -> None:
    passing = [
        e
        for (p, want), e in zip(expected_results(frame), load_suite(SUITE).walk(), strict=True)
        if want["passed"] and "." not in p and e[1].type not in ("most_common_in_set",)
    ]
    suite = assay.checks.expectations.suite_of([e for _, e, _ in passing])
    report = check(suite, frame)
    assert report.passed and len(report.results) >= 15
    assert report.queries == 1


def test_warnings_do_not_fail_the_suite(frame: pd.DataFrame) -> None:
    report = check(
        {
            "suite": "w",
            "expectations": [{"in_set": {"column": "SEX", "values": [1], "severity": "warn"}}],
        },
        frame,
    )
    (r,) = report.results
    assert not r.passed and r.severity == "warn"
    assert report.passed and report.exit_code == 0 and report.summary() == "0 passed, 1 warning"


def test_parquet_footer_answers_without_a_scan(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7000)
    suite = {
        "suite": "footer",
        "expectations": [
            {"row_count": {"min": 1}},
            {"not_null": {"column": "AGEP"}},
            {"null_fraction": {"column": "MIL", "max": 0.05}},
            {"between": {"column": "SEX", "min": 1, "max": 2}},
            {"columns": {"required": ["id"]}},
        ],
    }
    report = check(suite, path)
    assert report.queries == 0 or report.failures  # not_null fails: its sample needs a query
    assert all(r.from_metadata for r in report.results)
    by = {r.label: r for r in report.results}
    assert by["row_count"].observed == len(frame)
    assert by["not_null(AGEP)"].unexpected_count == int(frame.AGEP.isna().sum())
    assert by["null_fraction(MIL)"].observed == pytest.approx(frame.MIL.isna().mean())
    assert by["between(SEX)"].passed and by["between(SEX)"].element_count == len(frame)
    # Without failures there is nothing to sample: no query at all.
    clean = {"suite": "c", "expectations": suite["expectations"][:1] + suite["expectations"][2:]}
    assert check(clean, path).queries == 0


def test_version_input_recipe_fingerprint_and_object(
    employment: assay.Store, frame: pd.DataFrame, tmp_path: Path
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "dataset: employment\ndeltas: {include: [base, y2016]}\n"
        "slices: {women: 'SEX = 2', old: 'AGEP >= 65'}\n"
    )
    version = assay.compose(recipe, store=employment)
    df = version.to_pandas().drop(columns=["split"])
    suite = {
        "suite": "v",
        "stage": "raw",
        "expectations": [
            {"row_count": {"min": 1}},
            {"unique": {"column": "id"}},
            {"mean_between": {"column": "employed", "min": 0.45, "max": 0.5}},
            {
                "slice": {
                    "name": "old",
                    "expectations": [{"mean_between": {"column": "employed", "max": 0.2}}],
                }
            },
        ],
    }
    want_old = df[df.AGEP >= 65].employed.mean()
    for data in (version, str(recipe), version.fingerprint[:10]):
        report = check(suite, data, store=employment)
        assert report.fingerprint == version.fingerprint and report.dataset == "employment"
        assert [r.passed for r in report.results] == [
            True,
            True,
            0.45 <= df.employed.mean() <= 0.5,
            want_old <= 0.2,
        ]
        assert report.results[3].observed == pytest.approx(want_old)
    # Every check was recorded against the fingerprint and the stage.
    recorded = employment.catalog.list_checks(fingerprint=version.fingerprint)
    assert len(recorded) == 3 and {r["stage"] for r in recorded} == {"raw"}
    assert employment.catalog.get_check(recorded[0]["id"][:8])["results"][3]["slice"] == "old"


def test_split_is_checked_alone(employment: assay.Store, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: employment\n")
    version = assay.compose(recipe, store=employment)
    test_rows = version.to_pandas(split="test")
    report = check(
        {
            "suite": "s",
            "expectations": [
                {"row_count": {"min": 1}},
                {"in_set": {"column": "split", "values": ["test"]}},
            ],
        },
        version,
        split="test",
    )
    assert report.results[0].observed == len(test_rows) and report.results[1].passed
    with pytest.raises(UsageError, match="no split 'tset'"):
        check({"suite": "s", "expectations": [{"row_count": {"min": 1}}]}, version, split="tset")


def test_insert_only_version_is_answered_from_delta_statistics(
    employment: assay.Store, acs: pa.Table
) -> None:
    from assay.data.compose import find_version

    version = assay.compose({"dataset": "employment"}, store=employment)
    lazy = find_version(version.fingerprint, store=employment)
    suite = {
        "suite": "stats",
        "expectations": [
            {"row_count": {"min": 277_677, "max": 277_677}},
            {"not_null": {"column": "AGEP"}},
            {"between": {"column": "AGEP", "min": 0, "max": 99}},
            {"null_fraction": {"column": "MIL", "max": 0.0}},
        ],
    }
    report = check(suite, lazy)
    assert report.passed and report.queries == 0
    assert all(r.from_metadata for r in report.results)
    assert lazy._table is None  # the rows were never materialised
    assert report.results[0].observed == acs.num_rows
    # A filter breaks the sums: the same suite then scans, and still agrees.
    filtered = assay.compose({"dataset": "employment", "where": "AGEP >= 16"}, store=employment)
    again = check(suite, filtered)
    assert again.queries == 1 and not again.results[0].passed


def test_suite_problems_are_all_reported_before_reading(employment: assay.Store) -> None:
    from assay.data.compose import find_version

    version = assay.compose({"dataset": "employment"}, store=employment)
    lazy = find_version(version.fingerprint, store=employment)
    suite = {
        "suite": "bad",
        "expectations": [
            {"not_null": {"column": "AGE"}},
            {"between": {"column": "AGEP", "min": "a"}},
            {"match_regex": {"column": "SEX", "pattern": "^1"}},
            {"mean_between": {"column": "split", "min": 0}},
            {"slice": {"name": "nope", "expectations": [{"row_count": {"min": 1}}]}},
        ],
    }
    with pytest.raises(SuiteError) as info:
        check(suite, lazy)
    problems = info.value.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith(
        "expectations[0] (not_null): unknown column 'AGE'; did you mean 'AGEP'?"
    )
    assert "expectations[1] (between)" in problems[1] and "numbers" in problems[1]
    assert "expectations[2] (match_regex)" in problems[2] and "not text" in problems[2]
    assert "expectations[3] (mean_between)" in problems[3] and "numeric" in problems[3]
    assert "no slice 'nope'" in problems[4] and "where:" in problems[4]
    assert lazy._table is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"row_cont": {"min": 1}}, "unknown expectation type; did you mean 'row_count'?"),
        ({"between": {"column": "a", "maxx": 3}}, "unknown argument 'maxx'; did you mean 'max'?"),
        ({"between": {"column": "a"}}, "give `min`, `max` or both"),
        ({"between": {"column": "a", "min": 3, "max": 1}}, "min (3) is greater than max (1)"),
        ({"match_regex": {"column": "a", "pattern": "(("}}, "bad regular expression '(('"),
        ({"expression": {"expr": "a >"}}, "unexpected end of expression"),
        ({"in_set": {"column": "a"}}, "missing argument 'values'"),
        ({"not_null": {"column": "a", "mostly": 1.5}}, "argument 'mostly'"),
        ({"not_null": {"column": "a", "severity": "fatal"}}, "argument 'severity'"),
        ({"unique": {"column": "a", "columns": ["b"]}}, "not both"),
        ("not_null", "must be a one-key mapping"),
    ],
)
def test_bad_expectations_name_position_and_fix(entry: Any, message: str) -> None:
    with pytest.raises(SuiteError) as info:
        load_suite({"suite": "x", "expectations": [{"row_count": {"min": 0}}, entry]})
    (problem,) = info.value.problems
    assert problem.startswith("expectations[1] "), problem
    assert message in problem, problem


def test_suite_yaml_round_trips() -> None:
    suite = load_suite(SUITE)
    again = load_suite(suite.to_yaml())
    assert again == suite.model_copy(update={"source": None})
    assert again.expectations[18].mostly == 0.99  # `min_fraction` is accepted as `mostly`
    assert (
        load_suite(
            {"suite": "a", "expectations": [{"expression": {"expr": "x > 1", "min_fraction": 0.5}}]}
        )
        .expectations[0]
        .mostly
        == 0.5
    )


def test_html_report_renders_failures_first(frame: pd.DataFrame) -> None:
    from assay.report import render_check

    report = check(SUITE, frame)
    html = render_check(report)
    assert html.startswith("<!doctype html>") and "FAILED" in html
    assert "<script" not in html and "http" not in html.split("<body>")[1]  # self-contained
    first_fail = html.index('class="fail"')
    first_pass = html.index('class="pass"')
    assert first_fail < first_pass
    assert "between(AGEP)" in html and "130" in html  # a failing sample is shown


def test_verdicts_only_skip_every_follow_up(frame: pd.DataFrame) -> None:
    # sample_size: 0 asks for verdicts only: even a failing `unique` is decided by the
    # single pass (rows − distinct), with no group-by and no examples.
    suite = {
        "suite": "v",
        "sample_size": 0,
        "expectations": [{"unique": {"column": "id"}}, {"between": {"column": "AGEP", "max": 95}}],
    }
    report = check(suite, frame)
    assert report.queries == 1
    unique, between = report.results
    assert not unique.passed and unique.observed == len(frame) - frame.id.nunique() == 1
    assert unique.unexpected_count is None and unique.sample == []
    assert not between.passed and between.unexpected_count == int((frame.AGEP > 95).sum())
