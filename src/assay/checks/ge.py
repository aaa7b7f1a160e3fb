"""Import a Great Expectations suite: the expectations that map, and a list of those that don't.

    result = import_ge("gx/expectations/employment.json")
    print(result.suite.to_yaml())
    for u in result.unmapped:
        print(u.position, u.ge_type, u.reason)

Reads the suite JSON of Great Expectations 1.x (``{"name", "expectations": [{"type",
"kwargs", "meta", "id"}]}``) and of 0.x (``expectation_suite_name``, ``expectation_type``).
Each GE expectation becomes one or more assay expectations, or an ``Unmapped`` entry
that says why it could not be translated (a type assay lacks, a keyword argument such as
``parse_strings_as_datetimes``, a ``row_condition`` in a syntax that does not translate,
a suite parameter). Nothing is weakened silently: an expectation is translated whole or
listed as unmapped. Input GE itself would reject (``mostly: 1.1``, ``min_value >
max_value``, an unknown keyword) raises one ``SuiteError`` naming every problem's
position, before any data is read.

Semantics carried over: GE's ``null`` bounds are open; ``strict_min``/``strict_max``;
``mostly`` over the non-null rows; a ``row_condition`` becomes a ``slice`` with ``where``;
``ignore_row_if`` becomes a ``slice`` over the rows GE considers. ``result_format``,
``catch_exceptions``, ``include_config`` and ``meta`` change nothing about the verdict
and are ignored; ``meta.notes`` and the GE ``id`` are kept in ``description``.
"""

from __future__ import annotations

import io
import json
import keyword
import os
import re
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.checks.expectations import Suite, load_suite
from assay.data import expr as expr_lang
from assay.errors import ExpressionError, SuiteError

__all__ = ["GE_TYPES", "GeImport", "Unmapped", "import_ge"]


@dataclass(frozen=True)
class Unmapped:
    """A GE expectation that was not translated, and why."""

    position: int  # 0-based index in the GE suite's ``expectations``
    ge_type: str
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "ge_type": self.ge_type,
            "column": self.column,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GeImport:
    """The translated suite and the GE expectations left out of it."""

    suite: Suite
    unmapped: list[Unmapped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite.name,
            "expectations": len(self.suite.expectations),
            "unmapped": [u.to_dict() for u in self.unmapped],
        }


class _Unmappable(Exception):
    """This expectation cannot be translated; the message says why."""


class _Invalid(Exception):
    """This expectation is malformed (GE would reject it too); the message says how to fix it."""


# Keyword arguments that never change a verdict.
_IGNORED = frozenset({"result_format", "catch_exceptions", "include_config", "meta"})
_CONDITION = ("row_condition", "condition_parser")


class _Kwargs:
    """A GE expectation's kwargs; remembers which were read, to refuse the rest."""

    def __init__(
        self, kwargs: Mapping[str, Any], known: frozenset[str], unsupported: frozenset[str]
    ):
        self.kwargs = dict(kwargs)
        for name, value in self.kwargs.items():
            if isinstance(value, Mapping) and ("$PARAMETER" in value or "$parameter" in value):
                shown = value.get("$PARAMETER", value.get("$parameter"))
                raise _Unmappable(
                    f"`{name}` is a suite parameter ($PARAMETER: {shown}); assay suites hold "
                    "literal values: write the value in the translated suite"
                )
        unknown = sorted(set(self.kwargs) - known - unsupported - _IGNORED)
        if unknown:
            allowed = ", ".join(sorted(known | unsupported))
            raise _Invalid(
                f"unknown argument {unknown[0]!r} (allowed: {allowed}); remove it, or translate "
                "this expectation by hand"
            )
        used = sorted(
            k for k in set(self.kwargs) & unsupported if self.kwargs[k] not in (None, False)
        )
        if used:
            raise _Unmappable(f"argument `{used[0]}` has no assay equivalent")

    def get(self, name: str, default: Any = None) -> Any:
        value = self.kwargs.get(name, default)
        return default if value is None else value

    def require(self, name: str) -> Any:
        if self.kwargs.get(name) is None:
            raise _Invalid(f"missing argument {name!r}")
        return self.kwargs[name]

    def column(self, name: str = "column") -> str:
        value = self.require(name)
        if not isinstance(value, str):
            raise _Invalid(f"argument {name!r} must be a column name, not {value!r}")
        return value

    def columns(self, name: str = "column_list") -> list[str]:
        value = self.require(name)
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise _Invalid(f"argument {name!r} must be a list of column names")
        return value

    def mostly(self) -> dict[str, Any]:
        return {} if self.kwargs.get("mostly") is None else {"mostly": self.kwargs["mostly"]}


