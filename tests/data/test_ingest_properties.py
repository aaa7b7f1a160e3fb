"""Property-based ingest: any CSV or JSONL file gives a clean delta or a clear refusal.

Files get random headers (empty, blank, duplicate, case variants, unicode, control
characters, reserved names), encodings, column types and nulls. For each one,
``add_delta`` must either store a delta that then composes and gives back the file's
values as an independent reader (Python's ``csv`` and ``json`` modules) parses them,
or refuse with a one-line ``AssayError`` (exit code 2) and leave the store as it was.
Never a stored delta that later fails to compose.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import assay
from assay.data.schema import FileOptions
from assay.errors import AssayError
from tests_helpers import objects_in

EXAMPLES = 100  # per format; both formats together run in well under a minute
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]
_CSV = pacsv.ConvertOptions()
NULLS, TRUE = set(_CSV.null_values), set(_CSV.true_values)

# Characters every encoding above can hold (ASCII and Latin-1's letters), and, for the
# Unicode encodings, any printable character.
NARROW = st.characters(codec="latin-1", exclude_categories=("Cc", "Cs"))
WIDE = st.characters(exclude_categories=("Cs", "Co", "Cn"))
TYPED = ["int", "float", "text", "bool", "date"]
AWKWARD = st.sampled_from([",", '"', "\n", " ", "\t", "'", ";", "\\"])


@dataclass(frozen=True)
class FileSpec:
    """A generated file: header, typed columns and how it is written."""

    kind: str  # csv | jsonl
    encoding: str
    declared: bool  # whether add_delta is told the encoding
    header: list[str]
    columns: list[list[Any]]  # by position; None is a missing value

    def rows(self) -> list[list[Any]]:
        return [list(r) for r in zip(*self.columns, strict=True)]


def _text(encoding: str) -> st.SearchStrategy[str]:
    chars = NARROW if encoding in ("latin-1", "cp1252") else WIDE
    return st.text(st.one_of(chars, AWKWARD), max_size=8)


@st.composite
def file_specs(draw: st.DrawFn, kind: str) -> FileSpec:
    encoding = draw(st.sampled_from(ENCODINGS))
    text = _text(encoding)
    n_rows = draw(st.integers(1, 6))
    special = st.sampled_from(["", " ", "id", "ID", "split", "_assay_x", "a\tb", "x", "X"])
    names = draw(st.lists(st.one_of(special, text), min_size=0, max_size=4))
    header = (["id"] if draw(st.integers(0, 5)) or not names else []) + names
    ids: list[Any] = draw(
        st.one_of(
            st.lists(
                st.integers(-(2**63), 2**63 - 1), min_size=n_rows, max_size=n_rows, unique=True
            ),
            st.lists(st.integers(0, 2**31), min_size=n_rows, max_size=n_rows, unique=True),
            st.lists(
                st.integers(-(2**63), 2**63 - 1), min_size=n_rows, max_size=n_rows, unique=True
            ),
            st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=n_rows, max_size=n_rows),
        )
    )
    dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(dt.date.isoformat)
    values = {
        "int": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(allow_nan=False, allow_infinity=False),
        "text": text,
        "bool": st.booleans(),
        "date": dates,
        "null": st.none(),
    }
    columns: list[list[Any]] = []
    for name in header:
        if name == "id" and not columns:
            columns.append(ids)
            continue
        # Mostly typed columns; sometimes one with no value at all.
        kind_of = draw(st.sampled_from([*TYPED * 3, "null"]))
        cell = st.one_of(st.none(), values[kind_of]) if draw(st.booleans()) else values[kind_of]
        columns.append(draw(st.lists(cell, min_size=n_rows, max_size=n_rows)))
    return FileSpec(kind, encoding, draw(st.booleans()), header, columns)


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def write(spec: FileSpec, path: Path) -> None:
    if spec.kind == "csv":
        buffer = io.StringIO(newline="")
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(spec.header)
        out.writerows([_csv_cell(v) for v in row] for row in spec.rows())
        text = buffer.getvalue()
    else:  # written by hand: a JSON object may repeat a key, as real files do
        text = "".join(
            "{"
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
                for k, v in zip(spec.header, row, strict=True)
            )
            + "}\n"
            for row in spec.rows()
        )
    path.write_bytes(text.encode(spec.encoding))


def reference(spec: FileSpec, path: Path) -> tuple[list[str], list[list[Any]]]:
    """The file as Python's own readers parse it: header and rows (CSV cells as text)."""
    text = path.read_bytes().decode(spec.encoding)
    if spec.kind == "csv":
        header, *rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
        return header, rows
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(records[0]), [list(r.values()) for r in records]


