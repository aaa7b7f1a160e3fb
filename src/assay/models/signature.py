"""Model signatures: what a model takes and gives, inferred from a sample, checked on predict.

A tabular input is a list of columns (name + numpy dtype); an array input is a dtype
and a shape whose first dimension (the batch) is free. Outputs are recorded the same
way from the model's answer to the sample. On predict, every input is normalised into
a ``Batch`` (named columns, or one array) and checked: a missing column or a column of
the wrong *kind* (numbers, booleans, text, times) is a ``SignatureError`` naming the
column and the fix. Extra columns are dropped and the rest put in the signature's
order, so a model can be fed a whole dataset row (key and label included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.errors import SignatureError, UsageError

__all__ = ["Batch", "Column", "Signature", "TensorSpec", "infer_signature", "to_batch"]


@dataclass(frozen=True)
class Column:
    """One input column: its name and numpy dtype (None when only the name is known)."""

    name: str
    dtype: str | None = None


@dataclass(frozen=True)
class TensorSpec:
    """An array: numpy dtype and shape, ``None`` where a dimension is free (the batch)."""

    dtype: str
    shape: tuple[int | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(str(d["dtype"]), tuple(d["shape"]))

    @classmethod
    def of(cls, array: np.ndarray) -> TensorSpec:
        return cls(array.dtype.name, (None, *array.shape[1:]))


@dataclass(frozen=True)
class Signature:
    """A model's inputs (``columns`` for tables, ``array`` otherwise) and outputs."""

    columns: tuple[Column, ...] | None = None
    array: TensorSpec | None = None
    output: TensorSpec | None = None
    proba: TensorSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored with the version and printed by ``--json``."""
        inputs: dict[str, Any] | None = None
        if self.columns is not None:
            inputs = {
                "kind": "table",
                "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
            }
        elif self.array is not None:
            inputs = {"kind": "array", **self.array.to_dict()}
        return {
            "inputs": inputs,
            "output": self.output.to_dict() if self.output else None,
            "proba": self.proba.to_dict() if self.proba else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Signature | None:
        if not d:
            return None
        inputs = d.get("inputs") or {}
        columns = array = None
        if inputs.get("kind") == "table":
            columns = tuple(Column(c["name"], c.get("dtype")) for c in inputs["columns"])
        elif inputs.get("kind") == "array":
            array = TensorSpec.from_dict(inputs)
        output = TensorSpec.from_dict(d["output"]) if d.get("output") else None
        proba = TensorSpec.from_dict(d["proba"]) if d.get("proba") else None
        return cls(columns, array, output, proba)

    def describe(self) -> str:
        """One line for people: ``AGEP int64, SCHL int64 → int64 (proba float64 [*, 2])``."""
        if self.columns is not None:
            text = ", ".join(f"{c.name} {c.dtype or 'any'}" for c in self.columns)
        elif self.array is not None:
            text = f"array {self.array.dtype} {_shape(self.array.shape)}"
        else:
            text = "any input"
        if self.output is not None:
            text += f" → {self.output.dtype} {_shape(self.output.shape)}"
        if self.proba is not None:
            text += f" (proba {self.proba.dtype} {_shape(self.proba.shape)})"
        return text

    def check(self, batch: Batch, model: str = "the model") -> Batch:
        """``batch`` fitted to this signature: columns selected and ordered, kinds checked.

        Raises ``SignatureError`` naming the first column (or dimension) that does not fit.
        """
        if self.columns is not None:
            if batch.columns is None:
                return self._array_as_table(batch, model)
            given = batch.columns
            out: dict[str, np.ndarray] = {}
            for col in self.columns:
                if col.name not in given:
                    have = ", ".join(given) or "none"
                    need = f" ({col.dtype})" if col.dtype else ""
                    raise SignatureError(
                        f"the input has no column {col.name!r}{need}, which {model} needs "
                        f"(input columns: {have}); add it, or rename the column that holds it"
                    )
                values = given[col.name]
                if col.dtype is not None:
                    want, got = _kind(np.dtype(col.dtype)), _values_kind(values)
                    if not _fits(want, got):
                        raise SignatureError(
                            f"column {col.name!r} holds {got} values ({values.dtype}), but "
                            f"{model} expects {want} ({col.dtype}); convert it, e.g. "
                            f"df[{col.name!r}].astype({col.dtype!r})"
                        )
                    values = _as_kind(values, want)
                out[col.name] = values
            return Batch(columns=out, rows=batch.rows)
        if self.array is not None:
            array = batch.matrix()
            want_shape = self.array.shape
            if array.ndim != len(want_shape) or any(
                w is not None and w != g
                for w, g in zip(want_shape[1:], array.shape[1:], strict=False)
            ):
                raise SignatureError(
                    f"the input has shape {list(array.shape)}, but {model} expects "
                    f"{_shape(want_shape)}; reshape it (rows first)"
                )
            want, got = _kind(np.dtype(self.array.dtype)), _values_kind(array)
            if not _fits(want, got):
                raise SignatureError(
                    f"the input holds {got} values ({array.dtype}), but {model} expects "
                    f"{want} ({self.array.dtype}); convert it with .astype({self.array.dtype!r})"
                )
            return Batch(array=array, rows=batch.rows)
        return batch

    def _array_as_table(self, batch: Batch, model: str) -> Batch:
        """A plain 2-D array for a table model: its columns taken in the signature's order."""
        assert self.columns is not None and batch.array is not None
        array = batch.array
        if array.ndim != 2 or array.shape[1] != len(self.columns):
            names = ", ".join(c.name for c in self.columns)
            raise SignatureError(
                f"the input is an array of shape {list(array.shape)}, but {model} takes a "
                f"table of {len(self.columns)} columns ({names}); pass a DataFrame, an Arrow "
                "table or a mapping of those columns"
            )
        columns = {c.name: array[:, i] for i, c in enumerate(self.columns)}
        return self.check(Batch(columns=columns, rows=batch.rows), model)


