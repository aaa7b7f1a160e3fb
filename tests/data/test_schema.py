"""Reading real-world files: header names, text encodings, and columns stored as bytes.

Each refusal must come before anything is stored; each fix (``FileOptions``) must give
the values that pandas reads from the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.schema import FileOptions, parse_renames, read_table_file
from assay.errors import ExpressionError, InputFileError, SchemaError, UsageError
from tests_helpers import objects_in

PEOPLE = pd.DataFrame({"id": [1, 2, 3], "name": ["José", "Zoë", "Ana"], "age": [31, 47, 22]})


def _composed(store: assay.Store, dataset: str) -> pd.DataFrame:
    rows = assay.compose({"dataset": dataset}, store=store).to_pandas()
    return rows.drop(columns="split").sort_values("id").reset_index(drop=True)


def _unchanged(store: assay.Store, dataset: str) -> None:
    assert store.catalog.list_deltas(dataset) == []
    assert objects_in(store) == set()


def test_the_pandas_index_column_is_refused_until_named_or_dropped(
    store: assay.Store, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    PEOPLE.to_csv(path)  # pandas' default: an unnamed index column first
    assay.create_dataset(store, "p", ["id"])
    with pytest.raises(InputFileError) as refused:
        assay.add_delta(store, "p", path)
    assert "column 1 has no name" in str(refused.value)
    assert "--rename 1=NEW" in str(refused.value) and "--drop 1" in str(refused.value)
    _unchanged(store, "p")

    assay.add_delta(store, "p", path, options=FileOptions(rename={"": "row"}))
    got = _composed(store, "p")
    assert list(got.columns) == ["row", "id", "name", "age"]
    assert got["row"].tolist() == [0, 1, 2]
    assert got[["id", "name", "age"]].equals(PEOPLE)

    assay.create_dataset(store, "q", ["id"])
    assay.add_delta(store, "q", path, options=FileOptions(drop=[1]))
    assert _composed(store, "q").equals(PEOPLE)


def test_duplicate_and_case_variant_names_are_refused_with_their_positions(
    store: assay.Store, tmp_path: Path
) -> None:
    assay.create_dataset(store, "d", ["id"])
    dup = tmp_path / "dup.csv"
    dup.write_text("id,x,x\n1,2,3\n4,5,6\n")
    with pytest.raises(InputFileError, match=r"columns 2 and 3 are both named 'x'.*--rename 3=NEW"):
        assay.add_delta(store, "d", dup)
    case = tmp_path / "case.csv"
    case.write_text("id,X,x\n1,a,b\n")
    # DuckDB matches names case-insensitively: stored, `x` read back as all null.
    with pytest.raises(InputFileError, match=r"columns 2 and 3 \('X', 'x'\) differ only in case"):
        assay.add_delta(store, "d", case)
    _unchanged(store, "d")

    assay.add_delta(store, "d", dup, options=FileOptions(rename=parse_renames(["3=x2"])))
    got = _composed(store, "d")
    assert got.to_dict("list") == {"id": [1, 4], "x": [2, 5], "x2": [3, 6]}

    # A later file may not bring a column that differs from the dataset's only in case.
    (tmp_path / "later.csv").write_text("id,x,X2\n7,8,9\n")
    with pytest.raises(SchemaError, match=r"'X2' differs from the dataset's column 'x2' only in"):
        assay.add_delta(store, "d", tmp_path / "later.csv")
    assert len(store.catalog.list_deltas("d")) == 1


def test_header_fixes_name_existing_columns(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("id,x,x,2020\n1,2,3,4\n")
    with pytest.raises(UsageError, match=r"several columns of that name \(positions 2 and 3\)"):
        read_table_file(path, options=FileOptions(rename={"x": "y"}))
    with pytest.raises(UsageError, match="has no such column"):
        read_table_file(path, options=FileOptions(drop=["nope"]))
    with pytest.raises(UsageError, match="has columns 1 to 4"):
        read_table_file(path, options=FileOptions(drop=[9]))
    # A header that is all digits is a name first, a position second.
    t = read_table_file(path, options=FileOptions(rename={"2020": "y2020", "3": "x2"}))
    assert t.column_names == ["id", "x", "x2", "y2020"]
    t = read_table_file(path, options=FileOptions(drop=["2", 3]))
    assert t.to_pylist() == [{"id": 1, "2020": 4}]
    with pytest.raises(UsageError, match="lacks '='"):
        parse_renames(["x"])
    assert parse_renames(["=row", "a=b=c"]) == {"": "row", "a=b": "c"}


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("id,  ,v", "column 2 has no name"),
        ('id,"a\tb",v', "column 2 ('a\\tb') holds a control character"),
    ],
)
def test_blank_and_control_character_names_are_refused(
    tmp_path: Path, header: str, problem: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{header}\n1,2,3\n")
    with pytest.raises(InputFileError) as refused:
        read_table_file(path)
    assert problem in str(refused.value)


def test_text_that_is_not_utf8_is_refused_naming_its_encoding(
    store: assay.Store, tmp_path: Path
) -> None:
    assay.create_dataset(store, "p", ["id"])
    latin = tmp_path / "latin.csv"
    PEOPLE.to_csv(latin, index=False, encoding="latin-1")
    with pytest.raises(InputFileError) as refused:
        assay.add_delta(store, "p", latin)
    message = str(refused.value)
    offset = latin.read_bytes().index(b"\xe9")  # 17: "id,name,age\n1,Jos"
    assert f"is not UTF-8 (byte 0xe9 at offset {offset}, line 2)" in message
    assert "Latin-1/cp1252" in message and "--encoding cp1252" in message

    windows = tmp_path / "windows.csv"
    windows.write_bytes("id,name\n1,it’s\n".encode("cp1252"))
    with pytest.raises(InputFileError, match=r"byte 0x92 .*--encoding cp1252"):
        assay.add_delta(store, "p", windows)
    # 0x81 is undefined in cp1252, so only Latin-1 fits.
    (tmp_path / "c1.csv").write_bytes(b"id,name\n1,a\x81b\n")
    with pytest.raises(InputFileError, match=r"looks like Latin-1: pass --encoding latin-1"):
        assay.add_delta(store, "p", tmp_path / "c1.csv")

    # pyarrow's JSON reader would put U+FFFD in place of each bad byte, silently.
    lines = (json.dumps(r, ensure_ascii=False) for r in PEOPLE.to_dict("records"))
    (tmp_path / "latin.jsonl").write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(InputFileError, match=r"not UTF-8 .*line 1\).*--encoding cp1252"):
        assay.add_delta(store, "p", tmp_path / "latin.jsonl")

    PEOPLE.to_csv(tmp_path / "utf16.csv", index=False, encoding="utf-16")
    with pytest.raises(InputFileError, match=r"is UTF-16 \(it starts with a UTF-16 byte-order"):
        assay.add_delta(store, "p", tmp_path / "utf16.csv")
    PEOPLE.to_csv(tmp_path / "utf16le.csv", index=False, encoding="utf-16-le")
    with pytest.raises(InputFileError, match=r"holds NUL bytes .*--encoding utf-16-le$"):
        assay.add_delta(store, "p", tmp_path / "utf16le.csv")
    PEOPLE.to_csv(tmp_path / "utf16be.csv", index=False, encoding="utf-16-be")
    with pytest.raises(InputFileError, match=r"holds NUL bytes .*--encoding utf-16-be$"):
        assay.add_delta(store, "p", tmp_path / "utf16be.csv")
    with pytest.raises(UsageError, match="'klingon' is not an encoding Python knows"):
        assay.add_delta(store, "p", latin, options=FileOptions(encoding="klingon"))
    with pytest.raises(InputFileError, match="is not utf-16: UTF-16 stream does not start"):
        assay.add_delta(store, "p", latin, options=FileOptions(encoding="utf-16"))
    _unchanged(store, "p")


@pytest.mark.parametrize(
    ("suffix", "encoding"),
    [
        (".csv", "latin-1"),
        (".csv", "cp1252"),
        (".csv", "utf-16"),
        (".tsv", "utf-16-le"),
        (".jsonl", "cp1252"),
        (".jsonl", "utf-16"),
    ],
)
def test_encoding_converts_to_the_same_delta_as_utf8(
    store: assay.Store, tmp_path: Path, suffix: str, encoding: str
) -> None:
    def write(path: Path, codec: str) -> Path:
        if suffix == ".jsonl":
            lines = (json.dumps(r, ensure_ascii=False) for r in PEOPLE.to_dict("records"))
            path.write_bytes("\n".join(lines).encode(codec))
        else:
            PEOPLE.to_csv(path, index=False, encoding=codec, sep="," if suffix == ".csv" else "\t")
        return path

    assay.create_dataset(store, "p", ["id"])
    first = assay.add_delta(
        store, "p", write(tmp_path / f"other{suffix}", encoding), options=FileOptions(encoding)
    )
    got = _composed(store, "p")
    assert got.equals(PEOPLE)
    assert store.catalog.get_dataset("p").schema[1] == ("name", "string")
    again = assay.add_delta(store, "p", write(tmp_path / f"plain{suffix}", "utf-8"))
    assert not again.created and again.delta.delta_id == first.delta.delta_id


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    PEOPLE.to_csv(path, index=False, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_table_file(path).to_pandas().equals(PEOPLE)


def test_a_column_stored_as_binary_is_named_with_the_fix(
    store: assay.Store, tmp_path: Path
) -> None:
    # What an older assay stored for a Latin-1 CSV: the column as bytes.
    old = pa.table({"id": [1, 2], "name": pa.array([b"Jos\xe9", b"Ana"])})
    pq.write_table(old, tmp_path / "old.parquet")
    assay.create_dataset(store, "p", ["id"])
    assay.add_delta(store, "p", tmp_path / "old.parquet")
    (tmp_path / "new.csv").write_text("id,name\n3,Zoë\n", encoding="utf-8")
    with pytest.raises(SchemaError) as refused:
        assay.add_delta(store, "p", tmp_path / "new.csv")
    assert "column 'name' is stored as binary" in str(refused.value)
    assert "non-UTF-8" in str(refused.value) and "--encoding" in str(refused.value)
    assert len(store.catalog.list_deltas("p")) == 1
    with pytest.raises(ExpressionError) as bad_where:
        assay.compose({"dataset": "p", "where": "name = 'Ana'"}, store=store)
    assert "cannot compare name (binary)" in str(bad_where.value)
    assert "column 'name' is stored as binary" in str(bad_where.value)


def test_parquet_may_hold_bytes_but_takes_no_encoding(tmp_path: Path) -> None:
    table = pa.table({"id": [1], "blob": pa.array([b"\x00\xff"])})
    pq.write_table(table, tmp_path / "b.parquet")
    assert read_table_file(tmp_path / "b.parquet").equals(table)
    with pytest.raises(UsageError, match="Parquet, which is always UTF-8; leave out --encoding"):
        read_table_file(tmp_path / "b.parquet", options=FileOptions(encoding="latin-1"))
