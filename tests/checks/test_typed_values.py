"""Values in a suite are compared by the column's type (issue 10, item 4).

Each case is refused before a row is read, naming the expectation, the column, its
type, the value as written and the fix; or, where the value fits, it runs and gives
the verdict pandas gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assay.checks import check, load_suite
from assay.checks._re2 import unsupported
from assay.errors import SuiteError

ACS = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small file with every kind of column: integer, 0/1, text, boolean, date."""
    path = tmp_path_factory.mktemp("typed") / "people.parquet"
    table = pa.table(
        {
            "AGEP": pa.array([30, 40, 51, None], pa.int64()),
            "employed": pa.array([0, 1, 1, 0], pa.int64()),
            "COUNTRY": ["NO", "SE", "DK", None],
            "member": [True, False, True, None],
            "joined": pa.array([dt.date(2020, 1, 2), dt.date(2021, 5, 6), None, None]),
        }
    )
    pq.write_table(table, path)
    return path


def problems_of(text: str | dict[str, Any], data: Path) -> list[str]:
    with pytest.raises(SuiteError) as info:
        check(text, data, record=False)
    return info.value.problems


def test_text_values_on_an_integer_column_are_refused(people: Path) -> None:
    # Before: DuckDB's ConversionException ("Could not convert string 'a' to INT64").
    line = "  - in_set: {column: AGEP, values: [30, a]}"
    (problem,) = problems_of(f"suite: s\nexpectations:\n{line}\n", people)
    assert problem == (
        f"expectations[0] (in_set): values[1]: line 3, column {line.index('a]') + 1}: 'a' is "
        "text, but column 'AGEP' is int64; compare numbers with numbers (unquoted)"
    )


def test_numbers_written_as_text_are_refused_not_cast(people: Path) -> None:
    # Before: '30' and '40' were cast to numbers, silently, though docs/checks.md says
    # such comparisons are refused.
    problems = problems_of(
        "suite: s\nexpectations:\n  - in_set: {column: AGEP, values: ['30', '40']}\n", people
    )
    assert problems == [
        "expectations[0] (in_set): values[0]: line 3, column 37: '30' is text, but column "
        "'AGEP' is int64; write it as a number, unquoted: 30",
        "expectations[0] (in_set): values[1]: line 3, column 43: '40' is text, but column "
        "'AGEP' is int64; write it as a number, unquoted: 40",
    ]


def test_yaml_booleans_on_a_number_column_are_flagged(people: Path) -> None:
    # Before: YAML 1.1 read [yes, no] as [True, False], which DuckDB compared as 1 and 0:
    # the suite passed without saying so.
    problems = problems_of(
        "suite: s\nexpectations:\n  - in_set: {column: employed, values: [yes, no]}\n", people
    )
    assert problems == [
        f"expectations[0] (in_set): values[{i}]: line 3, column {c}: {word} was read as a "
        "boolean (YAML 1.1 reads unquoted yes, no, on and off so), but column 'employed' is "
        "int64; write numbers (such as 1 and 0)"
        for i, (c, word) in enumerate([(41, "yes"), (46, "no")])
    ]


def test_yaml_booleans_on_a_text_column_are_flagged_with_the_quote_fix(people: Path) -> None:
    # Before: [NO, SE] was [False, 'SE'], so every Norwegian row failed `in_set`.
    problems = problems_of(
        "suite: s\nexpectations:\n"
        "  - slice:\n      name: all\n      where: 'AGEP > 0'\n      expectations:\n"
        "        - not_in_set: {column: COUNTRY, values: [NO, SE, Off]}\n",
        people,
    )
    assert [p.split(": ", 2)[1:] for p in problems] == [
        ["values[0]", "line 7, column 50: NO was read as a boolean " + _YAML + "quote it: 'NO'"],
        ["values[2]", "line 7, column 58: Off was read as a boolean " + _YAML + "quote it: 'Off'"],
    ]
    assert all(p.startswith("expectations[0].expectations[0] (not_in_set): ") for p in problems)


_YAML = "(YAML 1.1 reads unquoted yes, no, on and off so), but column 'COUNTRY' is string; "


