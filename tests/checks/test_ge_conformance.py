"""Great Expectations' own test cases, run through ``import_ge`` and ``assay.check``.

GE 1.2.0's test definitions (``ge_definitions/``, Apache-2.0, see the README there)
give datasets, expectation arguments and GE's verdict. For every GE type that
``import_ge`` maps, every case GE runs on its pandas backend is translated and run on
an Arrow table, and ``report.passed`` must equal GE's ``success``. A case may differ
only if it is listed in ``DIFFERENCES`` (assay deliberately differs; the difference is
asserted, so a change is noticed) or ``UNMAPPED`` (``import_ge`` leaves it out, with
the reason asserted). Cases where GE raises must raise a one-line ``SuiteError``
before any data is read (``test_ge_error_cases``).

How datasets become Arrow tables (GE builds a pandas DataFrame, then applies the
case's ``schemas.pandas`` hints):

- a hint decides the type (``int``/``Int64Dtype`` → int64, ``float`` → float64,
  ``str``/``object`` → string, ``bool``, ``datetime64`` → naive timestamp[ns],
  ``timestamp`` → timestamp[ns, UTC], ``date`` → date32);
- without one: booleans → bool, integers → int64 (nulls stay nulls: Arrow has
  nullable integers, where pandas would turn the column into float64), numbers → float64,
  text → string; an all-null or empty column → string (pandas holds it as an object
  column, which GE's pandas backend treats as text);
- a column mixing numbers and text cannot be one Arrow column: its values become text
  (``str(v)``). That is assay's deliberate difference for mixed columns (see
  ``docs/checks.md``).

The ``*_like_pattern*`` types have no pandas implementation in GE; their cases run
for PostgreSQL's LIKE (``only_for`` naming postgresql or sqlalchemy) instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import assay.checks as checks
from assay.checks.expectations import Slice, Suite
from assay.checks.ge import GE_TYPES, GeImport, import_ge
from assay.errors import AssayError, SuiteError

DEFINITIONS = Path(__file__).parent / "ge_definitions"
LIKE_TYPES = {t for t in GE_TYPES if "like_pattern" in t}


# -- the cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One GE test case: its dataset, its expectation, and GE's verdict."""

    id: str  # file stem : dataset index . case index : title
    ge_type: str
    data: Mapping[str, list[Any]]
    schema: Mapping[str, str]
    kwargs: Mapping[str, Any]
    success: bool | None
    raises: bool  # GE raises (an `error` or `traceback_substring`)


def _runs_on(backends: list[str] | None, like: bool, only: bool) -> bool:
    names = set(backends or [])
    if like:
        return bool(names & {"postgresql", "sqlalchemy"}) if only else "postgresql" not in names
    if only:
        return bool(names & {"pandas", "pandas>=024"})
    return "pandas" not in names


