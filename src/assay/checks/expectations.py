"""Expectations: what users declare about a table, as plain validated data.

A suite is YAML (or the same objects built in Python)::

    suite: employment-clean
    stage: preprocessed
    expectations:
      - row_count: {min: 10000}
      - not_null: {column: AGEP}
      - between: {column: AGEP, min: 0, max: 120, mostly: 0.99, severity: warn}
      - slice: {name: women, expectations: [{mean_between: {column: employed, min: 0.3}}]}

Each entry is a one-key mapping from the expectation's type to its arguments. This
module only declares and validates (arguments, then columns and types against a
schema); ``assay.checks.compile`` decides how they run.

Null handling follows Great Expectations: a row-level expectation ignores rows whose
column is null (they count neither as passing nor failing), except ``not_null``,
``null`` and ``expression``, and ``mostly`` is the fraction of the rows considered that
must pass. Aggregates (mean, quantiles, …) are over the non-null values.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from assay._declaration import Written, read_declaration
from assay.checks._re2 import unsupported
from assay.checks._values import value_problems
from assay.data import expr as expr_lang
from assay.errors import ExpressionError, SuiteError

__all__ = [
    "EXPECTATION_TYPES",
    "Between",
    "ColumnCount",
    "ColumnType",
    "Columns",
    "Compare",
    "DistinctCountBetween",
    "DistinctFractionBetween",
    "DistinctValues",
    "Expectation",
    "Expression",
    "InSet",
    "LengthBetween",
    "MatchRegex",
    "MaxBetween",
    "MeanBetween",
    "MedianBetween",
    "MinBetween",
    "MostCommonInSet",
    "NotInSet",
    "NotMatchRegex",
    "NotNull",
    "Null",
    "NullFraction",
    "QuantileBetween",
    "RowCount",
    "Slice",
    "StdevBetween",
    "Suite",
    "SumBetween",
    "Unique",
    "UniqueWithinRecord",
    "load_suite",
]

Number = int | float
Scalar = int | float | str | bool


_ARGUMENT_ORDER = ("column", "columns", "left", "op", "right", "expr", "q", "min", "max")


class Expectation(BaseModel):
    """One declared expectation; subclasses add their arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: ClassVar[str]
    compares_equal: ClassVar[bool] = False  # whether compared_values are matched exactly
    severity: Literal["error", "warn"] = "error"
    description: str | None = None

    def columns(self) -> list[str]:
        """The columns the expectation reads."""
        return []

    def arguments(self) -> dict[str, Any]:
        """The arguments as written in a suite (defaults left out)."""
        return self.model_dump(exclude_defaults=True, exclude={"severity", "description"})

    def to_yaml_entry(self) -> dict[str, Any]:
        """``{type: arguments}``, the suite-file form."""
        args = self.model_dump(exclude_defaults=True, by_alias=True, mode="json")
        # What it is about first, then what it requires, then how strict: as people write it.
        first = [k for k in _ARGUMENT_ORDER if k in args]
        return {self.type: {k: args[k] for k in [*first, *(k for k in args if k not in first)]}}

    def label(self) -> str:
        """A short human description: ``between(AGEP)``."""
        cols = self.columns()
        return f"{self.type}({', '.join(cols)})" if cols else self.type

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        """Problems with this expectation against a schema (column → Ibis dtype)."""
        return [_unknown_column(c, schema) for c in self.columns() if c not in schema]

    def compared_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        """The values compared with the column, each with its place in the arguments
        (``(("values", 2), "NO")``), to be checked against the column's type."""
        return []


class _RowLevel(Expectation):
    """An expectation decided row by row; ``mostly`` of the considered rows must pass."""

    mostly: float = Field(
        1.0, ge=0.0, le=1.0, validation_alias=AliasChoices("mostly", "min_fraction")
    )


class _Column(Expectation):
    column: str

    def columns(self) -> list[str]:
        return [self.column]


