"""Tests for the filter/slice expression language in ``assay.data.expr``."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from assay.data.expr import (
    And,
    Arith,
    Between,
    Column,
    Compare,
    Expr,
    In,
    IsNull,
    Literal,
    Neg,
    Not,
    Or,
    parse,
)
from assay.errors import ExpressionError

DATA = Path(__file__).parents[2] / "examples/data/acs_employment_ma.parquet"
# These tests drive Ibis directly (the reference assay's expressions compile to), so
# they meet the one deprecation Ibis 12 triggers in DuckDB 2; assay's engine hides it.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated")


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def acs() -> tuple[ibis.BaseBackend, ibis.Table, pd.DataFrame]:
    con = ibis.duckdb.connect()
    return con, con.read_parquet(DATA), pd.read_parquet(DATA)


Mask = Callable[[pd.DataFrame], pd.Series]

ACS_CASES: list[tuple[str, Mask]] = [
    ("AGEP >= 16 and RAC1P != 9", lambda d: (d.AGEP >= 16) & (d.RAC1P != 9)),
    ("SEX = 2", lambda d: d.SEX == 2),
    ("SEX == 2 AND MAR <> 1", lambda d: (d.SEX == 2) & (d.MAR != 1)),
    ("AGEP < 18 or AGEP > 64", lambda d: (d.AGEP < 18) | (d.AGEP > 64)),
    ("AGEP <= 17", lambda d: d.AGEP <= 17),
    ("RAC1P in (2, 6)", lambda d: d.RAC1P.isin([2, 6])),
    ("RAC1P NOT IN (1, 2, 9)", lambda d: ~d.RAC1P.isin([1, 2, 9])),
    ("AGEP between 18 and 64", lambda d: (d.AGEP >= 18) & (d.AGEP <= 64)),
    ("AGEP not between 18 and 64", lambda d: (d.AGEP < 18) | (d.AGEP > 64)),
    ("MIL is not null and MIL = 4", lambda d: d.MIL == 4),
    ("(AGEP - 16) * 2 > SCHL", lambda d: (d.AGEP - 16) * 2 > d.SCHL),
    ("not (SEX = 1 or AGEP < 30)", lambda d: ~((d.SEX == 1) | (d.AGEP < 30))),
    ("not SEX = 1 and DIS = 1", lambda d: (d.SEX != 1) & (d.DIS == 1)),
    (
        "SEX = 1 or AGEP > 80 and RAC1P = 2",
        lambda d: (d.SEX == 1) | ((d.AGEP > 80) & (d.RAC1P == 2)),
    ),
    ("AGEP + SCHL * 2 >= 60", lambda d: d.AGEP + d.SCHL * 2 >= 60),
    ("AGEP % 10 = 0", lambda d: d.AGEP % 10 == 0),
    # True division: AGEP // 4 > 10.5 would also drop AGEP 43.
    ("AGEP / 4 > 10.5", lambda d: d.AGEP / 4 > 10.5),
    ("-AGEP < -90", lambda d: -d.AGEP < -90),
    ("-2 * AGEP + 100 > 0", lambda d: -2 * d.AGEP + 100 > 0),
    ("AGEP = 30.0", lambda d: d.AGEP == 30),
    ("AGEP > 1e1 and AGEP < 2.05e1", lambda d: (d.AGEP > 10) & (d.AGEP < 20.5)),
    ("employed = 1 and `year` = 2018", lambda d: (d.employed == 1) & (d.year == 2018)),
    ("ESP != 0 or CIT >= 4 or MIG = 3", lambda d: (d.ESP != 0) | (d.CIT >= 4) | (d.MIG == 3)),
]


@pytest.mark.parametrize(("text", "mask"), ACS_CASES, ids=[c[0] for c in ACS_CASES])
def test_filter_matches_pandas_on_acs(
    acs: tuple[ibis.BaseBackend, ibis.Table, pd.DataFrame], text: str, mask: Mask
) -> None:
    con, table, df = acs
    expected = df[mask(df)]
    assert 0 < len(expected) < len(df)  # otherwise the case proves nothing

    ids = con.execute(table.filter(parse(text, context="where").predicate(table)).id)

    assert len(ids) == len(expected)
    assert int(ids.sum()) == int(expected.id.sum())
    np.testing.assert_array_equal(np.sort(ids.to_numpy()), np.sort(expected.id.to_numpy()))


def test_is_null_on_a_column_without_nulls(
    acs: tuple[ibis.BaseBackend, ibis.Table, pd.DataFrame],
) -> None:
    con, table, df = acs
    assert con.execute(table.filter(parse("MIL is null").predicate(table)).count()) == 0
    assert con.execute(table.filter(parse("MIL is not null").predicate(table)).count()) == len(df)


def test_unknown_column_lists_at_most_ten_columns(
    acs: tuple[ibis.BaseBackend, ibis.Table, pd.DataFrame],
) -> None:
    _, table, _ = acs
    with pytest.raises(ExpressionError) as info:
        parse("AGE >= 65", context="slice 'old'").to_ibis(table)
    message = str(info.value)
    assert message.startswith("slice 'old': unknown column 'AGE' at column 1 in \"AGE >= 65\"")
    assert "did you mean 'AGEP'?" in message
    assert "(columns: id, AGEP, SCHL, MAR, RELP, DIS, ESP, CIT, MIG, MIL, ...)" in message
    assert "ANC" not in message
    assert info.value.position == 0
    assert info.value.text == "AGE >= 65"


# ------------------------------------------------------------ strings and nulls


@pytest.fixture(scope="module")
def small() -> tuple[ibis.BaseBackend, ibis.Table]:
    data = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
            "lang": pa.array(["es", "pt", None, "en", "it's", 'say "hi"']),
            "x": pa.array([1, 2, None, 4, 5, 6], pa.int64()),
            "flag": pa.array([True, False, None, True, False, None]),
            "odd name": pa.array([10, 20, 30, None, 50, 60], pa.int64()),
            "and": pa.array([1, 1, 1, 0, 0, 0], pa.int64()),
            "day": pa.array([datetime.date(2020, 1, d) for d in (1, 2, 3, 4, 5, 6)]),
        }
    )
    return ibis.duckdb.connect(), ibis.memtable(data)


SMALL_CASES: list[tuple[str, set[int]]] = [
    ("lang = 'es'", {1}),
    ('lang = "es"', {1}),
    ("lang = 'it''s'", {5}),
    ('lang = "it\'s"', {5}),
    ("lang = 'say \"hi\"'", {6}),
    ('lang = "say ""hi"""', {6}),
    ("lang > 'f'", {2, 5, 6}),
    ("lang in ('es', 'pt')", {1, 2}),
    ("lang not in ('es', 'pt')", {4, 5, 6}),  # null lang: NOT (null IN ...) is null
    ("lang != 'es'", {2, 4, 5, 6}),
    ("lang is null", {3}),
    ("lang is not null", {1, 2, 4, 5, 6}),
    ("x in (1, 2)", {1, 2}),
    ("x not in (1, 2)", {4, 5, 6}),
    ("x != 1", {2, 4, 5, 6}),
    ("not x = 1", {2, 4, 5, 6}),
    ("x = 1 or x is null", {1, 3}),
    ("x > 1 or flag", {1, 2, 4, 5, 6}),  # null or null drops row 3
    ("x > 4 and not flag", {5}),
    ("flag", {1, 4}),
    ("not flag", {2, 5}),
    ("flag = true", {1, 4}),
    ("flag != TRUE", {2, 5}),
    ("flag is null", {3, 6}),
    ("true", {1, 2, 3, 4, 5, 6}),
    ("false or x = 2", {2}),
    ("x between 2 and 5", {2, 4, 5}),
    ("x not between 2 and 5", {1, 6}),
    ("x + 0.5 > 4", {4, 5, 6}),
    ("x / 2 = 0.5", {1}),
    ("x % 2 = 0", {2, 4, 6}),
    ("-x = -4", {4}),
    ("x * 2 = 2.0", {1}),
    ("x in (-1, 1.0, 5)", {1, 5}),
    ("`odd name` >= 30", {3, 5, 6}),
    ("`odd name` is null", {4}),
    ("`and` = 1 and x > 1", {2}),
    ("day >= '2020-01-05'", {5, 6}),
    ("day between '2020-01-02' and '2020-01-03'", {2, 3}),
    ("day in ('2020-01-01', '2020-01-06')", {1, 6}),
]