def test_booleans_fit_a_boolean_column_and_give_pandas_verdict(people: Path) -> None:
    report = check("suite: s\nexpectations:\n  - in_set: {column: member, values: [yes]}\n", people)
    frame = pq.read_table(people).to_pandas()
    considered = frame.member.dropna()
    (result,) = report.results
    assert result.element_count == len(considered) == 3
    assert result.unexpected_count == int((considered != True).sum()) == 1  # noqa: E712


@pytest.mark.parametrize(
    ("entry", "token", "problem"),
    [
        (
            "in_set: {column: member, values: [true, 1]}",
            "1]",
            "values[1]: line 3, column {c}: 1 is a number, but column 'member' is boolean; "
            "write true or false",
        ),
        (
            "in_set: {column: COUNTRY, values: ['NO', 047]}",
            "047",
            "values[1]: line 3, column {c}: 047 is a number, but column 'COUNTRY' is string; "
            "quote it: '047'",
        ),
        (
            "in_set: {column: AGEP, values: [30, 30.5]}",
            "30.5",
            "values[1]: line 3, column {c}: 30.5 is a number, but column 'AGEP' is int64; it is "
            "not a whole number, so it never equals a value; remove it or fix it",
        ),
        (
            "distinct_values: {column: joined, subset_of: ['2020-01-02', 'Jan 5']}",
            "'Jan 5'",
            "subset_of[1]: line 3, column {c}: 'Jan 5' is text, but column 'joined' is date; "
            "write it as quoted ISO text, such as '2024-01-31'",
        ),
        (
            "most_common_in_set: {column: AGEP, values: [on]}",
            "on]",
            "values[0]: line 3, column {c}: on was read as a boolean (YAML 1.1 reads unquoted "
            "yes, no, on and off so), but column 'AGEP' is int64; write numbers (such as 1 and 0)",
        ),
        (
            "between: {column: AGEP, min: '18'}",
            "'18'",
            "min: line 3, column {c}: '18' is text, but column 'AGEP' is int64; write it as a "
            "number, unquoted: 18",
        ),
        (
            "max_between: {column: COUNTRY, max: 9}",
            "9}",
            "max: line 3, column {c}: 9 is a number, but column 'COUNTRY' is string; quote it: '9'",
        ),
        (
            "min_between: {column: joined, min: 20200102}",
            "2020",
            "min: line 3, column {c}: 20200102 is a number, but column 'joined' is date; write it "
            "as quoted ISO text, such as '2024-01-31'",
        ),
    ],
)
def test_every_expectation_that_takes_values_is_typed(
    people: Path, entry: str, token: str, problem: str
) -> None:
    line = f"  - {entry}"
    problems = problems_of(f"suite: s\nexpectations:\n{line}\n", people)
    kind = entry.split(":")[0]
    assert problems == [f"expectations[0] ({kind}): {problem.format(c=line.index(token) + 1)}"]


def test_dates_written_as_iso_text_run_and_match_pandas(people: Path) -> None:
    report = check(
        "suite: s\nexpectations:\n"
        "  - in_set: {column: joined, values: ['2020-01-02']}\n"
        "  - between: {column: joined, min: '2021-01-01'}\n",
        people,
    )
    joined = pq.read_table(people).to_pandas().joined.dropna()
    in_set, between = report.results
    assert in_set.unexpected_count == int((joined != dt.date(2020, 1, 2)).sum()) == 1
    assert between.unexpected_count == int((joined < dt.date(2021, 1, 1)).sum()) == 1


def test_a_long_list_of_misfits_is_named_once_not_a_thousand_times(people: Path) -> None:
    values = ", ".join(f"'{i}'" for i in range(1000))
    problems = problems_of(
        f"suite: s\nexpectations:\n  - in_set: {{column: AGEP, values: [{values}]}}\n", people
    )
    assert len(problems) == 6
    assert problems[-1] == "expectations[0] (in_set): and 995 more values that do not fit 'AGEP'"


def test_suites_built_in_python_are_typed_too(people: Path) -> None:
    suite = {"suite": "py", "expectations": [{"in_set": {"column": "COUNTRY", "values": [False]}}]}
    (problem,) = problems_of(suite, people)
    assert problem == (
        "expectations[0] (in_set): values[0]: False is a boolean, but column 'COUNTRY' is "
        "string; quote it: 'false'"
    )


