"""Whether the values a suite compares with a column fit the column's type.

Values are compared by the column's type and never cast: a number column takes
numbers, a text column text, a boolean column ``true``/``false``, and a date or
timestamp column ISO text (``'2024-01-31'``). Anything else is refused before a row
is read, naming the value and the fix, because a cast comparison is either an engine
error (``'a'`` against an integer) or silently never true (``'30'``, or YAML 1.1's
``yes`` read as ``true``, against a 0/1 column).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from assay._declaration import Written

__all__ = ["value_problems"]

_SHOWN = 5  # misfit values named per expectation; a long list of them is one mistake

# Where an argument's value was written, by its place in the arguments (("values", 2)).
Locate = Callable[[tuple[Any, ...]], "Written | None"]


def value_problems(
    column: str,
    values: list[tuple[tuple[Any, ...], Any]],
    schema: Mapping[str, Any],
    *,
    exact: bool,
    locate: Locate = lambda path: None,
) -> list[str]:
    """Why each of ``values`` (``(argument path, value)``) cannot be compared with ``column``.

    ``exact``: the values are compared for equality (sets), so a fraction can never
    equal a value of an integer column; bounds may fall between whole numbers.
    """
    dtype = schema.get(column)
    if dtype is None or dtype.is_null():
        return []  # an unknown column is reported elsewhere; a null column compares with all
    if not (dtype.is_numeric() or dtype.is_boolean() or dtype.is_string() or dtype.is_temporal()):
        return [
            f"column {column!r} is {dtype}, which values cannot be compared with; "
            "pick a column of numbers, text, booleans or dates"
        ]
    problems: list[str] = []
    misfits = 0
    for path, value in values:
        written = locate(path)
        fix = _misfit(value, dtype, exact, written)
        if fix is None:
            continue
        misfits += 1
        if len(problems) == _SHOWN:
            continue
        name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        problems.append(
            f"{name}: {_shown(value, written)}, but column {column!r} is {dtype}; {fix}"
        )
    if misfits > len(problems):
        problems.append(f"and {misfits - len(problems)} more values that do not fit {column!r}")
    return problems


def _shown(value: Any, written: Written | None) -> str:
    """The value as the user wrote it, and what it was read as."""
    if written is None or written.text is None:
        return f"{value!r} is {_kind(value)}"
    if written.read_as_boolean and written.text.lower() not in ("true", "false"):
        return (
            f"{written.at}: {written.text} was read as a boolean "
            "(YAML 1.1 reads unquoted yes, no, on and off so)"
        )
    shown = repr(value) if isinstance(value, str) else written.text
    return f"{written.at}: {shown} is {_kind(value)}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.date):
        return "a date"
    return f"a {type(value).__name__}"


def _misfit(value: Any, dtype: Any, exact: bool, written: Written | None) -> str | None:
    """The fix when ``value`` does not fit a column of ``dtype``; None when it fits."""
    as_written = written.text if written is not None and written.text is not None else None
    if dtype.is_boolean():
        return None if isinstance(value, bool) else "write true or false"
    if dtype.is_numeric():
        if isinstance(value, bool):
            return "write numbers (such as 1 and 0)"
        if isinstance(value, str):
            number = _number(value)
            return (
                f"write it as a number, unquoted: {number}"
                if number is not None
                else "compare numbers with numbers (unquoted)"
            )
        if not isinstance(value, int | float):
            return "write numbers"
        if exact and dtype.is_integer() and isinstance(value, float) and not value.is_integer():
            return "it is not a whole number, so it never equals a value; remove it or fix it"
        return None
    if dtype.is_string():
        if isinstance(value, str):
            return None
        text = as_written if as_written is not None else _text(value)
        return f"quote it: '{text}'"
    # A date or timestamp column: ISO text, as the engine reads a quoted date.
    if isinstance(value, str) and _reads_as_time(value, dtype):
        return None
    example = "'2024-01-31'" if dtype.is_date() else "'2024-01-31 12:00:00'"
    return f"write it as quoted ISO text, such as {example}"


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _reads_as_time(text: str, dtype: Any) -> bool:
    parse: Callable[[str], Any] = (
        dt.time.fromisoformat if dtype.is_time() else dt.datetime.fromisoformat
    )
    try:
        parse(text)
    except ValueError:
        return False
    return True
