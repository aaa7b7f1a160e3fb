"""Column types: the few canonical types assay stores, and how files map onto them.

Every delta is normalised to these types before it is hashed or stored, so the same
rows read from CSV (int64) and from Parquet (int32) are the same delta.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import InputFileError, SchemaError, UsageError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "FileOptions",
    "arrow_type",
    "binary_column_note",
    "check_names",
    "fit_to_schema",
    "normal_type",
    "normalise_table",
    "parse_renames",
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


@dataclass(frozen=True)
class FileOptions:
    """How to read a data file: its text encoding, and fixes to its header.

    ``encoding`` (CSV and JSONL) is a Python codec name that the text is converted
    from; ``None`` accepts only UTF-8 (with or without a byte-order mark). ``rename``
    maps a column to a new name and ``drop`` leaves columns out; a column is named
    by its header name (``""`` for an empty one) or by its 1-based position (an int,
    or digits that are not also a column's name). Both apply before any check, so a
    header that assay refuses can be fixed without editing the file.
    """

    encoding: str | None = None
    rename: Mapping[str | int, str] = field(default_factory=dict)
    drop: Sequence[str | int] = ()


def parse_renames(items: Sequence[str]) -> dict[str | int, str]:
    """``--rename OLD=NEW`` arguments as a mapping (OLD may be empty, or a position)."""
    renames: dict[str | int, str] = {}
    for item in items:
        old, sep, new = item.rpartition("=")  # the last '=': a new name needs none
        if not sep:
            raise UsageError(f"--rename {item!r} lacks '='; write OLD=NEW, e.g. --rename 1=row")
        if old in renames:
            raise UsageError(f"--rename gives column {old!r} two new names; give it one")
        renames[old] = new
    return renames


def binary_column_note(column: str) -> str:
    """Why a column holds bytes rather than text, and the fix."""
    return (
        f"column {column!r} is stored as binary (bytes, not text), likely from a non-UTF-8 "
        "CSV/JSONL file that an older assay accepted; re-create the dataset, adding the "
        "files with --encoding (e.g. --encoding cp1252)"
    )


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


def normal_type(column: str, t: pa.DataType) -> pa.DataType:
    """The canonical type assay stores a column of type ``t`` as (``SchemaError`` if none)."""
    if pa.types.is_dictionary(t):
        return normal_type(column, t.value_type)
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
        t = normal_type(f.name, f.type)
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
    folded = {name.lower(): name for name in known}
    for name in table.column_names:
        if name not in known and name.lower() in folded:
            raise SchemaError(
                f"{source}: column {name!r} differs from the dataset's column "
                f"{folded[name.lower()]!r} only in case, which SQL engines do not tell "
                f"apart; rename it with --rename {name}={folded[name.lower()]}"
            )
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
        elif pa.types.is_binary(want):
            raise SchemaError(f"{source}: {binary_column_note(f.name)}")
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


def read_table_file(
    path: str | Path,
    schema: Sequence[tuple[str, str]] = (),
    options: FileOptions | None = None,
) -> pa.Table:
    """Read a CSV, Parquet or JSONL file into Arrow, typed by ``schema`` where it helps.

    Known column types are passed to the CSV and JSON readers so that, say, a
    column that happens to hold only whole numbers in this file is still read as
    the dataset's ``double``. Text must be UTF-8 unless ``options.encoding`` says
    otherwise, so text never turns into bytes; header names must be non-empty and
    distinct (ignoring case) after ``options``' renames and drops.
    """
    options = options or FileOptions()
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
    if kind == "parquet" and options.encoding is not None:
        raise UsageError(f"{str(p)!r} is Parquet, which is always UTF-8; leave out --encoding")
    codec = "utf-8" if kind == "parquet" else _text_encoding(p, options.encoding)
    # A column stored as binary takes no hint: text is read as text, and fit_to_schema
    # then names the binary column instead of storing more text as bytes.
    hints = {name: arrow_type(t) for name, t in schema if t != "binary"}
    keep: list[int] = []
    names: list[str] = []
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(p)
            keep, names = _fix_header(table.column_names, options, p)
            table = table.select(keep).rename_columns(names)
        elif kind == "csv":
            from pyarrow import csv

            parse = csv.ParseOptions(delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
            read = csv.ReadOptions(encoding="utf8" if codec == "utf-8" else codec)
            with csv.open_csv(p, read_options=read, parse_options=parse) as reader:
                header = reader.schema.names
            # Checked before the whole file is read, so that hints go to the final names.
            keep, names = _fix_header(header, options, p)
            table = csv.read_csv(
                p,
                read_options=read,
                parse_options=parse,
                convert_options=csv.ConvertOptions(
                    column_types=_hints_by_header(header, keep, names, hints),
                    strings_can_be_null=True,
                ),
            )
            table = table.select(keep).rename_columns(names)
        else:
            from pyarrow import json

            if codec == "utf-8":
                table = json.read_json(p)
            else:
                with pa.transcoding_input_stream(pa.input_stream(p), codec, "utf-8") as stream:
                    table = json.read_json(stream)
            keep, names = _fix_header(table.column_names, options, p)
            table = _cast_known(table.select(keep).rename_columns(names), hints)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        m = re.search(
            r"CSV column #(\d+): CSV conversion error to (\w+): invalid value (.*)$", first
        )
        if kind == "csv" and m and int(m.group(1)) in keep:
            column = names[keep.index(int(m.group(1)))]
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


# Byte-order marks of encodings that are not UTF-8 (UTF-32's first: it extends UTF-16's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF32_BE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF16_LE, "UTF-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "UTF-16", "utf-16"),
)
_CHUNK = 1 << 24  # bytes decoded at a time: a check in bounded memory
_NEWLINE = b"\n"


def _text_encoding(path: Path, encoding: str | None) -> str:
    """The codec that ``path``'s text is read with, once all of it decodes with it.

    Without ``encoding`` the text must be UTF-8: anything else is refused, naming
    what the bytes look like and the ``--encoding`` to pass. Python's own decoder
    checks the bytes, streaming, so a mis-encoded byte anywhere is found up front.
    """
    if encoding is None:
        codec = "utf-8"
        with open(path, "rb") as f:
            head = f.read(4)
        for bom, label, fix in _BOMS:
            if head.startswith(bom):
                raise InputFileError(
                    f"{str(path)!r} is {label} (it starts with a {label} byte-order mark), "
                    f"not UTF-8; pass --encoding {fix}"
                )
    else:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise UsageError(
                f"--encoding {encoding!r} is not an encoding Python knows; "
                "use a name such as utf-8, cp1252, latin-1 or utf-16"
            ) from None
    decoder = codecs.getincrementaldecoder(codec)()
    offset = lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if codec == "utf-8" and b"\0" in chunk:
                # NUL is valid UTF-8, but text holds none: UTF-16 (or not text at all).
                at = offset + chunk.index(b"\0")
                raise InputFileError(
                    f"{str(path)!r} holds NUL bytes (offset {at:,}), which text does not; "
                    "if it is UTF-16 without a byte-order mark, pass --encoding "
                    + ("utf-16-le" if at % 2 else "utf-16-be")  # ASCII's zero byte
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                start = max(e.start, 0)  # < 0: inside a character the last chunk began
                where = f"offset {offset + start:,}"
                if codec == "utf-8":
                    where += f", line {lines + chunk.count(_NEWLINE, 0, start) + 1:,}"
                if encoding is not None:
                    raise InputFileError(
                        f"{str(path)!r} is not {encoding} ({where} does not decode); "
                        "pass the file's real --encoding"
                    ) from None
                looks, fix = _looks_like(chunk)
                raise InputFileError(
                    f"{str(path)!r} is not UTF-8 (byte 0x{chunk[start]:02x} at {where}); "
                    f"it looks like {looks}: pass --encoding {fix} (or the file's real encoding)"
                ) from None
            except UnicodeError as e:  # a codec's own check, e.g. UTF-16 without a BOM
                raise InputFileError(
                    f"{str(path)!r} is not {encoding}: {e}; pass the file's real --encoding"
                ) from None
            offset += len(chunk)
            lines += chunk.count(_NEWLINE)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputFileError(
            f"{str(path)!r} ends inside a character (the file is cut short, or not "
            f"{encoding or 'UTF-8'}); check the file or pass its real --encoding"
        ) from None
    return codec


def _looks_like(sample: bytes) -> tuple[str, str]:
    """What bytes that are not UTF-8 look like: a name and the ``--encoding`` to try."""
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError:
        return "Latin-1", "latin-1"  # cp1252 leaves five bytes undefined; Latin-1 none
    return "Latin-1/cp1252", "cp1252"


def _position(names: Sequence[str], ref: str | int, option: str, path: Path) -> int:
    """The 0-based index of the column ``ref`` names: a header name, else a 1-based position."""
    if isinstance(ref, str):
        hits = [i for i, n in enumerate(names) if n == ref]
        if len(hits) == 1:
            return hits[0]
        if hits:
            at = " and ".join(str(i + 1) for i in hits)
            example = f"{option} {hits[-1] + 1}" + ("=NEW" if option == "--rename" else "")
            raise UsageError(
                f"{option} {ref!r}: {str(path)!r} has several columns of that name "
                f"(positions {at}); name one by its position, e.g. {example}"
            )
        if not (ref.isascii() and ref.isdigit()):
            shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
            raise UsageError(
                f"{option} {ref!r}: {str(path)!r} has no such column (columns: {shown}); "
                "give a header name or a 1-based position"
            )
        ref = int(ref)
    if not 1 <= ref <= len(names):
        raise UsageError(
            f"{option} {ref}: {str(path)!r} has columns 1 to {len(names)}; give one of those"
        )
    return ref - 1


def check_names(names: Sequence[str], path: Path) -> None:
    """Refuse the column names of the file at ``path`` that ``read_table_file`` refuses
    (blank, with control characters, or equal ignoring case)."""
    _fix_header(names, FileOptions(), path)


def _fix_header(
    header: Sequence[str], options: FileOptions, path: Path
) -> tuple[list[int], list[str]]:
    """The positions of the columns to keep and their final names, once checked.

    Names must be non-blank, free of control characters and distinct ignoring case,
    because SQL engines match names case-insensitively.
    """
    names = list(header)
    if names and names[0].startswith("\ufeff"):  # a byte-order mark the codec kept
        names[0] = names[0][1:]
    for ref, new in options.rename.items():
        names[_position(header, ref, "--rename", path)] = new
    dropped = {_position(header, ref, "--drop", path) for ref in options.drop}
    keep = [i for i in range(len(names)) if i not in dropped]
    problems: list[tuple[str, int]] = []  # (what, the position to fix)
    first: dict[str, int] = {}
    for i in keep:
        name, pos = names[i], i + 1
        if not name.strip():
            index = " (pandas' to_csv writes one for the index)" if pos == 1 else ""
            problems.append((f"column {pos} has no name{index}", pos))
        elif any(unicodedata.category(ch) == "Cc" for ch in name):
            problems.append((f"the name of column {pos} ({name!r}) holds a control character", pos))
        elif name.lower() in first:
            j = first[name.lower()]
            same = (
                f"are both named {name!r}"
                if names[j - 1] == name
                else f"({names[j - 1]!r}, {name!r}) differ only in case, which SQL engines "
                "do not tell apart"
            )
            problems.append((f"columns {j} and {pos} {same}", pos))
        else:
            first[name.lower()] = pos
    if not problems:
        return keep, [names[i] for i in keep]
    at = str(problems[0][1]) if len(problems) == 1 else "POSITION"
    raise InputFileError(
        f"{str(path)!r}: "
        + "; ".join(what for what, _ in problems)
        + f"; rename with --rename {at}=NEW or leave out with --drop {at}"
    )


def _hints_by_header(
    header: Sequence[str], keep: list[int], names: list[str], hints: dict[str, pa.DataType]
) -> dict[str, pa.DataType]:
    """``hints`` (by final name) keyed by the file's header names, for the CSV reader.

    The reader takes types by header name, so a hint is given only where every
    column of that header name wants the same type (a dropped one wants none).
    """
    final = dict(zip(keep, names, strict=True))
    wanted: dict[str, list[pa.DataType | None]] = {}
    for i, name in enumerate(header):
        wanted.setdefault(name, []).append(hints.get(final[i]) if i in final else None)
    return {
        name: types[0]
        for name, types in wanted.items()
        if types[0] is not None and all(t is not None and t.equals(types[0]) for t in types)
    }