def load_cases() -> list[Case]:
    """Every case GE runs on pandas (PostgreSQL for LIKE), from the copied definitions."""
    cases = []
    for path in sorted(DEFINITIONS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        ge_type = doc["expectation_type"]
        like = ge_type in LIKE_TYPES
        for d, dataset in enumerate(doc["datasets"]):
            if dataset.get("only_for") and not _runs_on(dataset["only_for"], like, True):
                continue
            if not _runs_on(dataset.get("suppress_test_for"), like, False):
                continue
            schema = (dataset.get("schemas") or {}).get("pandas") or {}
            for t, test in enumerate(dataset["tests"]):
                if test.get("only_for") and not _runs_on(test["only_for"], like, True):
                    continue
                if not _runs_on(test.get("suppress_test_for"), like, False):
                    continue
                if like and not test.get("only_for"):
                    continue  # LIKE cases name their backends; the rest are for pandas
                out = test.get("out", {})
                cases.append(
                    Case(
                        id=f"{path.stem}:{d}.{t}:{test['title']}",
                        ge_type=ge_type,
                        data=dataset["data"],
                        schema=schema,
                        kwargs=test["in"],
                        success=out.get("success"),
                        raises="error" in test or "traceback_substring" in out,
                    )
                )
    return cases


CASES = load_cases()


def _column(values: list[Any], hint: str | None) -> pa.Array:
    present = [v for v in values if v is not None]
    hint = (hint or "").lower()
    if hint in ("datetime", "datetime64", "datetime64[ns]", "timestamp", "datetime64[ns, tz]"):
        import pandas as pd

        utc = hint in ("timestamp", "datetime64[ns, tz]")
        parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=utc, format="mixed")
        return pa.array(parsed, type=pa.timestamp("ns", tz="UTC" if utc else None))
    if hint == "date":
        return pa.array([None if v is None else dt.date.fromisoformat(v[:10]) for v in values])
    if hint in ("int", "int64", "int64dtype", "int32"):
        return pa.array([None if v is None else int(v) for v in values], pa.int64())
    if hint in ("float", "float64", "float64dtype"):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if hint in ("bool", "boolean"):
        return pa.array(values, pa.bool_())
    if hint in ("str", "string", "object") or hint == "":
        if not present:
            return pa.array(values, pa.string())
        if all(isinstance(v, bool) for v in present) and not hint:
            return pa.array(values, pa.bool_())
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        if numbers and not hint:
            ints = all(isinstance(v, int) for v in present)
            return pa.array(values, pa.int64() if ints else pa.float64())
        if all(isinstance(v, str) for v in present):
            return pa.array(values, pa.string())
        # A mixed column (GE keeps Python objects) cannot be one Arrow column: text.
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    raise AssertionError(f"unknown schema hint {hint!r}")


def build_table(data: Mapping[str, list[Any]], schema: Mapping[str, str]) -> pa.Table:
    """The case's dataset as an Arrow table, typed as described in the module docstring."""
    return pa.table({name: _column(values, schema.get(name)) for name, values in data.items()})


def _ge_suite(case: Case) -> dict[str, Any]:
    return {"name": case.id, "expectations": [{"type": case.ge_type, "kwargs": dict(case.kwargs)}]}


def _leaves(suite: Suite) -> int:
    return sum(len(e.expectations) if isinstance(e, Slice) else 1 for e in suite.expectations)


# -- deliberate differences and unmapped cases ---------------------------------------------

# case id → why assay's verdict differs from GE's (the test asserts assay's verdict is
# the opposite of GE's, or that assay raises where GE does not).
_MIXED = "mixed number/text column: assay holds it as text and refuses comparing text with numbers"
_CROSS = "a number column compared with text: assay refuses it (GE's pandas finds no equal row)"
_UNTYPED = (
    "an all-null column has no type; held as text, assay refuses a numeric aggregate on it "
    "before reading data, where GE reports failure: both fail the check"
)
DIFFERENCES: dict[str, str] = {
    "expect_column_pair_values_to_be_equal:0.1:basic_negative_example_compare_number_to_text": _MIXED,
    "expect_column_pair_values_to_be_equal:0.3:positive_example_with_mostly_compare_number_to_text": _MIXED,
    "expect_column_pair_values_to_be_equal:0.5:positive_example_with_mismatched_null_values_and_ignore_row_if__either_value_is_missing_compare_number_to_text": _MIXED,
    "expect_column_values_to_be_between:0.29:test_conditional_expectation_fails": _MIXED,
    "expect_column_values_to_be_between_tz_naive:0.29:test_conditional_expectation_fails": _MIXED,
    "expect_column_values_to_be_in_set:0.10:test_conditional_expectation_passes": _CROSS,
    "expect_column_value_lengths_to_be_between:0.5:negative_test_with_max_lt_min": (
        "min_value > max_value is refused at import (GE refuses it for values_between, "
        "but reports a failure for lengths)"
    ),
    **{
        f"expect_column_{what}_to_be_between:{ds}.0:test_empty_column_should_be_false_no_observed_value_with_which_to_compare": _UNTYPED
        for what, ds in (("max", 1), ("mean", 3), ("median", 1))
    },
}

