"""Limits of the expression language: long chains, deep nesting, long ``in`` lists and
long input echoed in errors (issue 10, item 8). Expected values come from pandas or
plain Python, never from assay."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.expr import IN_LIST_JOIN, Column, In, Literal, Or, parse
from assay.engine import default_engine
from assay.errors import ExpressionError

DATA = Path(__file__).parents[2] / "examples/data/acs_employment_ma.parquet"
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated")


def rows(table: ibis.Table, text: str) -> list[int]:
    """The ``i`` values of the rows ``text`` keeps, in the engine's output order."""
    t = table.filter(parse(text).predicate(table)).select("i")
    return default_engine().to_arrow(t)["i"].to_pylist()


@pytest.fixture(scope="module")
def small() -> ibis.Table:
    """20 rows with nulls in every column, and a date column."""
    a = [None if i % 7 == 3 else i for i in range(20)]
    return default_engine().table(
        pa.table(
            {
                "i": list(range(20)),
                "a": pa.array(a, pa.int64()),
                "f": pa.array([None if v is None else v / 2 for v in a], pa.float64()),
                "s": pa.array([None if v is None else f"s{v}" for v in a], pa.string()),
                "b": pa.array([None if v is None else v % 2 == 0 for v in a], pa.bool_()),
                "d": pa.array(
                    [None if v is None else datetime.date(2024, 1, 1 + v) for v in a], pa.date32()
                ),
            }
        )
    )


# ----------------------------------------------------------------- long chains


@pytest.mark.parametrize("terms", [1_000, 10_000])
def test_long_or_chain_is_one_flat_node_that_binds_and_runs(small: ibis.Table, terms: int) -> None:
    wanted = {3 * v for v in range(terms)}
    text = " or ".join(f"a = {v}" for v in sorted(wanted))
    node = parse(text)
    assert isinstance(node, Or) and len(node.operands) == len(wanted)
    assert parse(node.canonical()) == node
    assert node.columns == {"a"}
    assert sum(1 for _ in node.walk()) == 1 + 3 * len(wanted)
    expected = [i for i in range(20) if i % 7 != 3 and i in wanted]
    assert rows(small, text) == expected


def test_long_and_chain_runs(small: ibis.Table) -> None:
    text = " and ".join(f"a != {v}" for v in range(5, 1_005))
    assert rows(small, text) == [i for i in range(5) if i % 7 != 3]


def test_mixed_long_chains_keep_precedence(small: ibis.Table) -> None:
    # Each "or" term is an "and" pair: a flat or of flat ands.
    text = " or ".join(f"a >= {v} and a < {v + 1}" for v in range(2_000))
    assert rows(small, text) == [i for i in range(20) if i % 7 != 3]