def expected(raw: Any, t: pa.DataType, kind: str) -> Any:
    """What a stored column of type ``t`` must hold for the file's value ``raw``."""
    if kind == "csv":
        if raw in NULLS:
            return None
        if pa.types.is_boolean(t):
            return raw in TRUE
        if pa.types.is_integer(t):
            return int(raw)
        if pa.types.is_floating(t):
            return float(raw)
        if pa.types.is_date(t):
            return dt.date.fromisoformat(raw)
        assert pa.types.is_string(t), f"a CSV column became {t}"
        return raw
    if raw is None:
        return None
    if pa.types.is_floating(t):
        return float(raw)
    if pa.types.is_timestamp(t):  # Arrow's JSON reader reads ISO dates as timestamps
        return dt.datetime.fromisoformat(raw)
    if pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
        return raw
    raise AssertionError(f"a JSONL column became {t}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _header_fix(n: int) -> FileOptions:
    """Every column but the first renamed by position: what the refusals ask for."""
    return FileOptions(rename={i: f"c{i}" for i in range(2, n + 1)})


def run_property(
    store: assay.Store, tmp_path: Path, kind: str
) -> tuple[Counter[str], Callable[[], None]]:
    outcomes: Counter[str] = Counter()
    numbers = itertools.count()

    @SETTINGS
    @given(spec=file_specs(kind))
    def check(spec: FileSpec) -> None:
        dataset = f"d{next(numbers)}"
        assay.create_dataset(store, dataset, ["id"])
        path = tmp_path / f"{dataset}.{kind}"
        write(spec, path)
        declared = spec.encoding if spec.declared else None
        options = FileOptions(encoding=declared)
        before = objects_in(store)
        try:
            try:
                assay.add_delta(store, dataset, path, options=options)
            except AssayError as e:
                if not re.search(r"--rename (\d+|POSITION)=NEW", str(e)):
                    raise
                # The header problem's own fix must get past it.
                options = FileOptions(declared, _header_fix(len(spec.header)).rename)
                assay.add_delta(store, dataset, path, options=options)
                outcomes["renamed"] += 1
        except AssayError as e:
            message = str(e)
            assert e.exit_code == 2 and "\n" not in message, message
            assert store.catalog.list_deltas(dataset) == [] and objects_in(store) == before
            if declared is None and spec.encoding == "utf-16":
                assert "UTF-16" in message
            outcomes[f"refused: {type(e).__name__}"] += 1
            return
        try:
            path.read_bytes().decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        assert declared is not None or utf8, "text that is not UTF-8 was stored undeclared"

        info = store.catalog.get_dataset(dataset)
        columns = [c for c in info.columns if c != "split"]  # compose adds its own
        version = assay.compose({"dataset": dataset, "columns": columns}, store=store)
        got = {row["id"]: row for row in version.to_arrow().to_pylist()}
        types = dict(zip(version.table.column_names, version.table.schema.types, strict=True))
        header, rows = reference(spec, path)
        renamed = options.rename
        final = [renamed.get(i + 1, name) for i, name in enumerate(header)]
        assert final[0] == "id" and len(got) == len(rows)
        for row in rows:
            stored = got[expected(row[0], types["id"], kind)]
            for name, raw in zip(final, row, strict=True):
                if name == "split":
                    continue
                want = expected(raw, types[name], kind)
                assert _same(stored[name], want), (name, raw, stored[name], want)
        outcomes["clean"] += 1

    return outcomes, check


def _run(store: assay.Store, tmp_path: Path, kind: str) -> None:
    outcomes, check = run_property(store, tmp_path, kind)
    check()
    total = sum(outcomes.values()) - outcomes["renamed"]
    print(f"\n{kind} ingest: {total} hypothesis examples: {dict(sorted(outcomes.items()))}")
    # Both sides of the property were exercised, not just refusals.
    assert total >= EXAMPLES // 2
    assert outcomes["clean"] >= 5 and total - outcomes["clean"] >= 5


def test_any_csv_gives_a_clean_delta_or_a_clear_refusal(store: assay.Store, tmp_path: Path) -> None:
    _run(store, tmp_path, "csv")


def test_any_jsonl_gives_a_clean_delta_or_a_clear_refusal(
    store: assay.Store, tmp_path: Path
) -> None:
    _run(store, tmp_path, "jsonl")