@pytest.mark.parametrize(("text", "expected"), SMALL_CASES, ids=[c[0] for c in SMALL_CASES])
def test_filter_with_strings_and_nulls(
    small: tuple[ibis.BaseBackend, ibis.Table], text: str, expected: set[int]
) -> None:
    con, table = small
    ids = con.execute(table.filter(parse(text).predicate(table)).id)
    assert set(ids) == expected


def test_to_ibis_returns_non_boolean_values(small: tuple[ibis.BaseBackend, ibis.Table]) -> None:
    con, table = small
    value = parse("x * 2 - 1").to_ibis(table)
    assert value.type().is_numeric()
    assert con.execute(table.select(v=value).order_by("v").v).dropna().tolist() == [1, 3, 7, 9, 11]


def test_injection_like_text_is_a_parse_error_and_runs_nothing() -> None:
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE x AS SELECT * FROM (VALUES (1), (2), (3)) AS v(AGEP)")
    table = con.table("x")
    texts = (
        "1=1; drop table x",
        "AGEP = 1 -- x",
        "AGEP = 1 /* x */",
        "AGEP = 1); drop table x",
        "AGEP = 1 or 'a' = 'a'; drop table x",
    )
    for text in texts:
        with pytest.raises(ExpressionError):
            table.filter(parse(text).predicate(table))
    assert con.execute(con.table("x").count()) == 3


