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
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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


def _numeric(column: str, schema: Mapping[str, Any], what: str) -> list[str]:
    dtype = schema.get(column)
    if dtype is not None and not (dtype.is_numeric() or dtype.is_boolean()):
        return [f"{what} needs a numeric column, but {column!r} is {dtype}; pick a numeric column"]
    return []


def _orderable(column: str, schema: Mapping[str, Any], bounds: _Bounds) -> list[str]:
    dtype = schema.get(column)
    if dtype is None:
        return []
    if dtype.is_numeric() or dtype.is_boolean():
        if any(isinstance(b, str) for b in (bounds.min, bounds.max)):
            return [
                f"column {column!r} is {dtype} but the bounds are text; give the bounds as numbers"
            ]
        return []
    if dtype.is_temporal() or dtype.is_string():
        if any(isinstance(b, int | float) for b in (bounds.min, bounds.max) if b is not None):
            return [
                f"column {column!r} is {dtype} but the bounds are numbers; "
                "give the bounds as quoted text or dates"
            ]
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
        return super().check_schema(schema) or _orderable(self.column, schema, self)


class InSet(_Column, _RowLevel):
    """Every non-null value is one of ``values``."""

    type = "in_set"
    values: list[Scalar]


class NotInSet(_Column, _RowLevel):
    """No non-null value is one of ``values``."""

    type = "not_in_set"
    values: list[Scalar]


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
        return super().check_schema(schema) or _orderable(self.column, schema, self)


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

    @model_validator(mode="after")
    def _one(self) -> DistinctValues:
        given = [n for n in ("subset_of", "superset_of", "equals") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `subset_of`, `superset_of`, `equals`")
        return self


class MostCommonInSet(_Column):
    """The most common non-null value is one of ``values``. A tie for most common fails,
    unless ``ties_okay``: then one of the tied values in ``values`` is enough."""

    type = "most_common_in_set"
    values: list[Scalar]
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


def _parse_list(value: Any, where: str) -> list[Expectation]:
    if not isinstance(value, list):
        raise _EntryError([f"{where}: expected a list of expectations"])
    parsed: list[Expectation] = []
    problems: list[str] = []
    for i, entry in enumerate(value):
        try:
            parsed.append(parse_expectation(entry))
        except _EntryError as e:
            problems += [f"{where}[{i}] {p}" for p in e.problems]
    if problems:
        raise _EntryError(problems)
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

    @field_validator("expectations", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return _parse_list(value, "expectations")

    @field_validator("key", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def walk(self) -> Iterator[tuple[str, Expectation, Slice | None]]:
        """Every leaf expectation with its position (``3``, ``11.0``) and its slice."""
        for i, e in enumerate(self.expectations):
            if isinstance(e, Slice):
                for j, child in enumerate(e.expectations):
                    yield f"{i}.{j}", child, e
            else:
                yield str(i), e, None

    def check_schema(self, schema: Mapping[str, Any], slices: Mapping[str, Any] = {}) -> None:
        """Raise ``SuiteError`` listing every expectation that cannot run on ``schema``."""
        problems: list[str] = []
        for i, e in enumerate(self.expectations):
            if isinstance(e, Slice):
                if e.where is None and e.name not in slices:
                    known = ", ".join(sorted(slices)) or "none"
                    problems.append(
                        f"expectations[{i}] (slice {e.name}): the data has no slice {e.name!r} "
                        f"(recipe slices: {known}); add `where: CONDITION`"
                    )
                if e.where is not None:
                    where = expr_lang.parse(e.where, context="slice")
                    problems += [
                        f"expectations[{i}] (slice {e.name}): {_unknown_column(c, schema)}"
                        for c in sorted(where.columns)
                        if c not in schema
                    ]
                for j, child in enumerate(e.expectations):
                    problems += [
                        f"expectations[{i}].expectations[{j}] ({child.type}): {p}"
                        for p in child.check_schema(schema)
                    ]
            else:
                problems += [f"expectations[{i}] ({e.type}): {p}" for p in e.check_schema(schema)]
        for c in self.key or []:
            if c not in schema:
                problems.append(f"key: {_unknown_column(c, schema)}")
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
    if isinstance(source, Suite):
        return source
    label, origin = "suite", None
    data: Any
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        text = os.fspath(source)
        path = Path(text)
        if "\n" not in text and (path.suffix.lower() in {".yaml", ".yml"} or path.exists()):
            if not path.is_file():
                raise SuiteError(f"suite {text}", ["the file does not exist; check the path"])
            origin, label = text, f"suite {text}"
            text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise SuiteError(label, [f"invalid YAML{at}: {problem}"]) from None
    if isinstance(data, dict) and True in data:  # YAML 1.1 reads the key `on:` as true
        data["on"] = data.pop(True)
    if not isinstance(data, dict) or "expectations" not in data:
        raise SuiteError(label, ["expected a mapping with `suite: NAME` and `expectations: [...]`"])
    try:
        return Suite.model_validate({**data, "source": origin})
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
        raise SuiteError(label, problems) from None


def suite_of(
    expectations: Sequence[Expectation | Mapping[str, Any]], name: str = "inline"
) -> Suite:
    """A suite from expectation objects or entries, for quick use from Python."""
    return Suite.model_validate({"suite": name, "expectations": list(expectations)})