class _Bounds(BaseModel):
    """``min``/``max`` bounds, inclusive unless ``strict_min``/``strict_max``."""

    min: Number | str | None = None
    max: Number | str | None = None
    strict_min: bool = False
    strict_max: bool = False

    @field_validator("min", "max", mode="before")
    @classmethod
    def _not_boolean(cls, value: Any) -> Any:
        # Pydantic would read true as 1; YAML 1.1 reads an unquoted yes/no/on/off as one.
        if isinstance(value, bool):
            raise ValueError(
                f"{str(value).lower()} is a boolean, not a bound (YAML 1.1 reads unquoted "
                "yes/no/on/off as booleans); give a number, or quoted text"
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Any:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            if isinstance(lo, str) != isinstance(hi, str):
                raise ValueError("min and max must both be numbers or both be text")
            if lo > hi:  # type: ignore[operator]
                raise ValueError(f"min ({lo}) is greater than max ({hi})")
        return self

    def contains(self, value: Any) -> bool:
        if self.min is not None and (value <= self.min if self.strict_min else value < self.min):
            return False
        return not (
            self.max is not None and (value >= self.max if self.strict_max else value > self.max)
        )

    def bound_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [
            ((name,), getattr(self, name))
            for name in ("min", "max")
            if getattr(self, name) is not None
        ]

    def describe(self) -> str:
        lo = "" if self.min is None else f"{self.min} {'<' if self.strict_min else '≤'} "
        hi = "" if self.max is None else f" {'<' if self.strict_max else '≤'} {self.max}"
        return f"{lo}x{hi}"


class _NumericBounds(_Bounds):
    """Bounds that must be numbers (counts, fractions, means)."""

    @model_validator(mode="after")
    def _numbers(self) -> Any:
        if isinstance(self.min, str) or isinstance(self.max, str):
            raise ValueError("the bounds must be numbers")
        return self


def _binds(node: expr_lang.Expr, schema: Mapping[str, Any]) -> list[str]:
    """Problems binding an expression to the schema (comparing a number column with text, …)."""
    import ibis

    try:
        node.predicate(ibis.table(dict(schema), name="data"))
    except ExpressionError as e:
        return [str(e)]
    return []


def _numeric(column: str, schema: Mapping[str, Any], what: str) -> list[str]:
    dtype = schema.get(column)
    if dtype is not None and not (dtype.is_numeric() or dtype.is_boolean()):
        return [f"{what} needs a numeric column, but {column!r} is {dtype}; pick a numeric column"]
    return []


def _orderable(column: str, schema: Mapping[str, Any]) -> list[str]:
    # Whether the bounds fit the column's type is the suite's typed check (_values).
    dtype = schema.get(column)
    if dtype is None or dtype.is_null():
        return []
    if dtype.is_numeric() or dtype.is_boolean() or dtype.is_temporal() or dtype.is_string():
        return []
    return [f"column {column!r} is {dtype}, which has no order; pick another column"]


# -- table level ----------------------------------------------------------------------


class RowCount(Expectation, _NumericBounds):
    """The number of rows is within bounds."""

    type = "row_count"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return []


class ColumnCount(Expectation, _NumericBounds):
    """The number of columns is within bounds."""

    type = "column_count"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return []


class Columns(Expectation):
    """Columns that must be there (``required``), the exact set (``exact``), in order."""

    type = "columns"
    required: list[str] = Field(default_factory=list)
    exact: list[str] | None = None
    ordered: bool = False

    @model_validator(mode="after")
    def _something(self) -> Columns:
        if not self.required and self.exact is None:
            raise ValueError("give `required: [columns]` or `exact: [columns]`")
        if self.ordered and self.exact is None:
            raise ValueError("`ordered: true` needs `exact: [columns]`")
        return self

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return []  # missing columns are what this expectation reports, not a suite error


TYPE_KINDS = ("integer", "float", "numeric", "string", "boolean", "date", "timestamp", "temporal")


class ColumnType(_Column):
    """The column's type is one of ``types``: kinds (integer, float, numeric, string,
    boolean, date, timestamp, temporal) or exact Arrow names (int64, float32, …)."""

    type = "column_type"
    types: list[str]

    @field_validator("types", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        # An absent column is this expectation's failure to report, not a suite error.
        return []


# -- row level ------------------------------------------------------------------------


class NotNull(_Column, _RowLevel):
    """No nulls in the column (or at most ``1 - mostly`` of the rows)."""

    type = "not_null"


class Null(_Column, _RowLevel):
    """Every value is null (or at least ``mostly`` of them)."""

    type = "null"


class Unique(_RowLevel):
    """No value (or combination of values over ``columns``) appears twice.

    A row is unexpected when its value is shared with another row, so two copies of a
    value are two unexpected rows (as Great Expectations counts them). Rows whose
    columns are all null are ignored.
    """

    type = "unique"
    column: str | None = None
    column_list: list[str] | None = Field(None, alias="columns")

    @model_validator(mode="after")
    def _one(self) -> Unique:
        if (self.column is None) == (self.column_list is None):
            raise ValueError("give `column: NAME` or `columns: [NAMES]`, not both")
        if self.column_list is not None and not self.column_list:
            raise ValueError("`columns` is empty; list at least one column")
        return self

    def columns(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.column_list or [])


class UniqueWithinRecord(_RowLevel):
    """Within each row, the values of ``columns`` are all different (nulls ignored)."""

    type = "unique_within_record"
    column_list: list[str] = Field(alias="columns", min_length=2)

    def columns(self) -> list[str]:
        return list(self.column_list)


class Between(_Column, _RowLevel, _Bounds):
    """Every non-null value is within bounds."""

    type = "between"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return super().check_schema(schema) or _orderable(self.column, schema)

    def compared_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        return self.bound_values()


class _ValueSet(_Column):
    """Values compared for equality with the column's."""

    compares_equal: ClassVar[bool] = True
    values: list[Scalar]

    def compared_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [(("values", i), v) for i, v in enumerate(self.values)]


class InSet(_ValueSet, _RowLevel):
    """Every non-null value is one of ``values``."""

    type = "in_set"


class NotInSet(_ValueSet, _RowLevel):
    """No non-null value is one of ``values``."""

    type = "not_in_set"


class LengthBetween(_Column, _RowLevel, _NumericBounds):
    """Every non-null string's length is within bounds."""

    type = "length_between"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        problems = super().check_schema(schema)
        dtype = schema.get(self.column)
        if not problems and dtype is not None and not dtype.is_string():
            problems.append(f"column {self.column!r} is {dtype}, not text; lengths apply to text")
        return problems


class _Regex(_Column, _RowLevel):
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"bad regular expression {value!r}: {e}") from None
        construct = unsupported(value)
        if construct is not None:
            raise ValueError(
                f"regular expression {value!r} uses {construct}, which the engine's RE2 "
                "dialect lacks; rewrite it without"
            )
        return value

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        problems = super().check_schema(schema)
        dtype = schema.get(self.column)
        if not problems and dtype is not None and not dtype.is_string():
            problems.append(
                f"column {self.column!r} is {dtype}, not text; "
                "regular expressions apply to text columns"
            )
        return problems


class MatchRegex(_Regex):
    """Every non-null value contains a match of ``pattern`` (anchor it with ``^…$``)."""

    type = "match_regex"


class NotMatchRegex(_Regex):
    """No non-null value contains a match of ``pattern``."""

    type = "not_match_regex"


COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")


class Compare(_RowLevel):
    """Row by row, ``left OP right`` holds; rows where either side is null are ignored."""

    type = "compare"
    left: str
    op: Literal["=", "!=", "<", "<=", ">", ">="]
    right: str

    def columns(self) -> list[str]:
        return [self.left, self.right]

    def label(self) -> str:
        return f"compare({self.left} {self.op} {self.right})"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        problems = super().check_schema(schema)
        if problems:
            return problems
        left, right = schema[self.left], schema[self.right]
        if None not in (_comparable_kind(left), _comparable_kind(right)) and (
            _comparable_kind(left) != _comparable_kind(right)
        ):
            problems.append(
                f"{self.label()}: {self.left!r} is {left} and {self.right!r} is {right}, which "
                "do not compare; compare columns of one kind (numbers, text, dates)"
            )
        return problems


def _comparable_kind(dtype: Any) -> str | None:
    """Which values a column holds, for comparing two columns (None: a null column)."""
    if dtype.is_null():
        return None
    if dtype.is_numeric() or dtype.is_boolean():
        return "number"
    if dtype.is_temporal():
        return "time"
    return "text" if dtype.is_string() else str(dtype)


class Expression(_RowLevel):
    """A row-level condition in assay's expression language holds on ``mostly`` of the rows.

    A row where the condition is null (a null operand) counts as failing: nothing is
    ignored, so ``mostly`` is over all rows.
    """

    type = "expression"
    expr: str

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        expr_lang.parse(value, context="expression")
        return value

    def parsed(self) -> expr_lang.Expr:
        return expr_lang.parse(self.expr, context="expression")

    def columns(self) -> list[str]:
        return sorted(self.parsed().columns)

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return super().check_schema(schema) or _binds(self.parsed(), schema)

    def label(self) -> str:
        return f"expression({self.expr})"


# -- aggregates -----------------------------------------------------------------------


class _Aggregate(_Column, _NumericBounds):
    what: ClassVar[str] = ""

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return super().check_schema(schema) or _numeric(self.column, schema, self.type)


class MeanBetween(_Aggregate):
    """The mean of the non-null values is within bounds."""

    type = "mean_between"
    what = "mean"


class MedianBetween(_Aggregate):
    """The median (interpolated) of the non-null values is within bounds."""

    type = "median_between"
    what = "median"


class StdevBetween(_Aggregate):
    """The sample standard deviation (ddof=1) of the non-null values is within bounds."""

    type = "stdev_between"
    what = "stdev"


class SumBetween(_Aggregate):
    """The sum of the non-null values is within bounds."""

    type = "sum_between"
    what = "sum"


class MinBetween(_Column, _Bounds):
    """The smallest non-null value is within bounds (numbers, or text/dates in order)."""

    type = "min_between"
    what: ClassVar[str] = "min"

    def check_schema(self, schema: Mapping[str, Any]) -> list[str]:
        return super().check_schema(schema) or _orderable(self.column, schema)

    def compared_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        return self.bound_values()


class MaxBetween(MinBetween):
    """The largest non-null value is within bounds."""

    type = "max_between"
    what = "max"


class QuantileBetween(_Aggregate):
    """The ``q`` quantile (linear interpolation) of the non-null values is within bounds."""

    type = "quantile_between"
    what = "quantile"
    q: float = Field(ge=0.0, le=1.0)


class NullFraction(_Column, _NumericBounds):
    """The fraction of rows where the column is null is within bounds."""

    type = "null_fraction"


class DistinctCountBetween(_Column, _NumericBounds):
    """The number of distinct non-null values is within bounds."""

    type = "distinct_count_between"


class DistinctFractionBetween(_Column, _NumericBounds):
    """Distinct non-null values over non-null values is within bounds."""

    type = "distinct_fraction_between"


class DistinctValues(_Column):
    """The set of distinct non-null values is a subset of ``subset_of``, contains
    ``superset_of``, or equals ``equals``."""

    type = "distinct_values"
    subset_of: list[Scalar] | None = None
    superset_of: list[Scalar] | None = None
    equals: list[Scalar] | None = None

    compares_equal: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one(self) -> DistinctValues:
        given = [n for n in ("subset_of", "superset_of", "equals") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `subset_of`, `superset_of`, `equals`")
        return self

    def compared_values(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [
            ((name, i), v)
            for name in ("subset_of", "superset_of", "equals")
            for i, v in enumerate(getattr(self, name) or [])
        ]


class MostCommonInSet(_ValueSet):
    """The most common non-null value is one of ``values``. A tie for most common fails,
    unless ``ties_okay``: then one of the tied values in ``values`` is enough."""

    type = "most_common_in_set"
    ties_okay: bool = False


# -- slices and suites ----------------------------------------------------------------


class Slice(Expectation):
    """Expectations over the rows of a slice: a recipe slice by ``name``, or ``where``."""

    type = "slice"
    name: str
    where: str | None = None
    expectations: list[Expectation]

    @field_validator("expectations", mode="before")
    @classmethod
    def _parse_children(cls, value: Any) -> Any:
        return _parse_list(value, "expectations")

    @field_validator("where")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            expr_lang.parse(value, context="slice")
        return value

    def columns(self) -> list[str]:
        cols = {c for e in self.expectations for c in e.columns()}
        if self.where is not None:
            cols |= expr_lang.parse(self.where, context="slice").columns
        return sorted(cols)

    def label(self) -> str:
        return f"slice({self.name})"

    def to_yaml_entry(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name}
        if self.where is not None:
            body["where"] = self.where
        if self.severity != "error":
            body["severity"] = self.severity
        body["expectations"] = [e.to_yaml_entry() for e in self.expectations]
        return {"slice": body}


EXPECTATION_TYPES: dict[str, type[Expectation]] = {
    cls.type: cls
    for cls in (
        RowCount,
        ColumnCount,
        Columns,
        ColumnType,
        NotNull,
        Null,
        Unique,
        UniqueWithinRecord,
        Between,
        InSet,
        NotInSet,
        LengthBetween,
        MatchRegex,
        NotMatchRegex,
        Compare,
        Expression,
        MeanBetween,
        MedianBetween,
        StdevBetween,
        SumBetween,
        MinBetween,
        MaxBetween,
        QuantileBetween,
        NullFraction,
        DistinctCountBetween,
        DistinctFractionBetween,
        DistinctValues,
        MostCommonInSet,
        Slice,
    )
}


class _EntryError(ValueError):
    """Problems with entries of an expectations list, each with its position."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class _Unreadable(Expectation):
    """Stands in for an entry that did not parse, holding its problems: the other entries
    keep their positions, and the suite reports every problem at once."""

    type = "unreadable"
    problems: list[str]


def _parse_list(value: Any, where: str) -> list[Expectation]:
    if not isinstance(value, list):
        raise _EntryError([f"{where}: expected a list of expectations"])
    parsed: list[Expectation] = []
    for i, entry in enumerate(value):
        try:
            parsed.append(parse_expectation(entry))
        except _EntryError as e:
            parsed.append(_Unreadable(problems=[f"{where}[{i}] {p}" for p in e.problems]))
    return parsed


def parse_expectation(entry: Any) -> Expectation:
    """One suite entry (``{type: {arguments}}``) → an Expectation, or ``_EntryError``."""
    if isinstance(entry, Expectation):
        return entry
    if not isinstance(entry, dict) or len(entry) != 1:
        raise _EntryError(["must be a one-key mapping such as `not_null: {column: AGEP}`"])
    ((name, args),) = entry.items()
    if name is None:  # YAML reads the key `null:` as None
        name = "null"
    cls = EXPECTATION_TYPES.get(str(name))
    if cls is None:
        close = difflib.get_close_matches(str(name), EXPECTATION_TYPES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see `assay check --help` for the types"
        raise _EntryError([f"({name}): unknown expectation type; {hint}"])
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise _EntryError([f"({name}): arguments must be a mapping, e.g. {{column: NAME}}"])
    try:
        return cls.model_validate(args)
    except ExpressionError as e:
        raise _EntryError([f"({name}): {e}"]) from None
    except ValidationError as e:
        raise _EntryError([f"({name}): {p}" for p in _pydantic_problems(cls, e)]) from None


_KINDS = {"min": "a number (or quoted text/date)", "max": "a number (or quoted text/date)"}


def _pydantic_problems(cls: type[Expectation], error: ValidationError) -> list[str]:
    problems = []
    fields = sorted(
        {f.alias or n for n, f in cls.model_fields.items()}
        | {"min_fraction"} & set(cls.model_fields)
    )
    seen: set[str] = set()
    for err in error.errors():
        # A union (number or text) fails once per member; report the argument once.
        loc = str(err["loc"][0]) if err["loc"] else ""
        if loc in seen:
            continue
        seen.add(loc)
        msg = err["msg"]
        if len(err["loc"]) > 1 and err["loc"][1] in ("int", "float", "str", "bool"):
            msg = f"expected {_KINDS.get(str(err['loc'][0]), 'a value of another type')}"
        if isinstance(err.get("ctx", {}).get("error"), _EntryError):
            problems += err["ctx"]["error"].problems
            continue
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc, fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(fields)}"
            problems.append(f"unknown argument {loc!r}; {hint}")
        elif err["type"] == "missing":
            problems.append(f"missing argument {loc!r}")
        elif loc:
            problems.append(f"argument {loc!r}: {msg.removeprefix('Value error, ')}")
        else:
            problems.append(msg.removeprefix("Value error, "))
    return problems


def _entry_problems(expectations: list[Expectation]) -> list[str]:
    """The problems of entries that did not parse, slices' entries included."""
    found: list[str] = []
    for i, e in enumerate(expectations):
        if isinstance(e, _Unreadable):
            found += e.problems
        elif isinstance(e, Slice):
            found += [
                f"expectations[{i}].{p}"
                for child in e.expectations
                if isinstance(child, _Unreadable)
                for p in child.problems
            ]
    return found


def _slice_problems(e: Slice, schema: Mapping[str, Any], slices: Mapping[str, Any]) -> list[str]:
    """Whether the data has the slice, or its ``where`` fits the schema."""
    if e.where is None:
        if e.name in slices:
            return []
        known = ", ".join(sorted(slices)) or "none"
        return [
            f"the data has no slice {e.name!r} (recipe slices: {known}); add `where: CONDITION`"
        ]
    where = expr_lang.parse(e.where, context="slice")
    unknown = [_unknown_column(c, schema) for c in sorted(where.columns) if c not in schema]
    return unknown or _binds(where, schema)


class _Where:
    """Where a suite's values were written, for messages. It is not part of what the
    suite says, so any two are equal (pydantic compares private attributes too)."""

    def __init__(self, written: Mapping[tuple[Any, ...], Written]):
        self.written = written

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Where)

    def __hash__(self) -> int:
        return 0


class Suite(BaseModel):
    """A named list of expectations over one table, optionally at a pipeline stage."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(alias="suite", min_length=1)
    stage: str | None = None
    on: str | None = None  # the data it checks by default: a recipe, fingerprint or file
    key: list[str] | None = None  # columns that identify a failing row in samples
    sample_size: int = Field(5, ge=0, le=1000)
    expectations: list[Expectation]
    source: str | None = Field(None, exclude=True)  # the file it was read from
    _where: _Where = PrivateAttr(default_factory=lambda: _Where({}))

    @field_validator("expectations", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _parse_list(value, "expectations")

    @field_validator("key", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _readable(self, info: ValidationInfo) -> Suite:
        # Entries that did not parse stay (as _Unreadable) only for a caller that collects
        # every problem (read_suite); otherwise a suite is valid or not made at all.
        if not (info.context or {}).get("every_problem"):
            problems = _entry_problems(self.expectations)
            if problems:
                raise _EntryError(problems)
        return self

    def walk(self) -> Iterator[tuple[str, Expectation, Slice | None]]:
        """Every leaf expectation with its position and its slice: ``3``, or ``11.1``,
        ``11.2`` for the expectations of the slice at 11 (counted from 1 under it, so
        that no position reads as a decimal number such as 11.0)."""
        for i, e in enumerate(self.expectations):
            if isinstance(e, Slice):
                for j, child in enumerate(e.expectations):
                    yield f"{i}.{j + 1}", child, e
            else:
                yield str(i), e, None

    def problems(
        self, schema: Mapping[str, Any] | None = None, slices: Mapping[str, Any] = {}
    ) -> list[str]:
        """Every problem, in suite order: entries that did not parse and, given the data's
        ``schema`` (column → Ibis dtype) and recipe ``slices``, what cannot run on it."""
        found: list[str] = []
        for i, e in enumerate(self.expectations):
            if isinstance(e, _Unreadable):
                found += e.problems
            elif isinstance(e, Slice):
                if schema is not None:
                    found += [
                        f"expectations[{i}] (slice {e.name}): {p}"
                        for p in _slice_problems(e, schema, slices)
                    ]
                for j, child in enumerate(e.expectations):
                    if isinstance(child, _Unreadable):
                        found += [f"expectations[{i}].{p}" for p in child.problems]
                    elif schema is not None:
                        path = ("expectations", i, "slice", "expectations", j)
                        found += self._leaf_problems(child, path, schema)
            elif schema is not None:
                found += self._leaf_problems(e, ("expectations", i), schema)
        if schema is not None:
            found += [
                f"key: {_unknown_column(c, schema)}" for c in self.key or [] if c not in schema
            ]
        return found

    def _leaf_problems(
        self, e: Expectation, path: tuple[Any, ...], schema: Mapping[str, Any]
    ) -> list[str]:
        problems = e.check_schema(schema)
        values = e.compared_values()
        if not problems and values:
            problems = value_problems(
                e.columns()[0],
                values,
                schema,
                exact=e.compares_equal,
                locate=lambda arg: self._where.written.get((*path, e.type, *arg)),
            )
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        where = where.lstrip(".").replace(".slice", "")
        return [f"{where} ({e.type}): {p}" for p in problems]

    def check_schema(self, schema: Mapping[str, Any], slices: Mapping[str, Any] = {}) -> None:
        """Raise ``SuiteError`` listing every problem, with what cannot run on ``schema``."""
        problems = self.problems(schema, slices)
        if problems:
            raise SuiteError(self._label(), problems)

    def _label(self) -> str:
        return f"suite {self.source}" if self.source else f"suite {self.name}"

    def to_yaml(self) -> str:
        """The suite as a YAML document that ``load_suite`` reads back."""
        doc: dict[str, Any] = {"suite": self.name}
        for name in ("stage", "on", "key"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        doc["expectations"] = [e.to_yaml_entry() for e in self.expectations]
        return yaml.dump(doc, Dumper=_SuiteDumper, sort_keys=False, allow_unicode=True, width=100)


class _SuiteDumper(yaml.SafeDumper):
    """Lists of plain values on one line (``values: [1, 2]``), as people write suites."""


def _flow_scalars(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, str | int | float | bool) or v is None for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_SuiteDumper.add_representer(list, _flow_scalars)


def _unknown_column(column: str, schema: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(column, list(schema), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(list(schema)[:20])}"
    return f"unknown column {column!r}; {hint}"


def load_suite(source: str | os.PathLike[str] | Mapping[str, Any] | Suite) -> Suite:
    """A ``Suite`` from a YAML file, a YAML string, a mapping, or a Suite.

    Every problem (unknown types, arguments, bad regexes or expressions) is reported
    at once in one ``SuiteError``, each with its position, before any data is read.
    """
    suite = read_suite(source)
    problems = suite.problems()
    if problems:
        raise SuiteError(suite._label(), problems)
    return suite


def read_suite(source: str | os.PathLike[str] | Mapping[str, Any] | Suite) -> Suite:
    """Like ``load_suite``, but entries that do not parse are kept with their problems
    (``Suite.problems``), to be reported with those found against the data."""
    if isinstance(source, Suite):
        return source
    declaration = read_declaration(
        source, "suite", SuiteError, expected="`suite: NAME` and `expectations: [...]`"
    )
    data, label = declaration.data, declaration.label
    if True in data:  # YAML 1.1 reads the key `on:` as true
        data["on"] = data.pop(True)
    if "expectations" not in data:
        raise SuiteError(label, ["expected a mapping with `suite: NAME` and `expectations: [...]`"])
    try:
        suite = Suite.model_validate(
            {**data, "source": declaration.origin}, context={"every_problem": True}
        )
    except ValidationError as e:
        problems: list[str] = []
        for err in e.errors():
            inner = err.get("ctx", {}).get("error")
            if isinstance(inner, _EntryError):
                problems += inner.problems
            elif err["type"] == "missing":
                problems.append(f"missing `{err['loc'][0]}`")
            elif err["type"] == "extra_forbidden":
                problems.append(
                    f"unknown field {err['loc'][0]!r}; allowed: suite, stage, on, key, "
                    "sample_size, expectations"
                )
            else:
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        if isinstance(data["expectations"], list) and not any(
            "expectations" in err["loc"] for err in e.errors()
        ):
            problems += _entry_problems(_parse_list(data["expectations"], "expectations"))
        raise SuiteError(label, problems) from None
    suite._where = _Where(declaration.written)
    return suite


def suite_of(
    expectations: Sequence[Expectation | Mapping[str, Any]], name: str = "inline"
) -> Suite:
    """A suite from expectation objects or entries, for quick use from Python."""
    return Suite.model_validate({"suite": name, "expectations": list(expectations)})
