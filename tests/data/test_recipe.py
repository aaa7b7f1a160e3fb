"""Recipes: the documented defaults, and property-based loading, composing and fingerprints.

Random recipes either compose, with rows that an independent Python evaluation of
their ``where`` and slices agrees with, or are refused with a one-line usage error
(exit code 2), never an internal error. A fingerprint does not depend on key order,
on how the same deltas are spelled (names, ids, id prefixes, tags, ``all`` minus
``exclude``), or on the spacing of expressions.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay
from assay.data.compose import resolve_version
from assay.data.recipe import Recipe, SplitSpec, load_recipe
from assay.errors import AssayError, RecipeError
from assay.store import DeltaInfo

README = Path(__file__).parents[2] / "README.md"
EXAMPLES = 100
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_the_readme_states_the_default_split() -> None:
    default = SplitSpec()
    text = README.read_text(encoding="utf-8")
    parts = [f"{name} {share:g}" for name, share in default.ordered()]
    sentence = (
        f"Without `split:`, a recipe splits with seed {default.seed} into "
        f"{', '.join(parts[:-1])} and {parts[-1]}."
    )
    assert sentence in " ".join(text.split())
    shown = next(line for line in text.splitlines() if line.startswith("split: "))
    assert "the default" in shown
    assert Recipe(dataset="d", **yaml.safe_load(shown)).split == default


# ---------------------------------------------------------------------------- store

COLUMNS = {"n": "int", "x": "float", "s": "text"}
WORDS = ["a", "b", "it's", "zoë", ""]


def _rows(ids: range, seed: int) -> pa.Table:
    return pa.table(
        {
            "id": list(ids),
            "n": [None if (i + seed) % 7 == 0 else (i * 3 + seed) % 11 - 5 for i in ids],
            "x": [None if (i + seed) % 5 == 0 else ((i * 7 + seed) % 13) / 4 for i in ids],
            "s": [None if (i + seed) % 6 == 0 else WORDS[(i + seed) % 5] for i in ids],
            "d": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in ids],
        }
    )


def _populate(store: assay.Store, tmp_path: Path) -> list[DeltaInfo]:
    assay.create_dataset(store, "t", ["id"])
    plan = [
        ("base", "insert", _rows(range(0, 40), 0), ("survey",)),
        ("more", "insert", _rows(range(40, 60), 1), ("survey", "late")),
        ("fix", "upsert", _rows(range(30, 45), 2), ("late",)),
        ("gone", "delete", _rows(range(0, 4), 0).select(["id"]), ()),
    ]
    for name, op, rows, tags in plan:
        pq.write_table(rows, tmp_path / f"{name}.parquet")
        assay.add_delta(store, "t", tmp_path / f"{name}.parquet", op=op, tags=tags)
    return store.catalog.list_deltas("t")


# ---------------------------------------------------------------------- expressions

Predicate = Callable[[dict[str, Any]], bool | None]  # SQL's three values: None is null


def _literal(kind: str) -> st.SearchStrategy[Any]:
    if kind == "int":
        return st.integers(-6, 6)
    if kind == "float":
        return st.sampled_from([-1.0, 0.0, 0.25, 1.5, 2.75, 3.0])
    return st.sampled_from(WORDS)


def _spell(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@st.composite
def conditions(draw: st.DrawFn, depth: int = 2) -> tuple[str, Predicate]:
    """Expression text with random spacing, and its meaning evaluated in Python."""
    pad = draw(st.sampled_from([" ", "  ", "\t"]))
    choice = draw(st.integers(0, 5 if depth else 2))
    if choice <= 1:
        column = draw(st.sampled_from(sorted(COLUMNS)))
        op = draw(st.sampled_from(sorted(OPS)))
        value = draw(_literal(COLUMNS[column]))
        compare = OPS[op]

        def comparison(row: dict[str, Any]) -> bool | None:
            return None if row[column] is None else compare(row[column], value)

        return f"{column}{pad}{op}{pad}{_spell(value)}", comparison
    if choice == 2:
        column = draw(st.sampled_from(sorted(COLUMNS)))
        negated = draw(st.booleans())

        def is_null(row: dict[str, Any]) -> bool:
            return (row[column] is None) != negated

        return f"{column} is{' not' if negated else ''} null", is_null
    if choice == 3:
        text, inner = draw(conditions(depth - 1))

        def negation(row: dict[str, Any]) -> bool | None:
            value = inner(row)
            return None if value is None else not value

        return f"not{pad}({text})", negation
    (lt, left), (rt, right) = draw(conditions(depth - 1)), draw(conditions(depth - 1))
    word = "and" if choice == 4 else "or"

    def both(row: dict[str, Any]) -> bool | None:
        a, b = left(row), right(row)
        if word == "and":
            return False if a is False or b is False else (None if None in (a, b) else True)
        return True if a is True or b is True else (None if None in (a, b) else False)

    return f"({lt}){pad}{word.upper() if draw(st.booleans()) else word}{pad}({rt})", both


# --------------------------------------------------------------------------- recipes


def _token(deltas: list[DeltaInfo]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([d.name for d in deltas]),
        st.builds(
            lambda d, n: d.delta_id[:n], st.sampled_from(deltas), st.sampled_from([4, 6, 12, 64])
        ),
        st.sampled_from(["all", "tag:survey", "tag:late", "late", "tag:nope", "nope"]),
        st.text(max_size=6),
    )


@st.composite
def recipes(draw: st.DrawFn, deltas: list[DeltaInfo]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A recipe dict (sometimes invalid), and the Python meaning of its expressions."""
    recipe: dict[str, Any] = {"dataset": draw(st.sampled_from(["t"] * 7 + ["nope"]))}
    meaning: dict[str, Any] = {}
    token = _token(deltas)
    shape = draw(st.integers(0, 3))
    if shape == 1:
        recipe["deltas"] = draw(token)
    elif shape == 2:
        recipe["deltas"] = draw(st.lists(token, max_size=3))
    elif shape == 3:
        recipe["deltas"] = {
            "include": draw(st.lists(token, min_size=1, max_size=3)),
            "exclude": draw(st.lists(token, max_size=2)),
            **({"until": draw(token)} if draw(st.booleans()) else {}),
        }
    if draw(st.booleans()):
        if draw(st.integers(0, 4)):
            recipe["where"], meaning["where"] = draw(conditions())
        else:
            recipe["where"] = draw(st.text(max_size=12))  # anything at all
    if draw(st.integers(0, 3)) == 0:
        recipe["columns"] = draw(
            st.lists(st.sampled_from(["id", "n", "x", "s", "d", "split", "zz"]), max_size=4)
        )
    shape = draw(st.integers(0, 3))
    if shape == 1:  # shares that may not add up, or be out of range
        names = draw(st.lists(st.sampled_from(["train", "dev", "test", "x"]), unique=True))
        shares = [draw(st.sampled_from([0.1, 0.25, 0.5, 0.6, 1.0, 0.0, -0.5])) for _ in names]
        fractions = dict(zip(names, shares, strict=True))
    elif shape > 1:
        fractions = draw(
            st.sampled_from(
                [{"train": 0.5, "test": 0.5}, {"a": 0.2, "b": 0.3, "c": 0.5}, {"all": 1}]
            )
        )
    if shape:
        recipe["split"] = {"seed": draw(st.integers(-3, 2**40)), "fractions": fractions}
    if draw(st.booleans()):
        slices = {}
        for name in draw(st.lists(st.sampled_from(["small", "big", "odd"]), unique=True)):
            slices[name], meaning.setdefault("slices", {})[name] = draw(conditions(1))
        recipe["slices"] = slices
    return recipe, meaning