@dataclass(frozen=True)
class _Spec:
    translate: Callable[[_Kwargs], list[dict[str, Any]]]
    known: frozenset[str]  # the GE arguments the translation reads
    unsupported: frozenset[str] = frozenset()  # GE arguments it cannot carry over
    vacuous: bool = False  # GE passes it when no bound is given (else it is an error)


def _bounds(kw: _Kwargs, vacuous: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kw.get("min_value") is not None:
        out["min"] = kw.get("min_value")
    if kw.get("max_value") is not None:
        out["max"] = kw.get("max_value")
    if not out:
        if vacuous:
            raise _Unmappable(
                "no min_value or max_value: Great Expectations passes it on any data, so there "
                "is nothing to check"
            )
        raise _Invalid("give min_value, max_value or both (GE rejects neither)")
    for name in ("strict_min", "strict_max"):
        if kw.get(name):
            out[name] = True
    return out


def _nonnull(values: Any, name: str) -> list[Any]:
    if not isinstance(values, list):
        raise _Invalid(f"argument {name!r} must be a list")
    # Nulls in a value set never decide anything: these expectations ignore null rows.
    return [v for v in values if v is not None]


def _name(column: str) -> str:
    """A column as the expression language writes it (backquoted where needed)."""
    return expr_lang.Column(column).canonical()


def _all_notnull(columns: list[str]) -> str:
    return " and ".join(f"{_name(c)} is not null" for c in columns)


def _any_notnull(columns: list[str]) -> str:
    return " or ".join(f"{_name(c)} is not null" for c in columns)


# -- translations, one per GE type ------------------------------------------------------

_BOUND_ARGS = frozenset({"min_value", "max_value", "strict_min", "strict_max"})
_COLUMN_BOUNDS = _BOUND_ARGS | {"column", *_CONDITION}
_MAP = frozenset({"column", "mostly", *_CONDITION})


def _table_bounds(assay_type: str, vacuous: bool) -> _Spec:
    return _Spec(lambda kw: [{assay_type: _bounds(kw, vacuous)}], _BOUND_ARGS, vacuous=vacuous)


def _table_equal(assay_type: str) -> _Spec:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        value = kw.require("value")
        return [{assay_type: {"min": value, "max": value}}]

    return _Spec(translate, frozenset({"value"}))


def _aggregate(assay_type: str, vacuous: bool, unsupported: frozenset[str] = frozenset()) -> _Spec:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        return [{assay_type: {"column": kw.column(), **_bounds(kw, vacuous)}}]

    return _Spec(translate, _COLUMN_BOUNDS, unsupported, vacuous=vacuous)


def _nonnull_proportion(kw: _Kwargs) -> list[dict[str, Any]]:
    # A non-null proportion p in [lo, hi] is a null fraction 1 - p in [1 - hi, 1 - lo];
    # rounded so that 1 - 0.99 is 0.01, not 0.010000000000000009.
    bounds = _bounds(kw, True)
    args: dict[str, Any] = {"column": kw.column()}
    if "max" in bounds:
        args["min"] = round(1 - bounds["max"], 15)
        args["strict_min"] = bounds.get("strict_max", False)
    if "min" in bounds:
        args["max"] = round(1 - bounds["min"], 15)
        args["strict_max"] = bounds.get("strict_min", False)
    for name in ("min", "max"):
        if isinstance(bounds.get(name), str):
            raise _Invalid(f"argument '{name}_value' must be a number")
    return [{"null_fraction": args}]


def _match_set(kw: _Kwargs) -> list[dict[str, Any]]:
    columns = kw.get("column_set")
    exact = kw.get("exact_match", True)
    if columns is None:
        if not exact:
            raise _Unmappable(
                "no column_set and exact_match false: Great Expectations passes it on any table"
            )
        columns = []
    if not isinstance(columns, list):
        raise _Invalid("argument 'column_set' must be a list of column names")
    if exact:
        return [{"columns": {"exact": list(columns)}}]
    return [{"columns": {"required": list(columns)}}]


def _ordered_list(kw: _Kwargs) -> list[dict[str, Any]]:
    columns = kw.get("column_list")
    if columns is None:
        raise _Unmappable("no column_list: Great Expectations passes it on any table")
    return [{"columns": {"exact": list(columns), "ordered": True}}]


def _to_exist(kw: _Kwargs) -> list[dict[str, Any]]:
    return [{"columns": {"required": [kw.column()]}}]


def _simple(assay_type: str) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    return lambda kw: [{assay_type: {"column": kw.column(), **kw.mostly()}}]


def _between(kw: _Kwargs) -> list[dict[str, Any]]:
    return [{"between": {"column": kw.column(), **_bounds(kw, False), **kw.mostly()}}]


def _in_set(assay_type: str) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        values = _nonnull(kw.require("value_set"), "value_set")
        return [{assay_type: {"column": kw.column(), "values": values, **kw.mostly()}}]

    return translate


def _lengths_between(kw: _Kwargs) -> list[dict[str, Any]]:
    return [{"length_between": {"column": kw.column(), **_bounds(kw, False), **kw.mostly()}}]


def _lengths_equal(kw: _Kwargs) -> list[dict[str, Any]]:
    value = kw.require("value")
    return [{"length_between": {"column": kw.column(), "min": value, "max": value, **kw.mostly()}}]


def _regex(assay_type: str) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        pattern = kw.require("regex")
        if not isinstance(pattern, str):
            raise _Invalid("argument 'regex' must be a string")
        return [{assay_type: {"column": kw.column(), "pattern": pattern, **kw.mostly()}}]

    return translate


def _alternation(patterns: list[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


def _pattern_list(kw: _Kwargs, patterns: list[str], negate: bool) -> list[dict[str, Any]]:
    column = kw.column()
    if not patterns:
        raise _Invalid("the pattern list is empty; give at least one pattern")
    if negate:  # unexpected when any pattern matches
        return [
            {
                "not_match_regex": {
                    "column": column,
                    "pattern": _alternation(patterns),
                    **kw.mostly(),
                }
            }
        ]
    match_on = kw.get("match_on", "any")
    if match_on not in ("any", "all"):
        raise _Invalid(f"argument 'match_on' must be 'any' or 'all', not {match_on!r}")
    if match_on == "any" or len(patterns) == 1:
        return [
            {"match_regex": {"column": column, "pattern": _alternation(patterns), **kw.mostly()}}
        ]
    if kw.get("mostly", 1.0) < 1.0:
        # A row must match every pattern, `mostly` over rows: that needs one regex with
        # lookaheads, which the engines' regex dialect (RE2) lacks.
        raise _Unmappable("match_on 'all' with mostly < 1 needs look-ahead, which RE2 lacks")
    return [{"match_regex": {"column": column, "pattern": p}} for p in patterns]


def _regex_list(negate: bool) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        patterns = kw.require("regex_list")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise _Invalid("argument 'regex_list' must be a list of strings")
        return _pattern_list(kw, patterns, negate)

    return translate


def like_to_regex(pattern: str) -> str:
    """An SQL LIKE pattern as an anchored regex: ``%`` any run, ``_`` one character,
    backslash escapes the next character (PostgreSQL's default)."""
    if "[" in pattern:
        # SQL Server reads [abc] as a character class, ANSI SQL as literal brackets: the
        # meaning depends on the database the suite was written for.
        raise _Unmappable(
            f"LIKE pattern {pattern!r} has '[', a character class in SQL Server but literal "
            "elsewhere; write it as match_regex"
        )
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


def _like(negate: bool) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        pattern = kw.require("like_pattern")
        if not isinstance(pattern, str):
            raise _Invalid("argument 'like_pattern' must be a string")
        return _pattern_list(kw, [like_to_regex(pattern)], negate)

    return translate


def _like_list(negate: bool) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        patterns = kw.require("like_pattern_list")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise _Invalid("argument 'like_pattern_list' must be a list of strings")
        return _pattern_list(kw, [like_to_regex(p) for p in patterns], negate)

    return translate


_PAIR_IGNORE = {"both_values_are_missing", "either_value_is_missing", "neither", "never"}


def _pair(op: Callable[[_Kwargs], str]) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        a, b = kw.column("column_A"), kw.column("column_B")
        ignore = kw.get("ignore_row_if", "both_values_are_missing")
        if ignore not in _PAIR_IGNORE:
            raise _Invalid(f"argument 'ignore_row_if' must be one of {sorted(_PAIR_IGNORE)}")
        if ignore == "either_value_is_missing":
            return [{"compare": {"left": a, "op": op(kw), "right": b, **kw.mostly()}}]
        # GE judges a row with one null as failing (the comparison is false): an
        # `expression` counts a null result as failing, over the rows GE considers.
        rule = f"{_name(a)} {op(kw)} {_name(b)}"
        entry = {"expression": {"expr": rule, **kw.mostly()}}
        return [entry] if ignore in ("neither", "never") else [_Where(_any_notnull([a, b]), entry)]

    return translate


class _Where(dict[str, Any]):
    """An entry that holds only on rows where ``where`` is true (GE's ``ignore_row_if``)."""

    def __init__(self, where: str, entry: dict[str, Any]):
        super().__init__(entry)
        self.where = where


_MULTI_IGNORE = {"all_values_are_missing", "any_value_is_missing", "never"}


def _multi_ignore(
    kw: _Kwargs, columns: list[str], entry: dict[str, Any], default_ok: bool
) -> list[dict[str, Any]]:
    ignore = kw.get("ignore_row_if", "all_values_are_missing")
    if ignore not in _MULTI_IGNORE:
        raise _Invalid(f"argument 'ignore_row_if' must be one of {sorted(_MULTI_IGNORE)}")
    if ignore == "any_value_is_missing":
        return [_Where(_all_notnull(columns), entry)]
    if ignore == "never":
        raise _Unmappable(
            "ignore_row_if 'never' (rows whose columns are all null count) has no assay equivalent"
        )
    return [entry] if default_ok else [_Where(_any_notnull(columns), entry)]


def _compound_unique(kw: _Kwargs) -> list[dict[str, Any]]:
    columns = kw.columns()
    # assay's `unique` already ignores rows whose columns are all null.
    return _multi_ignore(kw, columns, {"unique": {"columns": columns, **kw.mostly()}}, True)


def _within_record(kw: _Kwargs) -> list[dict[str, Any]]:
    columns = kw.columns()
    entry = {"unique_within_record": {"columns": columns, **kw.mostly()}}
    return _multi_ignore(kw, columns, entry, True)


def _multicolumn_sum(kw: _Kwargs) -> list[dict[str, Any]]:
    columns = kw.columns()
    total = kw.require("sum_total")
    if isinstance(total, bool) or not isinstance(total, int | float):
        raise _Invalid("argument 'sum_total' must be a number")
    rule = " + ".join(_name(c) for c in columns) + f" = {total!r}"
    return _multi_ignore(kw, columns, {"expression": {"expr": rule, **kw.mostly()}}, False)


def _quantiles(kw: _Kwargs) -> list[dict[str, Any]]:
    column = kw.column()
    ranges = kw.require("quantile_ranges")
    if not isinstance(ranges, Mapping) or set(ranges) != {"quantiles", "value_ranges"}:
        raise _Invalid(
            "argument 'quantile_ranges' must be {quantiles: [...], value_ranges: [[min, max], ...]}"
        )
    qs, bounds = ranges["quantiles"], ranges["value_ranges"]
    if not isinstance(qs, list) or not isinstance(bounds, list) or len(qs) != len(bounds):
        raise _Invalid(
            "quantile_ranges: quantiles and value_ranges must be lists of the same length"
        )
    out = []
    for q, pair in zip(qs, bounds, strict=True):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Invalid(f"quantile_ranges: the range for quantile {q} must be [min, max]")
        lo, hi = pair
        if lo is None and hi is None:
            continue  # an open range holds for any value
        args: dict[str, Any] = {"column": column, "q": q}
        if lo is not None:
            args["min"] = lo
        if hi is not None:
            args["max"] = hi
        out.append({"quantile_between": args})
    if not out:
        raise _Unmappable("every quantile range is open: passes on any data")
    return out


def _distinct(how: str) -> Callable[[_Kwargs], list[dict[str, Any]]]:
    def translate(kw: _Kwargs) -> list[dict[str, Any]]:
        column = kw.column()
        if kw.get("value_set") is None:
            if how == "subset_of":
                raise _Unmappable("no value_set: Great Expectations passes it on any data")
            raise _Invalid("missing argument 'value_set'")
        values = _nonnull(kw.require("value_set"), "value_set")
        return [{"distinct_values": {"column": column, how: values}}]

    return translate


def _most_common(kw: _Kwargs) -> list[dict[str, Any]]:
    values = _nonnull(kw.require("value_set"), "value_set")
    args: dict[str, Any] = {"column": kw.column(), "values": values}
    if kw.get("ties_okay"):
        args["ties_okay"] = True
    return [{"most_common_in_set": args}]


# GE type names (pandas/numpy, Python, SQL, Spark) → assay kinds or exact Arrow names.
# Only names whose meaning is clear; GE's pandas "int" means exactly int64 and "float"
# float64, but a migrating user means "an integer column": assay's kinds accept any width.
_TYPE_NAMES: dict[str, list[str]] = {
    **{
        n: ["integer"]
        for n in (
            "int",
            "integer",
            "bigint",
            "smallint",
            "integertype",
            "longtype",
            "shorttype",
            "bytetype",
            "int_",
        )
    },
    **{n: [n] for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")},
    **{
        n: ["float"]
        for n in (
            "float",
            "double",
            "double_precision",
            "real",
            "floattype",
            "doubletype",
            "float64_",
            "float_",
        )
    },
    **{n: [n] for n in ("float16", "float32", "float64")},
    **{n: ["numeric"] for n in ("numeric", "decimal", "number", "decimaltype")},
    **{
        n: ["string"]
        for n in ("str", "string", "text", "varchar", "char", "stringtype", "str_", "unicode")
    },
    **{n: ["boolean"] for n in ("bool", "boolean", "booleantype", "bool_")},
    **{n: ["date"] for n in ("date", "datetype")},
    # numpy's datetime64 is naive; pandas' Timestamp and SQL TIMESTAMP cover both.
    "datetime64": ["timestamp[s]", "timestamp[ms]", "timestamp[us]", "timestamp[ns]"],
    "datetime64[ns]": ["timestamp[ns]"],
    "datetime64[us]": ["timestamp[us]"],
    "datetime64[ms]": ["timestamp[ms]"],
    "datetime64[s]": ["timestamp[s]"],
    **{n: ["timestamp"] for n in ("timestamp", "timestamptype", "datetime", "timestamp_ntz")},
}
# pandas nullable dtypes (Int64, Float64, …) are the same widths.
_TYPE_NAMES.update(
    {n.capitalize(): v for n, v in _TYPE_NAMES.items() if n[:3] in ("int", "uin", "flo")}
)


def _ge_type(name: Any) -> list[str]:
    if not isinstance(name, str):
        raise _Invalid(f"type names must be strings, not {name!r}")
    kinds = _TYPE_NAMES.get(name, _TYPE_NAMES.get(name.lower()))
    if kinds is None:
        raise _Unmappable(
            f"type {name!r} has no clear assay equivalent (object, TINYINT, BIT, … depend on the "
            "backend); use column_type with an assay kind"
        )
    return kinds


def _of_type(kw: _Kwargs) -> list[dict[str, Any]]:
    return [{"column_type": {"column": kw.column(), "types": _ge_type(kw.require("type_"))}}]


def _in_type_list(kw: _Kwargs) -> list[dict[str, Any]]:
    names = kw.get("type_list")
    if names is None:
        raise _Unmappable("no type_list: Great Expectations passes it on any column")
    if not isinstance(names, list):
        raise _Invalid("argument 'type_list' must be a list of type names")
    kinds = [k for n in names for k in _ge_type(n)]
    return [{"column_type": {"column": kw.column(), "types": list(dict.fromkeys(kinds))}}]


def _spec(
    fn: Callable[[_Kwargs], list[dict[str, Any]]], *known: str, unsupported: tuple[str, ...] = ()
) -> _Spec:
    return _Spec(fn, frozenset(known), frozenset(unsupported))


_DATES = ("parse_strings_as_datetimes", "output_strftime_format")

GE_TYPES: dict[str, _Spec] = {
    "expect_table_row_count_to_be_between": _table_bounds("row_count", vacuous=True),
    "expect_table_row_count_to_equal": _table_equal("row_count"),
    "expect_table_column_count_to_be_between": _table_bounds("column_count", vacuous=True),
    "expect_table_column_count_to_equal": _table_equal("column_count"),
    "expect_table_columns_to_match_set": _spec(_match_set, "column_set", "exact_match"),
    "expect_table_columns_to_match_ordered_list": _spec(_ordered_list, "column_list"),
    "expect_column_to_exist": _spec(_to_exist, "column", unsupported=("column_index",)),
    "expect_column_values_to_not_be_null": _spec(_simple("not_null"), *_MAP),
    "expect_column_values_to_be_null": _spec(_simple("null"), *_MAP),
    "expect_column_proportion_of_non_null_values_to_be_between": _spec(
        _nonnull_proportion, "column", *_BOUND_ARGS, *_CONDITION
    ),
    "expect_column_values_to_be_unique": _spec(_simple("unique"), *_MAP),
    "expect_compound_columns_to_be_unique": _spec(
        _compound_unique, "column_list", "mostly", "ignore_row_if", *_CONDITION
    ),
    "expect_select_column_values_to_be_unique_within_record": _spec(
        _within_record, "column_list", "mostly", "ignore_row_if", *_CONDITION
    ),
    "expect_column_values_to_be_between": _spec(
        _between, *_MAP, *_BOUND_ARGS, unsupported=(*_DATES, "allow_cross_type_comparisons")
    ),
    "expect_column_values_to_be_in_set": _spec(
        _in_set("in_set"), *_MAP, "value_set", unsupported=_DATES[:1]
    ),
    "expect_column_values_to_not_be_in_set": _spec(
        _in_set("not_in_set"), *_MAP, "value_set", unsupported=_DATES[:1]
    ),
    "expect_column_value_lengths_to_be_between": _spec(_lengths_between, *_MAP, *_BOUND_ARGS),
    "expect_column_value_lengths_to_equal": _spec(_lengths_equal, *_MAP, "value"),
    "expect_column_values_to_match_regex": _spec(_regex("match_regex"), *_MAP, "regex"),
    "expect_column_values_to_not_match_regex": _spec(_regex("not_match_regex"), *_MAP, "regex"),
    "expect_column_values_to_match_regex_list": _spec(
        _regex_list(False), *_MAP, "regex_list", "match_on"
    ),
    "expect_column_values_to_not_match_regex_list": _spec(_regex_list(True), *_MAP, "regex_list"),
    "expect_column_values_to_match_like_pattern": _spec(_like(False), *_MAP, "like_pattern"),
    "expect_column_values_to_not_match_like_pattern": _spec(_like(True), *_MAP, "like_pattern"),
    "expect_column_values_to_match_like_pattern_list": _spec(
        _like_list(False), *_MAP, "like_pattern_list", "match_on"
    ),
    "expect_column_values_to_not_match_like_pattern_list": _spec(
        _like_list(True), *_MAP, "like_pattern_list"
    ),
    "expect_column_pair_values_a_to_be_greater_than_b": _spec(
        _pair(lambda kw: ">=" if kw.get("or_equal") else ">"),
        "column_A",
        "column_B",
        "or_equal",
        "ignore_row_if",
        "mostly",
        *_CONDITION,
        unsupported=(*_DATES[:1], "allow_cross_type_comparisons"),
    ),
    "expect_column_pair_values_to_be_equal": _spec(
        _pair(lambda kw: "="), "column_A", "column_B", "ignore_row_if", "mostly", *_CONDITION
    ),
    "expect_multicolumn_sum_to_equal": _spec(
        _multicolumn_sum, "column_list", "sum_total", "ignore_row_if", "mostly", *_CONDITION
    ),
    "expect_column_min_to_be_between": _aggregate("min_between", False, frozenset(_DATES)),
    "expect_column_max_to_be_between": _aggregate("max_between", False, frozenset(_DATES)),
    "expect_column_mean_to_be_between": _aggregate("mean_between", True),
    "expect_column_median_to_be_between": _aggregate("median_between", True),
    "expect_column_stdev_to_be_between": _aggregate("stdev_between", True),
    "expect_column_sum_to_be_between": _aggregate("sum_between", False),
    "expect_column_quantile_values_to_be_between": _spec(
        _quantiles, "column", "quantile_ranges", *_CONDITION, unsupported=("allow_relative_error",)
    ),
    "expect_column_unique_value_count_to_be_between": _aggregate("distinct_count_between", True),
    "expect_column_proportion_of_unique_values_to_be_between": _aggregate(
        "distinct_fraction_between", True
    ),
    "expect_column_distinct_values_to_be_in_set": _spec(
        _distinct("subset_of"), "column", "value_set", *_CONDITION, unsupported=_DATES[:1]
    ),
    "expect_column_distinct_values_to_contain_set": _spec(
        _distinct("superset_of"), "column", "value_set", *_CONDITION, unsupported=_DATES[:1]
    ),
    "expect_column_distinct_values_to_equal_set": _spec(
        _distinct("equals"), "column", "value_set", *_CONDITION, unsupported=_DATES[:1]
    ),
    "expect_column_most_common_value_to_be_in_set": _spec(
        _most_common, "column", "value_set", "ties_okay", *_CONDITION
    ),
    "expect_column_values_to_be_of_type": _spec(_of_type, *_MAP, "type_"),
    "expect_column_values_to_be_in_type_list": _spec(_in_type_list, *_MAP, "type_list"),
}
"""The GE expectation types ``import_ge`` translates."""


# -- row conditions ---------------------------------------------------------------------

_QUERY_WORDS = {
    "and": "and",
    "or": "or",
    "not": "not",
    "in": "in",
    "True": "true",
    "False": "false",
}
_QUERY_OPS = {
    "==": "=",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "&": "and",
    "|": "or",
    "~": "not",
    "(": "(",
    ")": ")",
    ",": ",",
}


def translate_row_condition(condition: str, parser: str | None) -> str:
    """A GE ``row_condition`` as an assay expression, or ``_Unmappable``.

    ``pandas``: ``DataFrame.query`` syntax (``x > 1 & y == "a"``, backquoted names,
    ``in [..]``); ``great_expectations``: the same with ``col("name")`` for columns.
    Anything else (method calls, ``@variables``, chained comparisons) does not translate.
    """
    if parser not in ("pandas", "great_expectations", "great_expectations__experimental__"):
        raise _Invalid(
            f"condition_parser {parser!r} is not one of pandas, great_expectations; fix it "
            "(GE rejects it too)"
        )
    # Backquoted names (pandas' way to write `a column`) become placeholders first:
    # Python's tokenizer has no token for them.
    quoted: dict[str, str] = {}

    def hold(m: re.Match[str]) -> str:
        quoted[f"__assay_q{len(quoted)}__"] = m.group(1)
        return f" __assay_q{len(quoted) - 1}__ "

    held = re.sub(r"`([^`]*)`", hold, condition)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(held).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as e:
        raise _Unmappable(f"row_condition {condition!r} does not tokenize: {e}") from None
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind, text = tok.type, tok.string
        if kind in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.ENDMARKER,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            pass
        elif (
            kind == tokenize.NAME
            and text == "col"
            and i + 3 < len(tokens)
            and tokens[i + 1].string == "("
            and tokens[i + 2].type == tokenize.STRING
            and tokens[i + 3].string == ")"
        ):
            out.append(_name(_string_value(tokens[i + 2].string)))
            i += 3
        elif kind == tokenize.NAME and text in _QUERY_WORDS:
            out.append(_QUERY_WORDS[text])
        elif kind == tokenize.NAME and text in quoted:
            out.append(_name(quoted[text]))
        elif kind == tokenize.NAME and not keyword.iskeyword(text):
            if i + 1 < len(tokens) and tokens[i + 1].string in ("(", ".", "["):
                raise _Unmappable(
                    f"row_condition {condition!r} calls {text}{tokens[i + 1].string}…, which assay's expression language lacks"
                )
            out.append(_name(text))
        elif kind == tokenize.NUMBER:
            out.append(text)
        elif kind == tokenize.STRING:
            out.append(expr_lang.Literal(_string_value(text)).canonical())
        elif kind == tokenize.OP and text in _QUERY_OPS:
            out.append(_QUERY_OPS[text])
        elif kind == tokenize.OP and text == "[" and out and out[-1] == "in":
            out.append("(")
        elif kind == tokenize.OP and text == "]" and "(" in out:
            out.append(")")
        else:
            raise _Unmappable(f"row_condition {condition!r}: {text!r} has no assay equivalent")
        i += 1
    text = " ".join(out)
    try:
        return expr_lang.parse(text, context="row_condition").canonical()
    except ExpressionError as e:
        raise _Unmappable(f"row_condition {condition!r} does not translate: {e}") from None


_STRUCTURED_OPS = {"==": "=", "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _structured_condition(condition: Mapping[str, Any]) -> str:
    """GE ≥ 1.9's row condition object (``{"type": "comparison", "column": {"name": …},
    "operator": …, "parameter": …}``, or ``and``/``or`` of ``conditions``) as expression text."""
    kind = condition.get("type")
    if kind in ("and", "or") and isinstance(condition.get("conditions"), list):
        parts = [
            _structured_condition(c) for c in condition["conditions"] if isinstance(c, Mapping)
        ]
        if len(parts) != len(condition["conditions"]) or len(parts) < 2:
            raise _Unmappable(f"row_condition {dict(condition)!r} does not translate")
        return f" {kind} ".join(f"({p})" for p in parts)
    column = condition.get("column")
    name = column.get("name") if isinstance(column, Mapping) else column
    op = _STRUCTURED_OPS.get(str(condition.get("operator")))
    value = condition.get("parameter")
    if kind != "comparison" or not isinstance(name, str) or op is None:
        raise _Unmappable(f"row_condition {dict(condition)!r} does not translate")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Unmappable(f"row_condition compares with {value!r}, which does not translate")
    return f"{_name(name)} {op} {expr_lang.Literal(value).canonical()}"


def _string_value(literal: str) -> str:
    import ast

    value = ast.literal_eval(literal)
    if not isinstance(value, str):
        raise _Unmappable(f"{literal} is not a plain string")
    return value


# -- reading the suite ------------------------------------------------------------------


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        return dict(source), "GE suite"
    text = os.fspath(source)
    label = "GE suite"
    if not text.lstrip().startswith(("{", "[")):
        path = Path(text)
        label = f"GE suite {text}"
        if not path.is_file():
            raise SuiteError(label, ["the file does not exist; check the path"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SuiteError(label, [f"cannot read the file: {e}"]) from None
    try:
        return json.loads(text), label
    except json.JSONDecodeError as e:
        raise SuiteError(
            label,
            [
                f"not JSON ({e.msg} at line {e.lineno}, column {e.colno}); give a GE suite .json file"
            ],
        ) from None


def _description(entry: Mapping[str, Any]) -> str | None:
    parts: list[str] = []
    for text in (
        entry.get("description"),
        entry.get("notes"),
        (entry.get("meta") or {}).get("notes"),
    ):
        if isinstance(text, Mapping):
            text = text.get("content")
        if isinstance(text, list):
            text = " ".join(str(t) for t in text)
        if isinstance(text, str) and text.strip() and text.strip() not in parts:
            parts.append(text.strip())
    if parts and entry.get("id"):  # an id alone is noise; with notes it finds the original
        parts.append(f"[GE id {entry['id']}]")
    return " ".join(parts) or None


def _translate(entry: Mapping[str, Any], ge_type: str, spec: _Spec) -> list[dict[str, Any]]:
    kwargs = entry.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise _Invalid("`kwargs` must be a mapping of argument names to values")
    kw = _Kwargs(kwargs, spec.known, spec.unsupported)
    entries = spec.translate(kw)
    where = None
    if kw.get("row_condition") is not None:
        condition = kw.get("row_condition")
        if isinstance(condition, Mapping):
            where = expr_lang.parse(
                _structured_condition(condition), context="row_condition"
            ).canonical()
        elif isinstance(condition, str):
            where = translate_row_condition(condition, kw.get("condition_parser"))
        else:
            raise _Invalid("argument 'row_condition' must be a string or a GE condition object")
    description = _description(entry)
    severity = "warn" if str(entry.get("severity", "")).lower() in ("warning", "info") else None
    out: list[dict[str, Any]] = []
    for e in entries:
        ((kind, args),) = e.items()
        args = dict(args)
        if description:
            args["description"] = description
        if severity:
            args["severity"] = severity
        cond = [c for c in (where, getattr(e, "where", None)) if c is not None]
        if not cond:
            out.append({kind: args})
            continue
        text = " and ".join(f"({c})" if len(cond) > 1 else c for c in cond)
        text = expr_lang.parse(text, context="where").canonical()
        body: dict[str, Any] = {"name": text, "where": text, "expectations": [{kind: args}]}
        if severity:
            body["severity"] = severity
        out.append({"slice": body})
    return out


def _column_of(entry: Mapping[str, Any]) -> str | None:
    kwargs = entry.get("kwargs")
    if not isinstance(kwargs, Mapping):
        return None
    for name in ("column", "column_A"):
        if isinstance(kwargs.get(name), str):
            return str(kwargs[name])
    cols = kwargs.get("column_list")
    return (
        ", ".join(cols)
        if isinstance(cols, list) and all(isinstance(c, str) for c in cols)
        else None
    )


def import_ge(
    source: str | os.PathLike[str] | Mapping[str, Any], *, name: str | None = None
) -> GeImport:
    """Translate a Great Expectations suite (1.x or 0.x JSON) into an assay ``Suite``.

    ``source`` is a path to the suite JSON, the JSON text, or the parsed mapping. The
    result holds the translated suite (named ``name``, else the GE suite's name) and an
    ``Unmapped`` entry for each GE expectation left out, with the reason. Malformed
    input raises one ``SuiteError`` listing every problem by position.
    """
    data, label = _read(source)
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(
            label,
            [
                'not a Great Expectations suite: expected {"name": ..., "expectations": '
                '[{"type": ..., "kwargs": {...}}]}; export the suite as JSON from GE'
            ],
        )
    suite_name = name or data.get("name") or data.get("expectation_suite_name") or "imported"
    entries: list[dict[str, Any]] = []
    unmapped: list[Unmapped] = []
    problems: list[str] = []
    for position, entry in enumerate(data["expectations"]):
        where = f"expectations[{position}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a mapping with `type` and `kwargs`")
            continue
        ge_type = entry.get("type", entry.get("expectation_type"))
        if not isinstance(ge_type, str):
            problems.append(f"{where}: no `type` (GE 1.x) or `expectation_type` (GE 0.x); add one")
            continue
        column = _column_of(entry)
        spec = GE_TYPES.get(ge_type)
        if spec is None:
            reason = "no assay equivalent for this expectation type"
            unmapped.append(Unmapped(position, ge_type, column, reason))
            continue
        try:
            translated = _translate(entry, ge_type, spec)
        except _Unmappable as e:
            unmapped.append(Unmapped(position, ge_type, column, str(e)))
            continue
        except _Invalid as e:
            problems.append(f"{where} ({ge_type}): {e}")
            continue
        except ExpressionError as e:
            problems.append(f"{where} ({ge_type}): {e}")
            continue
        try:  # validate each translation alone, so a problem names the GE position
            load_suite({"suite": suite_name, "expectations": translated})
        except SuiteError as e:
            for p in e.problems:
                m = re.match(r"expectations\[\d+\](?:\.expectations\[\d+\])? \((\w+)\): (.*)", p)
                shown = f"{ge_type} → {m.group(1)}): {m.group(2)}" if m else f"{ge_type}): {p}"
                problems.append(f"{where} ({shown}")
            continue
        entries.extend(translated)
    if problems:
        raise SuiteError(label, problems)
    return GeImport(load_suite({"suite": str(suite_name), "expectations": entries}), unmapped)