def test_boolean_bounds_are_refused_when_read() -> None:
    # Before: `min: no` was read as 0, and the bound quietly held.
    with pytest.raises(SuiteError) as info:
        load_suite("suite: s\nexpectations:\n  - mean_between: {column: employed, min: no}\n")
    (problem,) = info.value.problems
    assert problem.startswith("expectations[0] (mean_between): argument 'min': false is a boolean")


def test_expressions_that_compare_unlike_types_are_listed_with_the_rest() -> None:
    # Before: the first such expression stopped the run, alone, when the pass was built.
    problems = problems_of(
        "suite: s\nexpectations:\n"
        "  - expression: {expr: \"SEX = 'a'\"}\n"
        "  - slice: {name: w, where: \"RAC1P = 'x'\", expectations: [{row_count: {min: 1}}]}\n"
        "  - not_null: {column: NOPE}\n",
        ACS,
    )
    assert [p.split(": ")[0] for p in problems] == [
        "expectations[0] (expression)",
        "expectations[1] (slice w)",
        "expectations[2] (not_null)",
    ]
    assert "cannot compare SEX (number) with 'a' (string)" in problems[0]
    assert "cannot compare RAC1P (number) with 'x' (string)" in problems[1]


def test_an_unknown_type_and_an_unknown_column_are_reported_together() -> None:
    # Before: only "unknown expectation type"; the unknown column came after a fix.
    problems = problems_of(
        "suite: s\nexpectations:\n  - bogus: {column: AGEP}\n  - not_null: {column: AGE}\n"
        "  - slice: {name: w, where: 'SEX = 2', expectations: [{mean_betwen: {column: x}}]}\n",
        ACS,
    )
    assert problems[0].startswith("expectations[0] (bogus): unknown expectation type")
    assert problems[1] == ("expectations[1] (not_null): unknown column 'AGE'; did you mean 'AGEP'?")
    assert problems[2].startswith(
        "expectations[2].expectations[0] (mean_betwen): unknown expectation type; "
        "did you mean 'mean_between'?"
    )
    assert len(problems) == 3


# Python accepts all of these; the engine's RE2 does not, or reads them otherwise.
RE2_LACKS = {
    r"(?<=a)b": "a lookbehind (?<=…)",
    r"(?<!a)b": "a negative lookbehind (?<!…)",
    r"a(?=b)": "a lookahead (?=…)",
    r"a(?!b)": "a negative lookahead (?!…)",
    r"(a)\1": "a back-reference \\1",
    r"(?P<x>a)(?P=x)": "a back-reference (?P=name)",
    r"(?>a)b": "an atomic group (?>…)",
    r"a*+b": "a possessive quantifier *+",
    r"a{2}+b": "a possessive quantifier }+",
    r"ab\Z": "\\Z (write \\z for the end of the text)",
    r"\u00e9": "a \\u escape (write \\x{…})",
    r"(?x)a b": "the inline flag 'x' (RE2 has i, m, s and U)",
    r"(?#note)a": "a comment (?#…)",
    r"a{1001}": "the repetition {1001} (RE2 allows at most 1000)",
    r"[\1]": "the octal escape \\1 (write \\x{…})",
}
RE2_HAS = [r"^[A-Z]", r"(?i)ab", r"(?P<y>a)b", r"[(?=a)]", r"a\+\+", r"a{2,1000}", r"\Aab\b"]


@pytest.mark.parametrize("pattern", [*RE2_LACKS, *RE2_HAS])
def test_regex_dialect_check_agrees_with_duckdb(pattern: str) -> None:
    try:
        duckdb.sql("select regexp_matches('ab', $p)", params={"p": pattern}).fetchall()
        engine_accepts = True
    except duckdb.Error:
        engine_accepts = False
    assert (unsupported(pattern) is None) == engine_accepts
    assert unsupported(pattern) == RE2_LACKS.get(pattern)


def test_a_lookbehind_is_refused_when_the_suite_is_read() -> None:
    # Before: an internal DuckDB error when the suite ran.
    with pytest.raises(SuiteError) as info:
        load_suite("suite: s\nexpectations:\n  - match_regex: {column: n, pattern: '(?<=a)b'}\n")
    (problem,) = info.value.problems
    assert problem == (
        "expectations[0] (match_regex): argument 'pattern': regular expression '(?<=a)b' uses "
        "a lookbehind (?<=…), which the engine's RE2 dialect lacks; rewrite it without"
    )