# case id → a phrase of the Unmapped reason import_ge gives.
_VACUOUS = "passes it on any"
_PARAMETER = "suite parameter"
UNMAPPED: dict[str, str] = {
    **{
        f"{case}": _VACUOUS
        for case in (
            "expect_column_distinct_values_to_be_in_set:0.1:vacuously_true_universal_set",
            "expect_column_mean_to_be_between:0.7:vacuously_true_missing_min_and_max",
            "expect_column_median_to_be_between:0.8:vacuously_true_both_min_and_max_null",
            "expect_column_proportion_of_unique_values_to_be_between:0.4:vacuously_true_null_min_and_max",
            "expect_column_stdev_to_be_between:0.1:vacuously_true",
            "expect_column_unique_value_count_to_be_between:0.4:vacuously_true_null_min_and_max",
            "expect_column_values_to_be_in_type_list:0.25:positive_test_placeholder_expectation",
            "expect_table_column_count_to_be_between:0.1:vacuously_true",
            "expect_table_columns_to_match_ordered_list:0.5:null_list_provides_vacuously_true_expectation",
            "expect_table_columns_to_match_set:0.11:positive_test_vacuously_true_null_set_exact_match_false",
            "expect_table_row_count_to_be_between:0.1:vacuously_true",
        )
    },
    **{
        case: _PARAMETER
        for case in (
            "expect_column_max_to_be_between:0.7:datetime_with_evaluation_parameter_except_sqlite",
            "expect_column_values_to_be_between__evaluation_parameters:0.0:basic_positive_now_test",
            "expect_column_values_to_be_between__evaluation_parameters:0.1:basic_negative_now_test_pandas_spark_select_sql",
            "expect_column_values_to_be_between__evaluation_parameters:0.3:basic_positive_now_timedelta_test",
            "expect_column_values_to_be_between__evaluation_parameters:0.4:basic_negative_now_timedelta_test_pandas_spark_select_sql",
            "expect_column_values_to_be_between__evaluation_parameters:0.6:basic_positive_datetime_test",
            "expect_column_values_to_be_between__evaluation_parameters:0.7:basic_negative_datetime_test_pandas_spark_select_sql",
        )
    },
    "expect_column_to_exist:0.2:positive_test_with_column_order": "column_index",
    "expect_column_to_exist:0.3:column_exists_but_wrong_index": "column_index",
    "expect_column_values_to_be_of_type:0.20:dtype_object_and_type_object_still_has_aggregate_semantics": "'object'",
    "expect_column_values_to_be_of_type:0.21:dtype_object_and_type_object_still_has_aggregate_semantics_object_underscore": "'object_'",
    "expect_column_values_to_be_of_type:0.22:dtype_object_and_type_object_still_has_aggregate_semantics_big_o": "'O'",
    "expect_column_values_to_match_like_pattern_list:0.2:basic_negative_test": "character class in SQL Server",
    "expect_column_values_to_not_match_like_pattern:0.12:positive_test_one_missing_value_no_exceptions": "character class in SQL Server",
    "expect_column_values_to_not_match_like_pattern_list:0.0:basic_positive_test": "character class in SQL Server",
}

# GE raises, assay does not: case id → why.
ERROR_DIFFERENCES: dict[str, str] = {}


@dataclass
class Outcome:
    """What assay made of one case."""

    imported: GeImport | None  # None: import_ge raised
    passed: bool | None  # None: assay raised
    error: str | None = None