def test_a_column_named_like_sql_is_just_a_name(small: tuple[ibis.BaseBackend, ibis.Table]) -> None:
    con, _ = small
    table = ibis.memtable(pa.table({"id": [1, 2], "1; drop table x": [5, 6]}))
    expr = parse("`1; drop table x` = 6")
    assert expr.columns == {"1; drop table x"}
    assert con.execute(table.filter(expr.predicate(table)).id).tolist() == [2]


# ---------------------------------------------------------------------- the AST


def test_precedence_or_and() -> None:
    assert parse("a or b and c") == Or((Column("a"), And((Column("b"), Column("c")))))
    assert parse("(a or b) and c") == And((Or((Column("a"), Column("b"))), Column("c")))


def test_precedence_arithmetic() -> None:
    assert parse("-2 * 3 + 1") == Arith("+", Arith("*", Literal(-2), Literal(3)), Literal(1))
    assert parse("1 + 2 * 3") == Arith("+", Literal(1), Arith("*", Literal(2), Literal(3)))
    assert parse("a - b - c") == Arith("-", Arith("-", Column("a"), Column("b")), Column("c"))
    assert parse("- x * 2") == Arith("*", Neg(Column("x")), Literal(2))
    assert parse("a + 1 > b % 2") == Compare(
        ">", Arith("+", Column("a"), Literal(1)), Arith("%", Column("b"), Literal(2))
    )


def test_precedence_not() -> None:
    assert parse("not a = b") == Not(Compare("=", Column("a"), Column("b")))
    assert parse("not a and b") == And((Not(Column("a")), Column("b")))
    assert parse("not not a") == Not(Not(Column("a")))


def test_comparison_forms() -> None:
    x = Column("x")
    assert parse("x between 1 and 2 and y") == And(
        (Between(x, Literal(1), Literal(2)), Column("y"))
    )
    assert parse("x NOT BETWEEN a + 1 AND 9") == Between(
        x, Arith("+", Column("a"), Literal(1)), Literal(9), negated=True
    )
    assert parse("x not in ('a', -1.5, true)") == In(
        x, (Literal("a"), Literal(-1.5), Literal(True)), negated=True
    )
    assert parse("x Is Not Null") == IsNull(x, negated=True)
    assert parse("x == 1") == parse("x = 1") == Compare("=", x, Literal(1))
    assert parse("x <> 1") == Compare("!=", x, Literal(1))


def test_literals() -> None:
    assert parse("x = 007").right == Literal(7)  # type: ignore[attr-defined]
    assert parse("x = 1e3").right == Literal(1000.0)  # type: ignore[attr-defined]
    assert parse("x = .5").right == Literal(0.5)  # type: ignore[attr-defined]
    assert parse("x = 'it''s'").right == Literal("it's")  # type: ignore[attr-defined]
    assert parse("x = FALSE").right == Literal(False)  # type: ignore[attr-defined]
    assert parse("x = -9223372036854775808").right == Literal(-(2**63))  # type: ignore[attr-defined]
    assert Literal(1) != Literal(1.0)
    assert Literal(1) != Literal(True)
    assert len({Literal(0), Literal(0.0), Literal(False)}) == 3


def test_names() -> None:
    assert parse("`odd name` = 1").columns == {"odd name"}
    assert parse("`a``b` = 1").columns == {"a`b"}
    assert parse("`and` = 1").columns == {"and"}
    assert parse("_x9 = X9").columns == {"_x9", "X9"}  # names keep their case