@dataclass
class Batch:
    """A model input normalised: named columns (a table) or one array, and its row count."""

    columns: dict[str, np.ndarray] | None = None
    array: np.ndarray | None = None
    rows: int = 0

    def matrix(self, dtype: Any = None) -> np.ndarray:
        """The input as one 2-D array (columns side by side), cast to ``dtype`` if given."""
        if self.columns is not None:
            if not self.columns:
                raise SignatureError("the input has no columns; pass at least one")
            array = np.column_stack([np.asarray(v) for v in self.columns.values()])
        else:
            assert self.array is not None
            array = self.array
        return array if dtype is None else array.astype(dtype, copy=False)

    def frame(self) -> Any:
        """A pandas DataFrame of the columns, or None when pandas is not installed."""
        try:
            import pandas as pd
        except ImportError:
            return None
        if self.columns is None:
            return pd.DataFrame(self.matrix())
        return pd.DataFrame(self.columns)


def to_batch(data: Any) -> Batch:
    """Normalise a model input: a pandas DataFrame, an Arrow table, any frame that exports
    Arrow (Polars, DuckDB), a mapping of columns (or of one row's values), a list of row
    mappings, or an array."""
    columns: dict[str, np.ndarray] | None = None
    module = type(data).__module__
    if module.startswith("pandas") and hasattr(data, "to_frame") and not hasattr(data, "columns"):
        # A Series (a text model's documents) is a table of one column, named as it is.
        data = data.to_frame(name="value" if data.name is None else str(data.name))
    if module.startswith("pandas") and hasattr(data, "columns") and hasattr(data, "iloc"):
        columns = {str(c): _column(data[c].to_numpy()) for c in data.columns}
    elif hasattr(data, "__arrow_c_stream__") or (
        module.startswith("pyarrow") and hasattr(data, "column_names")
    ):
        # Arrow, Polars, DuckDB: every frame that exports Arrow, through one door.
        from assay.data.frames import as_table

        table = as_table(data, what="model input")
        columns = {
            name: _column(table.column(name).to_numpy(zero_copy_only=False))
            for name in table.column_names
        }
    elif isinstance(data, Mapping):
        if all(_is_scalar(v) for v in data.values()):  # one row
            columns = {str(k): _column(np.asarray([v])) for k, v in data.items()}
        else:
            columns = {str(k): _column(np.asarray(v)) for k, v in data.items()}
    elif isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data):
        names: dict[str, None] = {}
        for row in data:
            names.update(dict.fromkeys(map(str, row)))
        columns = {n: _column(np.asarray([row.get(n) for row in data])) for n in names}
    if columns is not None:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise UsageError(
                f"the input's columns have different lengths ({sorted(lengths)}); give every "
                "column one value per row"
            )
        return Batch(columns=columns, rows=lengths.pop() if lengths else 0)
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise UsageError(
            f"cannot read a {type(data).__name__} as model input ({e}); pass a DataFrame, "
            "an Arrow table, a mapping of columns or an array"
        ) from None
    if array.dtype == object and array.ndim == 0:
        raise UsageError(
            f"cannot read a {type(data).__name__} as model input; pass a DataFrame, an "
            "Arrow table, a mapping of columns or an array"
        )
    if array.ndim == 1:
        array = array.reshape(1, -1)  # one example
    return Batch(array=array, rows=int(array.shape[0]))


def infer_signature(sample: Any, output: Any = None, proba: Any = None) -> Signature:
    """The signature of a model that was given ``sample`` and answered ``output``/``proba``."""
    batch = to_batch(sample)
    columns = array = None
    if batch.columns is not None:
        columns = tuple(Column(n, v.dtype.name) for n, v in batch.columns.items())
    else:
        assert batch.array is not None
        array = TensorSpec.of(batch.array)
    return Signature(
        columns=columns,
        array=array,
        output=TensorSpec.of(np.asarray(output)) if output is not None else None,
        proba=TensorSpec.of(np.asarray(proba)) if proba is not None else None,
    )


def _shape(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("*" if d is None else str(d) for d in shape) + "]"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bytes | int | float | bool | np.generic)


def _column(values: np.ndarray) -> np.ndarray:
    """Object columns holding only numbers (JSON with nulls, pandas nullable) become float."""
    if values.dtype == object and _values_kind(values) == "number":
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return values


_KINDS = {"i": "number", "u": "number", "f": "number", "c": "number", "b": "boolean"}
_KINDS.update({"U": "text", "S": "text", "M": "time", "m": "time"})


def _kind(dtype: np.dtype) -> str:
    return _KINDS.get(dtype.kind, "object")


def _values_kind(values: np.ndarray) -> str:
    """The kind of a column, looking inside object arrays (pandas strings, JSON values)."""
    if values.dtype != object:
        return _kind(values.dtype)
    kinds = set()
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, bool | np.bool_):
            kinds.add("boolean")
        elif isinstance(v, int | float | np.number):
            kinds.add("number")
        elif isinstance(v, str | bytes):
            kinds.add("text")
        else:
            kinds.add("object")
    if not kinds:
        return "number"  # all missing: a number column of NaN
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _fits(want: str, got: str) -> bool:
    # Booleans are numbers to every estimator; anything fits an object column.
    return want == got or want == "object" or (want == "number" and got == "boolean")


def _as_kind(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "text" and values.dtype == object:
        return values
    if kind in ("number", "boolean") and values.dtype == object:
        return values.astype(float)
    return values