def test_random_recipes_compose_or_are_refused_cleanly(store: assay.Store, tmp_path: Path) -> None:
    deltas = _populate(store, tmp_path)
    outcomes: Counter[str] = Counter()

    @SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        recipe, meaning = data.draw(recipes(deltas))
        try:
            version = assay.compose(recipe, store=store, record=False)
        except AssayError as e:
            assert e.exit_code == 2 and "\n" not in str(e), str(e)
            outcomes[f"refused: {type(e).__name__}"] += 1
            return
        outcomes["composed"] += 1
        rows = version.to_arrow().to_pylist()
        names = [n for n, _ in version.recipe.split.ordered()]
        assert {r["split"] for r in rows} <= set(names)
        assert sum(version.summary()["splits"].values()) == len(rows)
        if "where" in meaning:
            unfiltered = {k: v for k, v in recipe.items() if k not in ("where", "columns")}
            every = assay.compose(unfiltered, store=store, record=False).to_arrow().to_pylist()
            kept = [r for r in every if meaning["where"](r) is True]
            assert len(rows) == len(kept)
            if "id" in version.table.column_names:
                assert [r["id"] for r in rows] == [r["id"] for r in kept]
        if "columns" not in recipe:
            for name, holds in meaning.get("slices", {}).items():
                count = sum(holds(r) is True for r in rows)
                assert version.summary()["slices"][name]["rows"] == count

    check()
    total = sum(outcomes.values())
    print(f"\nrecipes: {total} hypothesis examples: {dict(sorted(outcomes.items()))}")
    assert total == EXAMPLES and outcomes["composed"] >= 10 and total - outcomes["composed"] >= 10


