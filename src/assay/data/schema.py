"""Column types: the few canonical types assay stores, and how files map onto them.

Every delta is normalised to these types before it is hashed or stored, so the same
rows read from CSV (int64) and from Parquet (int32) are the same delta.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import InputFileError, SchemaError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "arrow_type",
    "fit_to_schema",
    "normalise_table",
    "read_table_file",
    "type_name",
]

SUPPORTED_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_SIMPLE = {
    "int64": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "date32[day]": pa.date32(),
    "binary": pa.binary(),
}
_TIMESTAMP = re.compile(r"timestamp\[us(?:, tz=(?P<tz>[^\]]+))?\]$")


def type_name(t: pa.DataType) -> str:
    """The canonical name of a normalised type, as stored in the catalog."""
    return str(t)


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type for a canonical type name."""
    if name in _SIMPLE:
        return _SIMPLE[name]
    m = _TIMESTAMP.match(name)
    if m:
        return pa.timestamp("us", tz=m.group("tz"))
    raise SchemaError(f"unknown stored type {name!r}; the catalog may come from a newer assay")


def _normal_type(column: str, t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _normal_type(column, t.value_type)
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_boolean(t):
        return pa.bool_()
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_null(t):
        return t
    raise SchemaError(
        f"column {column!r} has type {t}, which assay does not store yet; "
        "convert it to a number, string, boolean, date or timestamp"
    )


def normalise_table(table: pa.Table) -> pa.Table:
    """``table`` with every column cast to its canonical type (null columns kept)."""
    fields = []
    for f in table.schema:
        t = _normal_type(f.name, f.type)
        fields.append(pa.field(f.name, t))
    target = pa.schema(fields)
    if target.equals(table.schema.remove_metadata()):
        return table.replace_schema_metadata(None)
    columns = []
    for f, col in zip(target, table.columns, strict=True):
        if pa.types.is_uint64(col.type) and len(col) and pc.max(col).as_py() > 2**63 - 1:
            raise SchemaError(
                f"column {f.name!r} holds integers above 2^63-1; store them as strings"
            )
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        columns.append(col.cast(f.type))
    return pa.Table.from_arrays(columns, schema=target)


def fit_to_schema(
    table: pa.Table, schema: Sequence[tuple[str, str]], *, source: str
) -> tuple[pa.Table, list[tuple[str, str]], list[str]]:
    """Cast ``table`` (normalised) onto a dataset ``schema``.

    Returns the table, the dataset schema extended by new columns, and the names of
    those new columns. Columns the dataset has but the table lacks are an error;
    so is a type change, except lossless widening (int → double) and all-null
    columns, which take the dataset's type.
    """
    known = dict(schema)
    new_schema = list(schema)
    added: list[str] = []
    missing = [name for name in known if name not in table.column_names]
    if missing and schema:
        raise SchemaError(
            f"{source} lacks column(s) {', '.join(map(repr, missing))} of the dataset; "
            "add them to the file (empty values are allowed)"
        )
    columns = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if f.name not in known:
            if pa.types.is_null(f.type):
                raise SchemaError(
                    f"{source}: new column {f.name!r} is empty, so its type is unknown; "
                    "give it at least one value or drop it"
                )
            new_schema.append((f.name, type_name(f.type)))
            added.append(f.name)
            columns.append(col)
            continue
        want = arrow_type(known[f.name])
        if f.type.equals(want):
            columns.append(col)
        elif pa.types.is_null(f.type) or (
            pa.types.is_int64(f.type) and pa.types.is_float64(want) and _exact_as_double(col)
        ):
            columns.append(col.cast(want))
        else:
            raise SchemaError(
                f"{source}: column {f.name!r} is {f.type} but the dataset stores {want}; "
                f"convert the column to {want} (assay refuses silent type changes)"
            )
    fitted = pa.Table.from_arrays(
        columns,
        schema=pa.schema(
            [pa.field(n, c.type) for n, c in zip(table.column_names, columns, strict=True)]
        ),
    )
    if not schema:
        new_schema = [(f.name, type_name(f.type)) for f in fitted.schema]
        added = []
    return fitted, new_schema, added


def _exact_as_double(col: pa.ChunkedArray) -> bool:
    limit = 2**53
    if len(col) == col.null_count:
        return True
    lo, hi = pc.min_max(col).values()
    return -limit <= lo.as_py() and hi.as_py() <= limit


def read_table_file(path: str | Path, schema: Sequence[tuple[str, str]] = ()) -> pa.Table:
    """Read a CSV, Parquet or JSONL file into Arrow, typed by ``schema`` where it helps.

    Known column types are passed to the CSV and JSON readers so that, say, a
    column that happens to hold only whole numbers in this file is still read as
    the dataset's ``double``.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"file {str(p)!r} does not exist; check the path")
    if p.is_dir():
        raise InputFileError(f"{str(p)!r} is a folder; give a CSV, Parquet or JSONL file")
    kind = SUPPORTED_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise InputFileError(
            f"{str(p)!r}: unknown file type {p.suffix or '(none)'!r}; "
            "use .csv, .tsv, .parquet or .jsonl"
        )
    hints = {name: arrow_type(t) for name, t in schema}
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        elif kind == "csv":
            from pyarrow import csv

            table = csv.read_csv(
                p,
                parse_options=csv.ParseOptions(
                    delimiter="\t" if p.suffix.lower() == ".tsv" else ","
                ),
                convert_options=csv.ConvertOptions(column_types=hints, strings_can_be_null=True),
            )
        else:
            from pyarrow import json

            table = json.read_json(p)
            table = _cast_known(table, hints)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        m = re.search(
            r"CSV column #(\d+): CSV conversion error to (\w+): invalid value (.*)$", first
        )
        if kind == "csv" and m:
            column = _csv_header(p)[int(m.group(1))]
            raise SchemaError(
                f"{str(p)!r}: column {column!r} holds {m.group(3)}, not {m.group(2)} as the "
                "dataset stores it; fix the value or convert the column"
            ) from None
        raise InputFileError(f"cannot read {str(p)!r} as {kind}: {first}") from None
    return normalise_table(table)


def _cast_known(table: pa.Table, hints: dict[str, pa.DataType]) -> pa.Table:
    cols = []
    for f, col in zip(table.schema, table.columns, strict=True):
        want = hints.get(f.name)
        if (
            want is not None
            and not f.type.equals(want)
            and (pa.types.is_null(f.type) or pa.types.is_integer(f.type))
        ):
            col = col.cast(want)
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def _csv_header(path: Path) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        return next(csv.reader(f, delimiter=delimiter), [])