def run_cases(cases: list[Case]) -> dict[str, Outcome]:
    """Import and check each case; the cases of one dataset share one suite and one pass."""
    outcomes: dict[str, Outcome] = {}
    groups: dict[int, list[Case]] = defaultdict(list)
    for case in cases:
        groups[id(case.data)].append(case)
    for group in groups.values():
        table = build_table(group[0].data, group[0].schema)
        imports: dict[str, GeImport] = {}
        for c in group:
            try:
                imports[c.id] = import_ge(_ge_suite(c))
            except AssayError as e:
                outcomes[c.id] = Outcome(None, None, f"import: {e}")
        group = [c for c in group if c.id in imports]
        entries = [e for c in group for e in imports[c.id].suite.expectations]
        try:
            report = checks.check(Suite(suite="batch", expectations=entries), table, record=False)
        except Exception:
            report = None  # some case does not fit the data: run them one by one
        start = 0
        for c in group:
            imported = imports[c.id]
            if report is not None:
                n = _leaves(imported.suite)
                results = report.results[start : start + n]
                start += n
                outcomes[c.id] = Outcome(imported, all(r.passed for r in results))
                continue
            try:
                alone = checks.check(imported.suite, table, record=False)
                outcomes[c.id] = Outcome(imported, alone.passed)
            except AssayError as e:
                outcomes[c.id] = Outcome(imported, None, str(e))
            except Exception as e:  # a crash is reported with the case, not instead of it
                outcomes[c.id] = Outcome(imported, None, f"CRASH {type(e).__name__}: {e}")
    return outcomes


def test_conformance() -> None:
    """Every GE case gives GE's verdict, unless listed as a difference or unmapped."""
    cases = [c for c in CASES if not c.raises]
    outcomes = run_cases(cases)
    problems: list[str] = []
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        got = outcomes[case.id]
        reasons = [u.reason for u in got.imported.unmapped] if got.imported else []
        tally[case.ge_type]["total"] += 1
        if case.id in UNMAPPED:
            if not any(UNMAPPED[case.id] in r for r in reasons):
                problems.append(
                    f"{case.id}: expected unmapped ({UNMAPPED[case.id]}), got {reasons}"
                )
            tally[case.ge_type]["unmapped"] += 1
        elif reasons:
            problems.append(f"{case.id}: unexpectedly unmapped: {reasons}")
        elif case.id in DIFFERENCES:
            if got.passed == case.success:
                problems.append(
                    f"{case.id}: listed as a difference but now matches GE; update DIFFERENCES"
                )
            tally[case.ge_type]["different"] += 1
        elif got.passed != case.success:
            shown = got.error or f"passed={got.passed}"
            problems.append(
                f"{case.id}: GE success={case.success}, assay {shown}; kwargs {dict(case.kwargs)}"
            )
        else:
            tally[case.ge_type]["matched"] += 1
    for listed in (*DIFFERENCES, *UNMAPPED):
        if listed not in {c.id for c in cases}:
            problems.append(f"{listed}: listed, but no such case runs")
    print("\nGE conformance (type: matched/total, deliberate differences, unmapped)")
    for ge_type in sorted(tally):
        t = tally[ge_type]
        print(
            f"  {ge_type}: {t['matched']}/{t['total']}, {t['different']} different, {t['unmapped']} unmapped"
        )
    assert not problems, "\n".join(problems)


def test_ge_error_cases() -> None:
    """Where GE raises, assay raises a SuiteError (one line per problem, naming its
    position) before reading any data: the table it is given has no rows."""
    cases = [c for c in CASES if c.raises]
    assert len(cases) >= 30
    problems = []
    for case in cases:
        table = build_table(case.data, case.schema)
        try:
            imported = import_ge(_ge_suite(case))
            checks.check(imported.suite, _no_rows(table), record=False)
        except SuiteError as e:
            # One line per problem, each naming the expectation's position.
            if not e.problems or any(
                "\n" in p or not p.startswith("expectations[0]") for p in e.problems
            ):
                problems.append(f"{case.id}: not one positioned line per problem: {e}")
            continue
        problems.append(f"{case.id}: GE raises, assay does not; kwargs {dict(case.kwargs)}")
    assert not problems, "\n".join(problems)


def _no_rows(table: pa.Table) -> pa.Table:
    # The same columns with no rows: an error raised here was raised before reading data.
    return table.slice(0, 0)


# -- a suite written by GE itself, on the ACS data --------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
ACS = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"