def test_a_fingerprint_ignores_key_order_and_selector_spelling(
    store: assay.Store, tmp_path: Path
) -> None:
    deltas = _populate(store, tmp_path)
    by_number = {d.number: d for d in deltas}
    with_rows = [d.number for d in deltas if d.op != "delete"]
    examples = itertools.count()

    def spell(d: DeltaInfo, how: int) -> str:
        return [d.name, d.delta_id, d.delta_id[:8], d.delta_id[:20]][how]

    @SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from(sorted(by_number)), min_size=1))
        if not chosen & set(with_rows):
            chosen |= {with_rows[0]}
        where, _ = data.draw(conditions())
        slices = {"a": "n > 0", "b": "s = 'b'"}
        plain: dict[str, Any] = {
            "dataset": "t",
            "deltas": [by_number[n].name for n in sorted(chosen)],
            "where": " ".join(where.split()).lower(),
            "split": {"seed": 3, "fractions": {"train": 0.5, "test": 0.5}},
            "slices": slices,
        }
        rest = sorted(set(by_number) - chosen)
        ways: list[Any] = [
            [spell(by_number[n], data.draw(st.integers(0, 3))) for n in sorted(chosen)],
            {"include": "all", "exclude": [by_number[n].name for n in rest]},
        ]
        if chosen == set(by_number):
            ways.append("all")
        selector = data.draw(st.sampled_from(ways))
        if isinstance(selector, list):
            selector = data.draw(st.permutations(selector))
        spelled = {
            **plain,
            "deltas": selector,
            "where": where,
            "slices": dict(data.draw(st.permutations(list(slices.items())))),
        }
        spelled = dict(data.draw(st.permutations(list(spelled.items()))))
        same = resolve_version(spelled, store=store)
        assert same.fingerprint == resolve_version(plain, store=store).fingerprint
        assert [d.number for d in same.deltas] == sorted(chosen)
        if chosen != set(by_number):
            everything = {**plain, "deltas": "all"}
            assert same.fingerprint != resolve_version(everything, store=store).fingerprint
        next(examples)

    check()
    print(f"\nfingerprints: {next(examples)} hypothesis examples")


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"dataset": "e", "balanc": 1}, "balanc: unknown field; fields are dataset, deltas, where"),
        (
            {"dataset": "e", "split": {"train": 0.8}},
            "split.train: unknown field; fields are seed, fractions",
        ),
        (
            {"dataset": "e", "balance": {"column": "x", "caps": {"1": 0.5}}},
            "balance.caps: unknown field; fields are column, max_share, max_count, seed",
        ),
        ({"dataset": "e", "deltas": {"inclde": ["a"]}}, "fields are include, exclude, until"),
    ],
)
def test_an_unknown_field_lists_the_fields_where_it_is(
    recipe: dict[str, Any], message: str
) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(recipe)