# ---------------------------------------------------------------- deep nesting


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000 + "a" + ")" * 10_000 + " = 1",
        "not " * 10_000 + "a = 1",
        "-(" * 5_000 + "a" + ")" * 5_000 + " > 1",
        " + ".join(["a"] * 1_000) + " > 1",  # a chain nests without parentheses
        "a " + "- a " * 150 + "> 1",
    ],
    ids=["parentheses", "not", "minus", "plus-chain", "minus-chain"],
)
def test_deep_nesting_gets_a_stated_limit(text: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    message = str(info.value)
    assert "nested too deeply" in message
    assert "use at most 100 levels" in message
    assert len(message) < 400
    assert info.value.position is not None


def test_nesting_up_to_the_limit_binds_and_runs(small: ibis.Table) -> None:
    # 97 additions: the deepest tree the limit allows goes through Ibis and DuckDB.
    text = " + ".join(["a"] * 98) + " > 500"
    assert rows(small, text) == [i for i in range(20) if i % 7 != 3 and 98 * i > 500]
    assert rows(small, "not " * 90 + "a = 1") == [1]


# --------------------------------------------------------------- long in lists


def in_text(column: str, values: list[str], negated: bool = False) -> str:
    return f"{column} {'not in' if negated else 'in'} ({', '.join(values)})"


DAY0 = datetime.date(2024, 1, 1)


@pytest.mark.parametrize(
    ("column", "cell", "literal"),
    [
        ("a", lambda v: v, str),
        ("f", lambda v: v / 2, str),
        # Whole numbers written as integers: a list mixing ints and floats, float column.
        ("f", lambda v: v / 2, lambda v: str(int(v)) if v == int(v) else str(v)),
        ("s", lambda v: f"s{v}", lambda v: f"'{v}'"),
        ("d", lambda v: DAY0 + datetime.timedelta(days=v), lambda v: f"'{v}'"),
    ],
    ids=["int", "float", "int-on-float", "string", "date"],
)
@pytest.mark.parametrize("form", ["{}", "not ({})"])
@pytest.mark.parametrize("negated", [False, True])
def test_long_in_list_means_what_a_short_one_means(
    small: ibis.Table,
    column: str,
    cell: Callable[[int], Any],
    literal: Callable[[Any], str],
    form: str,
    negated: bool,
) -> None:
    # The values of every third row are listed; padding takes the list past the
    # threshold. The short list and plain Python are the references.
    hits = {cell(v) for v in range(0, 20, 3)}
    pad = {cell(v) for v in range(100, 100 + IN_LIST_JOIN)}
    long = form.format(in_text(column, [literal(v) for v in [*hits, *pad]], negated))
    short = form.format(in_text(column, [literal(v) for v in hits], negated))
    flip = negated != form.startswith("not")
    # Null rows are dropped whatever the form.
    expected = [i for i in range(20) if i % 7 != 3 and (cell(i) in hits) != flip]
    assert rows(small, long) == rows(small, short) == expected


def test_long_in_list_of_booleans(small: ibis.Table) -> None:
    text = in_text("b", ["true"] * (IN_LIST_JOIN + 1))
    assert rows(small, text) == [i for i in range(20) if i % 7 != 3 and i % 2 == 0]


def test_long_in_list_with_a_wrong_type_gives_the_short_list_message(small: ibis.Table) -> None:
    values = [str(v) for v in range(IN_LIST_JOIN)] + ["'x'"]
    messages = []
    for listed in (values, values[-2:]):
        with pytest.raises(ExpressionError) as info:
            parse(in_text("a", listed)).predicate(small)
        messages.append(str(info.value).split(" at column ")[0])
    expected = "expression: cannot compare a (number) with 'x' (string) using 'in'"
    assert messages == [expected, expected]


@pytest.fixture(scope="module")
def acs_ids() -> list[int]:
    return pq.read_table(DATA, columns=["id"])["id"].to_pylist()


def test_in_list_of_100k_values_is_a_join_and_matches_pandas(acs_ids: list[int]) -> None:
    rng = random.Random(7)
    values = [*rng.sample(acs_ids, 100_000), -1, -2]  # two that match nothing
    node = parse(f"id in ({', '.join(map(str, values))}) and AGEP >= 16")
    engine = default_engine()
    t = engine.read_parquet_files([str(DATA)])
    query = t.filter(node.predicate(t)).select("id")
    # The values travel as a table, not as 100,000 literals in the query's text.
    assert len(str(ibis.to_sql(query))) < 5_000
    got = engine.to_arrow(query)["id"].to_pylist()
    df = pd.read_parquet(DATA, columns=["id", "AGEP"])
    assert got == df.id[df.id.isin(values) & (df.AGEP >= 16)].tolist()  # rows and order


def test_compose_with_a_100k_value_in_list_keeps_rows_and_order(
    employment: assay.Store, acs: pa.Table, acs_ids: list[int], tmp_path: Path
) -> None:
    rng = random.Random(11)
    values = sorted(rng.sample(acs_ids, 100_000), reverse=True)  # order of the list is irrelevant
    listed = ", ".join(map(str, values))
    recipe = {
        "dataset": "employment",
        "deltas": ["base", "y2016", "y2018"],
        "where": f"id in ({listed}) and AGEP >= 16",
        "slices": {"picked": f"id not in ({listed})"},
    }
    version = assay.compose(recipe, store=employment)
    everything = assay.compose({**recipe, "where": None, "slices": {}}, store=employment)
    df = everything.to_pandas()  # the reference order: compose without the filter
    expected = df[df.id.isin(values) & (df.AGEP >= 16)].reset_index(drop=True)
    got = version.to_pandas()
    pd.testing.assert_frame_equal(got, expected)
    assert version.summary()["slices"]["picked"]["rows"] == 0
    # Same recipe, same fingerprint and bytes; the where is part of the fingerprint.
    again = assay.compose(recipe, store=employment)
    assert again.fingerprint == version.fingerprint != everything.fingerprint
    version.write_parquet(tmp_path / "a.parquet")
    again.write_parquet(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_compose_keeps_order_when_deltas_are_smaller_than_the_list(
    store: assay.Store, tmp_path: Path
) -> None:
    # A plain semi-join would probe the small delta into the large list and return its
    # rows in hash order; the version's order is delta by delta, key-sorted within.
    assay.create_dataset(store, "small", ["id"])
    rng = random.Random(3)
    for n in range(3):
        ids = rng.sample(range(10_000), 300)
        path = tmp_path / f"d{n}.parquet"
        pq.write_table(pa.table({"id": [n * 10_000 + i for i in ids], "v": ids}), path)
        assay.add_delta(store, "small", path, name=f"d{n}")
    values = [n * 10_000 + i for n in range(3) for i in range(0, 10_000, 2)]
    version = assay.compose(
        {"dataset": "small", "where": f"id in ({', '.join(map(str, values))})"}, store=store
    )
    got = version.to_pandas()["id"].tolist()
    everything = assay.compose({"dataset": "small"}, store=store).to_pandas()["id"]
    # The ids grow with the delta number, so sorted is the version's order.
    assert got == sorted(i for i in everything if i % 2 == 0)
    assert len(got) > 100


# ------------------------------------------------------------ long input echoed


def test_a_20kb_expression_is_not_echoed_whole() -> None:
    text = " or ".join(f"a = {v}" for v in range(2_000)) + " or a = = 1"
    assert len(text) > 20_000
    with pytest.raises(ExpressionError) as info:
        parse(text, context="where")
    message = str(info.value)
    assert len(message) < 300
    assert message.startswith(f"where: unexpected '=' at column {len(text) - 2}")
    assert f"({len(text):,} characters)" in message
    assert "a = = 1" in message  # the excerpt shows where it went wrong
    assert info.value.text == text  # the whole text stays available to callers


@pytest.mark.parametrize(
    "text",
    [
        "`" + "x" * 10_000 + "` = 1",  # unknown column (bind time)
        "a = '" + "x" * 10_000 + "' 1",  # a long token named in "unexpected ..."
        "a = " + "9" * 10_000,  # integer out of range
        "a in (" + ", ".join(["1"] * 3_000) + ", null)",  # null in a long list
        "a + '" + "x" * 10_000 + "' > 1",  # a long sub-expression named at bind time
    ],
    ids=["column", "token", "integer", "null-in-list", "operand"],
)
def test_long_names_and_tokens_are_shortened(small: ibis.Table, text: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text).predicate(small)
    message = str(info.value)
    assert len(message) < 400, message
    assert "characters)" in message


def test_hand_built_long_in_list_binds() -> None:
    table = default_engine().table(pa.table({"a": [1, 2, 3]}))
    node = In(Column("a"), tuple(Literal(v) for v in range(2, 2 + IN_LIST_JOIN + 5)))
    got = default_engine().to_arrow(table.filter(node.predicate(table)))["a"].to_pylist()
    assert got == [2, 3]