def _pandas_verdicts(df: Any) -> list[bool]:
    """The fixture suite's verdicts computed with pandas alone, in assay's leaf order."""
    ge_columns = json.loads((FIXTURES / "ge_suite_employment.json").read_text())["expectations"][1]
    adults = df[df.AGEP >= 16]
    either = df[df.AGEP.notna() | df.SCHL.notna()]
    verdicts = [
        10_000 <= len(df) <= 1_000_000,
        set(df.columns) == set(ge_columns["kwargs"]["column_set"]),
        not df.id.dropna().duplicated().any(),
        not df[["id", "year"]].dropna(how="all").duplicated().any(),
        bool(df.AGEP.notna().all()),
        df.MIL.isna().mean() <= 0.01,
        df.AGEP.dropna().between(0, 99).mean() >= 0.999,
        bool(df.SEX.dropna().isin([1, 2]).all()),
        df.RAC1P.dropna().isin(range(1, 9)).mean() >= 0.95,
        set(df.year.dropna().unique()) <= {2015, 2016, 2017, 2018},
        20 <= df.SCHL.nunique() <= 25,
        0.4 <= df.employed.mean() <= 0.6,
        0.55 <= adults.employed.mean() <= 0.8,
        30 <= df.AGEP.median() <= 55,
        5 <= df.AGEP.quantile(0.1) <= 15,
        35 <= df.AGEP.quantile(0.5) <= 50,
        65 <= df.AGEP.quantile(0.9) <= 80,
        (either.AGEP >= either.SCHL).mean() >= 0.95,
    ]
    return [bool(v) for v in verdicts]


def test_real_ge_suite_on_acs() -> None:
    """GE 1.24's own suite JSON: what maps, what does not, and verdicts that match pandas and GE."""
    import pandas as pd

    imported = import_ge(FIXTURES / "ge_suite_employment.json")
    assert imported.suite.name == "ge_suite_employment"
    assert [(u.position, u.ge_type, u.column) for u in imported.unmapped] == [
        (16, "expect_column_kl_divergence_to_be_less_than", "SEX"),
        (17, "expect_column_value_z_scores_to_be_less_than", "AGEP"),
        (18, "expect_column_values_to_be_json_parseable", "ANC"),
    ]
    assert all("no assay equivalent" in u.reason for u in imported.unmapped)
    leaves = [(sl.where if sl else None, e) for _, e, sl in imported.suite.walk()]
    assert [e.type for _, e in leaves] == [
        "row_count", "columns", "unique", "unique", "not_null", "null_fraction", "between",
        "in_set", "in_set", "distinct_values", "distinct_count_between", "mean_between",
        "mean_between", "median_between", "quantile_between", "quantile_between",
        "quantile_between", "expression",
    ]  # fmt: skip
    assert leaves[12][0] == "AGEP >= 16"  # the structured row_condition
    assert leaves[12][1].description == (
        "Employment rate among working-age people [GE id 40656674-b4f3-4583-b2d2-144a29f126e1]"
    )
    assert leaves[17][0] == "AGEP is not null or SCHL is not null"  # GE's ignore_row_if
    assert leaves[17][1].severity == "warn"  # GE severity "warning"

    df = pd.read_parquet(ACS)
    report = checks.check(imported.suite, ACS, record=False)
    got = [r.passed for r in report.results]
    assert got == _pandas_verdicts(df)
    assert all(got)  # the suite was written for this data

    # The same suite on planted faults must fail exactly where pandas says it does.
    bad = df.copy()
    bad["AGEP"] = bad.AGEP.astype("float64")
    bad.loc[bad.index[:400], "AGEP"] = None
    bad.loc[bad.index[400:3400], "AGEP"] = 120.0
    bad.loc[bad.index[5], "id"] = bad.id.iloc[6]
    bad.loc[bad.index[7:9], "SEX"] = 3
    bad["MIL"] = bad.MIL.astype("float64")
    bad.loc[bad.index[10:5000], "MIL"] = None
    faulty = [r.passed for r in checks.check(imported.suite, bad, record=False).results]
    assert faulty == _pandas_verdicts(bad)
    assert faulty.count(False) >= 5

    # GE's own verdicts on the same rows (written next to the suite by GE): the leaf
    # results, folded back to GE positions (14 became three quantile checks).
    ge = json.loads((FIXTURES / "ge_suite_employment.results.json").read_text())["results"]
    by_position = dict.fromkeys(range(16), True)
    for i, passed in enumerate(got):
        by_position[i if i < 14 else 14 if i < 17 else 15] &= passed
    assert by_position == {r["position"]: r["success"] for r in ge if r["position"] < 16}


