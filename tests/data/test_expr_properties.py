"""Property-based tests (hypothesis) of the expression language.

* Canonical text is a fixed point: parsing it and printing again gives the same text.
* Meaning survives the round trip: random expression trees keep the same rows on a
  small table with nulls, in DuckDB, as a pure-Python evaluator with SQL's
  three-valued logic keeps, both as built and as parsed back from canonical text.
* Any input is either an expression or an ``ExpressionError``, at parse time and at
  bind time, and what binds runs: never an internal error.

Every test is derandomised (the same examples on every run) with no deadline, so
none can flake.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings

from assay.data.expr import (
    COMPARISON_OPS,
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
from assay.engine import default_engine
from assay.errors import ExpressionError

pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated")
SETTINGS = settings(deadline=None, derandomize=True, database=None)

# ------------------------------------------------------------------ the table

INT_COLUMNS = ("a", "b", "x y")  # "x y" needs backquotes in canonical text
WORDS = ("", "o'k", "ab", "AB", "ä", "a b")


def _table() -> dict[str, list[Any]]:
    rng = random.Random(5)
    n = 40

    def ints() -> list[Any]:
        return [None if rng.random() < 0.2 else rng.randint(-6, 6) for _ in range(n)]

    words = [None if rng.random() < 0.2 else rng.choice(WORDS) for _ in range(n)]
    return {"i": list(range(n)), **{c: ints() for c in INT_COLUMNS}, "s": words}


DATA = _table()
ROWS = [dict(zip(DATA, values, strict=True)) for values in zip(*DATA.values(), strict=True)]


@pytest.fixture(scope="module")
def table() -> ibis.Table:
    return default_engine().table(pa.table(DATA))


def kept(table: ibis.Table, node: Expr) -> list[int]:
    """The ``i`` of every row ``node`` keeps, run in DuckDB."""
    return (
        default_engine().to_arrow(table.filter(node.predicate(table)).select("i"))["i"].to_pylist()
    )


# ------------------------------------------------- a reference evaluator (SQL 3VL)


def _mod(x: int, y: int) -> int | None:
    return None if y == 0 else int(math.fmod(x, y))  # SQL's sign: that of x


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "%": _mod,
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _and(values: list[bool | None]) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


def _or(values: list[bool | None]) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


def evaluate(node: Expr, row: dict[str, Any]) -> Any:
    """``node``'s value on ``row``; None is SQL's null."""
    if isinstance(node, Column):
        return row[node.name]
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Neg):
        v = evaluate(node.operand, row)
        return None if v is None else -v
    if isinstance(node, Not):
        v = evaluate(node.operand, row)
        return None if v is None else not v
    if isinstance(node, And | Or):
        values = [evaluate(n, row) for n in node.operands]
        return _and(values) if isinstance(node, And) else _or(values)
    if isinstance(node, IsNull):
        return (evaluate(node.operand, row) is None) != node.negated
    x = evaluate(node.children()[0], row)
    if isinstance(node, Arith | Compare):
        y = evaluate(node.right, row)
        if x is None or y is None:
            return None
        return (_ARITH if isinstance(node, Arith) else _CMP)[node.op](x, y)
    if isinstance(node, In):
        if x is None:
            return None
        return (x in [v.value for v in node.values]) != node.negated
    if isinstance(node, Between):
        low, high = evaluate(node.low, row), evaluate(node.high, row)
        above = None if x is None or low is None else x >= low
        below = None if x is None or high is None else x <= high
        inside = _and([above, below])
        return None if inside is None else inside != node.negated
    raise TypeError(node)


# ------------------------------------------------------------------ strategies

small_ints = st.integers(-8, 8)
int_leaves = st.one_of(st.sampled_from([Column(c) for c in INT_COLUMNS]), small_ints.map(Literal))
numbers = st.recursive(
    int_leaves,
    lambda sub: st.one_of(
        st.builds(Neg, sub), st.builds(Arith, st.sampled_from(sorted(_ARITH)), sub, sub)
    ),
    max_leaves=5,
)
words = st.sampled_from(WORDS).map(Literal)
atoms = st.one_of(
    st.builds(Compare, st.sampled_from(COMPARISON_OPS), numbers, numbers),
    st.builds(Compare, st.sampled_from(COMPARISON_OPS), st.just(Column("s")), words),
    st.builds(
        In,
        numbers,
        st.lists(small_ints.map(Literal), min_size=1, max_size=4).map(tuple),
        st.booleans(),
    ),
    st.builds(In, st.just(Column("s")), st.lists(words, min_size=1, max_size=3).map(tuple)),
    st.builds(Between, numbers, numbers, numbers, st.booleans()),
    st.builds(IsNull, st.one_of(numbers, st.just(Column("s"))), st.booleans()),
)
conditions = st.recursive(
    atoms,
    lambda sub: st.one_of(
        st.builds(Not, sub),
        st.builds(And, st.lists(sub, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(sub, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)

# Words and symbols of the language, to reach deeper into the parser than random text.
TOKENS = (
    "a", "b", "s", "`x y`", "`a``b`", "0", "1", "2.5", "1e3", "-", "+", "*", "/", "%", "(", ")",
    ",", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "and", "or", "not", "in", "between",
    "is", "null", "true", "false", "'t'", "'it''s'", "NOT", "Or",
)  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)


# ------------------------------------------------------------------- the tests


@settings(SETTINGS, max_examples=1_000)
@given(conditions)
def test_canonical_text_is_a_fixed_point(node: Expr) -> None:
    text = node.canonical()
    again = parse(text)
    assert again.canonical() == text
    assert parse(again.canonical()) == again


@settings(SETTINGS, max_examples=300)
@given(node=conditions)
def test_meaning_survives_the_round_trip(table: ibis.Table, node: Expr) -> None:
    expected = [row["i"] for row in ROWS if evaluate(node, row) is True]
    assert kept(table, node) == expected
    assert kept(table, parse(node.canonical())) == expected


@settings(SETTINGS, max_examples=2_000)
@given(st.text(max_size=40))
def test_any_text_is_an_expression_or_an_expression_error(text: str) -> None:
    check_parse(text)


@settings(SETTINGS, max_examples=1_500)
@given(token_soup)
def test_any_token_sequence_parses_and_binds_or_is_refused(table: ibis.Table, text: str) -> None:
    node = check_parse(text)
    if node is None:
        return
    try:
        predicate = node.predicate(table)
    except ExpressionError as e:
        assert "\n" not in str(e)
        return
    default_engine().to_arrow(table.filter(predicate).select("i"))  # and it runs


def check_parse(text: str) -> Expr | None:
    """Parse ``text``: an expression whose canonical text is a fixed point, or a one-line
    ``ExpressionError`` that points into the text. Anything else fails the test."""
    try:
        node = parse(text)
    except ExpressionError as e:
        assert "\n" not in str(e)
        assert e.text == text
        assert e.position is None or 0 <= e.position <= len(text)
        return None
    canonical = node.canonical()
    assert parse(canonical).canonical() == canonical
    return node
