"""One YAML reader for recipes, suites and evaluation specs (issues 10 and 11)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from assay._declaration import Written, read_declaration
from assay.checks import load_suite
from assay.data import load_recipe
from assay.errors import RecipeError, SpecError, SuiteError, UsageError
from assay.evaluation import load_spec

SUITE = """\
suite: s
on: data.parquet   # YAML 1.1 reads the key `on` as true
expectations:
  - in_set: {column: COUNTRY, values: [NO, 'NO', "SE", 047, 1.5, ~, 2024-01-31]}
  - base: &shared {column: A, mostly: 0.5}
  - merged: {<<: *shared, column: B}
"""

LOADERS: list[tuple[str, Callable[[Any], Any], type[UsageError]]] = [
    ("recipe", load_recipe, RecipeError),
    ("suite", load_suite, SuiteError),
    ("evaluation spec", load_spec, SpecError),
]


def test_data_is_what_safe_load_builds() -> None:
    # Recipes hash what they read: the same data as before keeps every fingerprint.
    declaration = read_declaration(SUITE, "suite", SuiteError, "`suite: NAME`")
    assert declaration.data == yaml.safe_load(SUITE)
    assert declaration.label == "suite" and declaration.origin is None


def test_every_value_knows_where_and_how_it_was_written() -> None:
    declaration = read_declaration(SUITE, "suite", SuiteError, "`suite: NAME`")
    line = SUITE.splitlines()[3]
    values = ("expectations", 0, "in_set", "values")

    def at(i: int, token: str, tag: str) -> Written:
        return Written(4, line.index(token) + 1, token.strip("'\""), tag)

    assert [declaration.at(*values, i) for i in range(7)] == [
        at(0, "NO", "bool"),
        at(1, "'NO'", "str"),
        at(2, '"SE"', "str"),
        at(3, "047", "int"),
        at(4, "1.5", "float"),
        at(5, "~", "null"),
        at(6, "2024-01-31", "timestamp"),
    ]
    assert declaration.at(*values, 0).read_as_boolean  # type: ignore[union-attr]
    assert not declaration.at(*values, 1).read_as_boolean  # type: ignore[union-attr]
    assert declaration.at(True) == Written(2, 5, "data.parquet", "str")
    assert declaration.at("expectations", 2, "merged", "column") == Written(
        6, SUITE.splitlines()[5].index("B") + 1, "B", "str"
    )
    assert declaration.at("nothing", "here") is None


@pytest.mark.parametrize(("what", "load", "error"), LOADERS)
def test_syntax_errors_give_line_and_column_for_every_kind(
    what: str, load: Callable[[Any], Any], error: type[UsageError], tmp_path: Path
) -> None:
    # Before: evaluation specs said only the line.
    path = tmp_path / "broken.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(error) as info:
        load(str(path))
    assert f"{what} {path}: invalid YAML at line 3, column 2: expected ',' or ']'" in str(
        info.value
    )


@pytest.mark.parametrize(("what", "load", "error"), LOADERS)
def test_a_key_written_twice_is_refused_not_overwritten(
    what: str, load: Callable[[Any], Any], error: type[UsageError]
) -> None:
    # Before: YAML kept the last value without a word (`column: A` became `column: B`).
    text = "a: 1\nb:\n  column: A\n  column: B\n"
    with pytest.raises(error) as info:
        load(text)
    assert (
        f"{what}: line 4, column 3: key 'column' is written twice in one mapping "
        "(first on line 3); keep one"
    ) in str(info.value)


@pytest.mark.parametrize(("what", "load", "error"), LOADERS)
def test_a_file_that_is_not_utf8_is_refused_by_name(
    what: str, load: Callable[[Any], Any], error: type[UsageError], tmp_path: Path
) -> None:
    # Before: an internal UnicodeDecodeError.
    path = tmp_path / "latin1.yaml"
    path.write_bytes("dataset: Jos\xe9\n".encode("latin-1"))
    with pytest.raises(error) as info:
        load(str(path))
    assert f"{what} {path}: the file is not UTF-8 text (byte 12); save it as UTF-8" in str(
        info.value
    )


@pytest.mark.parametrize(("what", "load", "error"), LOADERS)
def test_a_missing_file_and_a_non_mapping_are_refused_alike(
    what: str, load: Callable[[Any], Any], error: type[UsageError], tmp_path: Path
) -> None:
    with pytest.raises(error, match=f"{what} .*nope.yaml: the file does not exist; check"):
        load(str(tmp_path / "nope.yaml"))
    with pytest.raises(error, match=f"^{what}: expected a mapping with "):
        load("- just\n- a list\n")


def test_merge_keys_may_override_without_being_duplicates() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n"
    declaration = read_declaration(text, "suite", SuiteError, "x")
    assert declaration.data["use"] == {"x": 1, "y": 3}