# -- focused tests: import_ge's input handling, and the semantic fixes GE's cases found ------


def _one(ge_type: str, **kwargs: Any) -> GeImport:
    return import_ge({"name": "t", "expectations": [{"type": ge_type, "kwargs": kwargs}]})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        (
            "{not json",
            "not JSON (Expecting property name enclosed in double quotes at line 1, column 2)",
        ),
        ('{"name": "x", "rules": []}', "not a Great Expectations suite"),
        ("/no/such/suite.json", "the file does not exist"),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_not_be_null", '
            '"kwargs": {"column": "a", "mostly_": 0.9}}]}',
            "expectations[0] (expect_column_values_to_not_be_null): unknown argument 'mostly_' "
            "(allowed: column, condition_parser, mostly, row_condition); remove it",
        ),
        (
            '{"name": "x", "expectations": [{"kwargs": {"column": "a"}}]}',
            "expectations[0]: no `type` (GE 1.x) or `expectation_type` (GE 0.x); add one",
        ),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_between", '
            '"kwargs": {"column": "a", "min_value": 0, "max_value": 1, "mostly": 1.5}}]}',
            "expectations[0] (expect_column_values_to_be_between → between): argument 'mostly'",
        ),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_in_set", '
            '"kwargs": {"column": "a", "value_set": [1], "row_condition": "a > 1", '
            '"condition_parser": "sql"}}]}',
            "condition_parser 'sql' is not one of pandas, great_expectations",
        ),
    ],
)
def test_bad_input_is_one_line_naming_position(source: str, fragment: str) -> None:
    with pytest.raises(SuiteError) as info:
        import_ge(source)
    assert len(info.value.problems) == 1
    assert "\n" not in str(info.value)
    assert fragment in str(info.value)


def test_reads_ge_0x_suites_and_keeps_notes() -> None:
    imported = import_ge(
        {
            "expectation_suite_name": "legacy",
            "expectations": [
                {
                    "expectation_type": "expect_column_values_to_be_between",
                    "kwargs": {
                        "column": "a",
                        "min_value": None,
                        "max_value": 3,
                        "result_format": "BASIC",
                    },
                    "meta": {"notes": {"format": "markdown", "content": ["ages", "are small"]}},
                },
                {
                    "expectation_type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "a", "value_set": [1], "parse_strings_as_datetimes": True},
                },
            ],
        }
    )
    assert imported.suite.name == "legacy"
    (between,) = imported.suite.expectations
    assert between.to_yaml_entry() == {
        "between": {"column": "a", "max": 3, "description": "ages are small"}
    }
    assert [u.to_dict() for u in imported.unmapped] == [
        {
            "position": 1,
            "ge_type": "expect_column_values_to_be_in_set",
            "column": "a",
            "reason": "argument `parse_strings_as_datetimes` has no assay equivalent",
        }
    ]


@pytest.mark.parametrize(
    ("condition", "parser", "where"),
    [
        ("x!=1 & w!=6", "pandas", "x != 1 and w != 6"),
        ('(a == 5) | ~(b == "e")', "pandas", "a = 5 or not b = 'e'"),
        ("`a b` in [1, 2]", "pandas", "`a b` in (1, 2)"),
        ('col("x") > 5', "great_expectations", "x > 5"),
    ],
)
def test_row_conditions_become_slices(condition: str, parser: str, where: str) -> None:
    imported = _one(
        "expect_column_values_to_not_be_null",
        column="z",
        row_condition=condition,
        condition_parser=parser,
    )
    (sl,) = imported.suite.expectations
    assert isinstance(sl, Slice)
    assert (sl.where, [e.type for e in sl.expectations]) == (where, ["not_null"])