def test_columns() -> None:
    expr = parse("(AGEP - 16) * 2 > SCHL and lang in ('es') or not MIL is null")
    assert expr.columns == frozenset({"AGEP", "SCHL", "lang", "MIL"})
    assert parse("1 = 1").columns == frozenset()
    assert parse("x between lo and hi").columns == {"x", "lo", "hi"}


def test_nodes_are_immutable_and_hashable() -> None:
    expr = parse("a = 1 and b = 2")
    with pytest.raises(AttributeError):
        expr.operands = ()  # type: ignore[misc]
    assert {expr, parse("A = 1 AND B = 2")} != {expr}  # names are case-sensitive
    assert len({expr, parse("a=1 AND b=2")}) == 1
    assert isinstance(expr, Expr)


# ------------------------------------------------------------------ canonical text

CANONICAL = [
    ("AGEP>=16   AND RAC1P!=9", "AGEP >= 16 and RAC1P != 9"),
    ("x == 1", "x = 1"),
    ("x <> 1", "x != 1"),
    ("lang IN (\"es\",'pt')", "lang in ('es', 'pt')"),
    ('x = "it\'s"', "x = 'it''s'"),
    ("x = 1e3", "x = 1000.0"),
    ("x = 007", "x = 7"),
    ("x = - 2", "x = -2"),
    ("- -x > 0", "-(-x) > 0"),
    ("- - 2 = x", "-(-2) = x"),
    ("((a)) or (b and c)", "a or b and c"),
    ("(a or b) and c", "(a or b) and c"),
    ("a and (b and c)", "a and b and c"),
    ("(a or b) or (c or d)", "a or b or c or d"),
    ("not (a = 1)", "not a = 1"),
    ("not (a and b)", "not (a and b)"),
    ("(not a) = b", "(not a) = b"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("(a * b) + c", "a * b + c"),
    ("a * (b + c)", "a * (b + c)"),
    ("-(a + 1) * 2 > 0", "-(a + 1) * 2 > 0"),
    ("(AGEP - 16) * 2 > SCHL", "(AGEP - 16) * 2 > SCHL"),
    ("x BETWEEN (1) AND (2+3)", "x between 1 and 2 + 3"),
    ("(x between 1 and 2) = true", "(x between 1 and 2) = true"),
    ("x IS NOT NULL", "x is not null"),
    ("`odd name` = `plain`", "`odd name` = plain"),
    ("`Or` = 1", "`Or` = 1"),
    ("TRUE and Null is null", "true and null is null"),
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL, ids=[c[0] for c in CANONICAL])
def test_canonical(text: str, expected: str) -> None:
    expr = parse(text)
    assert expr.canonical() == expected
    assert parse(expected) == expr
    assert parse(expected).canonical() == expected


def test_canonical_equivalent_spellings() -> None:
    variants = [
        "AGEP >= 16 and (SEX = 2 or lang in ('es', 'pt'))",
        "  agep >= 16 AND ( SEX == 2 OR lang IN ( 'es' , 'pt' ) )".replace("agep", "AGEP"),
        "((AGEP >= 16)) and ((SEX = 2) or (lang in (\"es\", 'pt')))",
        "AGEP>=16\nAnd\t(SEX=2 Or lang In('es','pt'))",
    ]
    assert {parse(v).canonical() for v in variants} == {variants[0]}


def test_canonical_differs_when_meaning_differs() -> None:
    assert parse("a or b and c").canonical() != parse("(a or b) and c").canonical()
    assert parse("a - b - c").canonical() != parse("a - (b - c)").canonical()
    assert parse("x = 1").canonical() != parse("x = 1.0").canonical()
    assert parse("x = 1").canonical() != parse("x = '1'").canonical()


def test_canonical_of_hand_built_nodes() -> None:
    a, b, c = Column("a"), Column("b"), Column("c")
    nested = And((And((a, b)), c))
    assert nested == And((a, b, c))  # and/or flatten on construction
    assert nested.canonical() == "a and b and c"
    assert Neg(Literal(-2)).canonical() == "-(-2)"
    assert parse(Neg(Literal(-2)).canonical()) == Neg(Literal(-2))
    assert Compare("=", Column("select"), Literal("x")).canonical() == "select = 'x'"
    assert Column("my col").canonical() == "`my col`"
    assert str(Compare("<>", a, b)) == "a != b"
    with pytest.raises(ValueError):
        Compare("~", a, b)
    with pytest.raises(ValueError):
        And((a,))


# ------------------------------------------------------------------ parse errors

PARSE_ERRORS = [
    (
        "AGEP >= 16 and )",
        15,
        "where: unexpected ')' at column 16 in \"AGEP >= 16 and )\": "
        "expected a column, a literal or '('",
    ),
    ("lang = 'es", 7, 'where: unterminated string starting at column 8 in "lang = \'es"'),
    ('lang = "es', 7, "unterminated string starting at column 8"),
    ("`odd name = 1", 0, "unterminated column name starting at column 1"),
    ("`` = 1", 0, "empty column name at column 1"),
    ("", 0, 'where: empty expression at column 1 in "": expected a condition'),
    ("   ", 0, "empty expression"),
    ("a < b < c", 6, "chained comparison '<' at column 7"),
    ("a = b in (1)", 6, "chained comparison 'in' at column 7"),
    ("1=1; drop table x", 3, "unexpected character ';' at column 4"),
    ("AGEP = 1 -- x", 9, "unexpected '--' at column 10"),
    ("AGEP = 1 /* x */", 9, "SQL comments are not allowed"),
    ("AGEP = 1)", 8, "unexpected ')' at column 9"),
    ("(AGEP = 1", 9, "unexpected end of expression at column 10"),
    ("(AGEP = 1", 9, "expected ')' to close the '(' at column 1"),
    ("AGEP 16", 5, "unexpected '16' at column 6"),
    ("AGEP = 16 lang", 10, "expected an operator, 'and', 'or' or the end"),
    ("lang = 'es' 'pt'", 12, "unexpected 'pt' at column 13"),
    ("AGEP >= ", 8, "unexpected end of expression at column 9"),
    ("AGEP >= and", 8, "unexpected 'and' at column 9"),
    ("x in 1", 5, "expected '(' after 'in'"),
    ("x in ()", 6, "expected a literal in the 'in' list"),
    ("x in (1,)", 8, "expected a literal in the 'in' list"),
    ("x in (y)", 6, "unexpected 'y' at column 7"),
    ("x in (1 2)", 8, "expected ',' or ')'"),
    ("x in (1, null)", 9, "null in an 'in' list at column 10"),
    ("x = null", 4, 'comparison with null at column 5 in "x = null": it is never true; '),
    ("null != x", 0, 'to test for null write "x is null"'),
    ("x between null and 2", 10, "comparison with null at column 11"),
    ("x is 5", 5, "expected 'null' or 'not null' after 'is'"),
    ("x not 5", 6, "expected 'in' or 'between' after 'not'"),
    ("x between 1 or 2", 12, "expected 'and' between the bounds"),
    ("a = not b", 4, "unexpected 'not' at column 5"),
    ("a + not b", 4, "in parentheses"),
    ("16abc > 1", 0, "invalid number '16abc' at column 1"),
    ("x > 1.2.3", 4, "invalid number '1.2.3' at column 5"),
    ("x > 1e", 4, "invalid number '1e'"),
    ("x > 1e999", 4, "number '1e999' is too large"),
    ("x > 9223372036854775808", 4, "integer 9223372036854775808 is out of range"),
    ("x > -9223372036854775809", 4, "integer -9223372036854775809 is out of range"),
    ("a ! b", 2, "did you mean '!='?"),
    ("a && b", 2, "use 'and'"),
    ("a || b", 2, "use 'or'"),
    ("né = 1", 1, "unexpected character 'é' at column 2"),
    ("x = 1 +", 7, "unexpected end of expression at column 8"),
    ("and x", 0, "unexpected 'and' at column 1"),
    ("x = +1", 4, "unexpected '+' at column 5"),
]


@pytest.mark.parametrize(
    ("text", "position", "snippet"), PARSE_ERRORS, ids=[e[0] for e in PARSE_ERRORS]
)
def test_parse_errors(text: str, position: int, snippet: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text, context="where")
    message = str(info.value)
    assert snippet in message
    assert message.startswith("where: ")
    assert f'in "{text}"' in message
    assert info.value.position == position
    assert info.value.text == text
    assert "\n" not in message


def test_error_messages_stay_on_one_line() -> None:
    text = "AGEP >= 16\nand\t)"
    with pytest.raises(ExpressionError) as info:
        parse(text, context="slice 'women'")
    assert str(info.value) == (
        "slice 'women': unexpected ')' at column 16 in \"AGEP >= 16 and )\": "
        "expected a column, a literal or '('"
    )
    assert info.value.position == 15


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert parse("(" * 50 + "x" + ")" * 50 + " = 1") == Compare("=", Column("x"), Literal(1))
    assert parse("not " * 40 + "x").canonical() == "not " * 40 + "x"
    for text in ("(" * 5000 + "x" + ")" * 5000, "not " * 5000 + "x", "-" + " -" * 5000 + "x"):
        with pytest.raises(ExpressionError, match="nested too deeply"):
            parse(text)


def test_default_context() -> None:
    with pytest.raises(ExpressionError, match=r"^expression: unexpected"):
        parse(")")


# ----------------------------------------------------------------- bind errors

BIND_ERRORS = [
    ("lan = 'es'", 0, "unknown column 'lan' at column 1 in \"lan = 'es'\"; did you mean 'lang'?"),
    ("X = 1", 0, "did you mean 'x'?"),
    ("odd_name = 1", 0, "did you mean `odd name`?"),
    ("x = 1 and zzz = 2", 10, "unknown column 'zzz' at column 11"),
    ("lang = 1", 5, "cannot compare lang (string) with 1 (number) using '=' at column 6"),
    ("x > 'a'", 2, "cannot compare x (number) with 'a' (string) using '>'"),
    ("flag = 1", 5, "cannot compare flag (boolean) with 1 (number)"),
    ("x in (1, 'a')", 9, "cannot compare x (number) with 'a' (string) using 'in' at column 10"),
    ("lang between 'a' and 2", 5, "using 'between' at column 6"),
    ("lang + 1 > 0", 0, "'+' needs numbers, but lang (string) is not one at column 1"),
    ("x > 2 * lang", 8, "'*' needs numbers, but lang (string) is not one at column 9"),
    ("-lang = 'a'", 1, "'-' needs numbers, but lang (string) is not one"),
    ("flag + 1 > 0", 0, "'+' needs numbers, but flag (boolean) is not one"),
    ("x and flag", 0, "'and' needs conditions, but x (number) is not one at column 1"),
    ("flag or (x + 1)", 9, "'or' needs conditions, but x + 1 (number) is not one at column 10"),
    ("not lang", 4, "compare it with something, e.g. \"lang = 'value'\""),
    ("day > 5", 4, "cannot compare day (date/time) with 5 (number)"),
    ("day = '2020-13-01'", 6, "invalid date '2020-13-01' at column 7"),
]


@pytest.mark.parametrize(
    ("text", "position", "snippet"), BIND_ERRORS, ids=[e[0] for e in BIND_ERRORS]
)
def test_bind_errors(
    small: tuple[ibis.BaseBackend, ibis.Table], text: str, position: int, snippet: str
) -> None:
    _, table = small
    with pytest.raises(ExpressionError) as info:
        parse(text, context="slice 'x'").to_ibis(table)
    message = str(info.value)
    assert snippet in message
    assert message.startswith("slice 'x': ")
    assert f'in "{text}"' in message
    assert info.value.position == position


def test_unknown_column_without_a_close_match(small: tuple[ibis.BaseBackend, ibis.Table]) -> None:
    _, table = small
    with pytest.raises(ExpressionError) as info:
        parse("qqqq = 1").to_ibis(table)
    assert str(info.value) == (
        "expression: unknown column 'qqqq' at column 1 in \"qqqq = 1\" "
        "(columns: id, lang, x, flag, odd name, and, day)"
    )


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            "AGEP + 1",
            'where: "AGEP + 1" is not a condition; compare it with something, e.g. "AGEP + 1 > 0"',
            0,
        ),
        (
            "  lang",
            'where: "lang" is not a condition; compare it with something, e.g. "lang = \'value\'"',
            2,
        ),
    ],
)
def test_predicate_requires_a_condition(text: str, message: str, position: int) -> None:
    table = ibis.table({"AGEP": "int64", "lang": "string"}, name="t")
    assert parse(text, context="where").to_ibis(table) is not None  # fine as a value
    with pytest.raises(ExpressionError) as info:
        parse(text, context="where").predicate(table)
    assert str(info.value) == message
    assert info.value.position == position


def test_hand_built_nodes_bind_and_report_without_positions(
    small: tuple[ibis.BaseBackend, ibis.Table],
) -> None:
    con, table = small
    expr = And((Compare(">", Column("x"), Literal(1)), IsNull(Column("lang"), negated=True)))
    assert set(con.execute(table.filter(expr.predicate(table)).id)) == {2, 4, 5, 6}
    with pytest.raises(ExpressionError) as info:
        Compare("=", Column("nope"), Literal(1)).to_ibis(table)
    assert str(info.value).startswith("expression: unknown column 'nope' in \"nope = 1\"")
    assert info.value.position is None