def test_untranslatable_row_condition_is_unmapped() -> None:
    imported = _one(
        "expect_column_values_to_not_be_null",
        column="z",
        row_condition='x.str.startswith("a")',
        condition_parser="pandas",
    )
    assert imported.suite.expectations == []
    (u,) = imported.unmapped
    assert (u.position, u.column) == (0, "z")
    assert "calls x." in u.reason


def test_like_patterns_become_anchored_regexes() -> None:
    from assay.checks.ge import like_to_regex

    assert like_to_regex("a%") == "^a.*$"
    assert like_to_regex("_b.c%") == r"^.b\.c.*$"
    assert like_to_regex(r"100\%") == "^100%$"


def test_regex_list_all_with_mostly_is_unmapped_and_any_is_one_alternation() -> None:
    all_ = _one(
        "expect_column_values_to_match_regex_list",
        column="w",
        regex_list=["a", "b"],
        match_on="all",
        mostly=0.9,
    )
    assert "look-ahead" in all_.unmapped[0].reason
    any_ = _one("expect_column_values_to_match_regex_list", column="w", regex_list=["a", "b"])
    assert any_.suite.expectations[0].to_yaml_entry() == {
        "match_regex": {"column": "w", "pattern": "(?:a)|(?:b)"}
    }


def test_most_common_value_tie_fails_without_ties_okay() -> None:
    """A fix GE's cases found: a tie has no single most common value."""
    table = pa.table({"x": [1, 1, 2, 2, 3, None]})
    verdicts = [
        checks.check(
            {"suite": "t", "expectations": [{"most_common_in_set": args}]}, table, record=False
        ).passed
        for args in (
            {"column": "x", "values": [1, 2]},
            {"column": "x", "values": [2], "ties_okay": True},
            {"column": "x", "values": [3], "ties_okay": True},
        )
    ]
    assert verdicts == [False, True, False]
    single = pa.table({"x": [1, 1, 2]})
    assert checks.check(
        {"suite": "t", "expectations": [{"most_common_in_set": {"column": "x", "values": [1]}}]},
        single,
        record=False,
    ).passed


def test_min_max_of_a_timestamp_column_compare_with_text_bounds() -> None:
    """A fix GE's cases found: ISO text bounds on a date/time column used to raise TypeError."""
    table = pa.table(
        {
            "ts": pa.array(
                [dt.datetime(2000, 1, 1), dt.datetime(2001, 1, 1, 12, 0, 1)], pa.timestamp("us")
            ),
            "d": pa.array([dt.date(2000, 1, 1), dt.date(2000, 3, 1)]),
        }
    )
    report = checks.check(
        {
            "suite": "t",
            "expectations": [
                {
                    "max_between": {
                        "column": "ts",
                        "min": "2001-01-01T12:00:01",
                        "max": "2001-01-01T12:00:01",
                    }
                },
                {"max_between": {"column": "ts", "max": "2001-01-01"}},
                {"min_between": {"column": "d", "min": "2000-01-01", "max": "2000-01-02"}},
            ],
        },
        table,
        record=False,
    )
    assert [r.passed for r in report.results] == [True, False, True]


def test_compare_of_columns_of_different_kinds_is_a_suite_error() -> None:
    """A fix GE's cases found: number vs text used to crash inside Ibis at run time."""
    table = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())})
    with pytest.raises(SuiteError, match=r"compare\(a = b\): 'a' is int64 and 'b' is string"):
        checks.check(
            {"suite": "t", "expectations": [{"compare": {"left": "a", "op": "=", "right": "b"}}]},
            table,
            record=False,
        )
