"""``assay data`` on real-world files and selection surprises (issue 10), end to end.

Each refusal is one ``error:`` line with exit code 2 that leaves the store as it was;
each fix the message names then works.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests_helpers import CliResult, run_assay

PEOPLE = pd.DataFrame({"id": [1, 2, 3], "name": ["José", "Zoë", "Ana"], "age": [31, 47, 22]})


def ok(*args: object, cwd: Path) -> CliResult:
    r = run_assay(*args, cwd=cwd)
    assert r.rc == 0, r.err
    return r


def refused(*args: object, cwd: Path) -> str:
    """The one error line of a command that must fail with exit code 2."""
    r = run_assay(*args, cwd=cwd)
    assert r.rc == 2, (r.rc, r.out, r.err)
    return r.error_line()


def deltas(cwd: Path, dataset: str) -> list[dict]:
    return ok("data", "log", dataset, "--json", cwd=cwd).json()["deltas"]


def composed(cwd: Path, dataset: str) -> pd.DataFrame:
    (cwd / f"{dataset}.yaml").write_text(f"dataset: {dataset}\n")
    ok("data", "compose", f"{dataset}.yaml", "--out", f"{dataset}.parquet", cwd=cwd)
    rows = pq.read_table(cwd / f"{dataset}.parquet").to_pandas().drop(columns="split")
    return rows.sort_values("id").reset_index(drop=True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ok("init", cwd=tmp_path)
    ok("data", "create", "people", "--key", "id", cwd=tmp_path)
    return tmp_path


def test_a_pandas_index_column_is_refused_then_renamed(root: Path) -> None:
    PEOPLE.to_csv(root / "people.csv")  # to_csv's default writes the index, unnamed
    line = refused("data", "add", "people", "people.csv", cwd=root)
    assert "'people.csv': column 1 has no name" in line
    assert "--rename 1=NEW" in line and "--drop 1" in line
    assert deltas(root, "people") == []
    ok("data", "add", "people", "people.csv", "--rename", "=row", cwd=root)
    got = composed(root, "people")
    assert got["row"].tolist() == [0, 1, 2]
    assert got.drop(columns="row").equals(PEOPLE)


def test_duplicate_header_names_are_refused_then_renamed(root: Path) -> None:
    (root / "dup.csv").write_text("id,age,age\n1,31,32\n2,47,48\n")
    line = refused("data", "add", "people", "dup.csv", cwd=root)
    assert "columns 2 and 3 are both named 'age'; rename with --rename 3=NEW" in line
    assert deltas(root, "people") == []
    ok("data", "add", "people", "dup.csv", "--rename", "3=age_next", cwd=root)
    got = composed(root, "people")
    assert got.to_dict("list") == {"id": [1, 2], "age": [31, 47], "age_next": [32, 48]}


def test_latin1_is_refused_naming_the_encoding_then_converted(root: Path) -> None:
    PEOPLE.to_csv(root / "latin.csv", index=False, encoding="latin-1")
    line = refused("data", "add", "people", "latin.csv", cwd=root)
    assert "'latin.csv' is not UTF-8 (byte 0xe9" in line
    assert "looks like Latin-1/cp1252: pass --encoding cp1252" in line
    assert deltas(root, "people") == []
    ok("data", "add", "people", "latin.csv", "--encoding", "cp1252", cwd=root)
    log = ok("data", "log", "people", "--json", cwd=root).json()
    assert {"name": "name", "type": "string"} in log["schema"] and log["notes"] == []
    assert composed(root, "people").equals(PEOPLE)


def test_a_column_stored_as_binary_says_so(root: Path) -> None:
    # What an older assay stored for a Latin-1 CSV: the text column as bytes.
    old = pa.table({"id": [1, 2], "name": pa.array([b"Jos\xe9", b"Ana"])})
    pq.write_table(old, root / "old.parquet")
    ok("data", "add", "people", "old.parquet", cwd=root)
    log = ok("data", "log", "people", cwd=root).out
    assert "note: column 'name' is stored as binary" in " ".join(log.split())
    (root / "where.yaml").write_text("dataset: people\nwhere: \"name = 'Ana'\"\n")
    line = run_assay("data", "compose", "where.yaml", cwd=root).error_line()
    assert "cannot compare name (binary) with 'Ana'" in line
    assert "column 'name' is stored as binary" in line and "--encoding" in line


def test_reserved_delta_names_and_empty_key_names_are_refused(root: Path) -> None:
    PEOPLE.to_csv(root / "p.csv", index=False)
    assert "delta name 'all' is reserved" in refused(
        "data", "add", "people", "p.csv", "--name", "all", cwd=root
    )
    line = refused("data", "add", "people", "p.csv", "--name", "587c9a053969", cwd=root)
    assert "delta name '587c9a053969' looks like a delta id" in line
    assert deltas(root, "people") == []
    line = refused("data", "create", "other", "--key", "id,,x", cwd=root)
    assert "key 'id,,x' has an empty column name (item 2); write --key id,x" in line
    datasets = ok("data", "list", "--json", cwd=root).json()["datasets"]
    assert [d["dataset"] for d in datasets] == ["people"]


def test_a_token_that_is_a_name_and_an_id_prefix_is_ambiguous(root: Path) -> None:
    for name, rows in [("first", PEOPLE[:2]), ("second", PEOPLE[2:])]:
        rows.to_csv(root / f"{name}.csv", index=False)
        ok("data", "add", "people", f"{name}.csv", cwd=root)
    first, second = deltas(root, "people")
    # A store written before names were checked: `second` is named like first's id.
    prefix = first["id"][:12]
    with sqlite3.connect(root / ".assay" / "catalog.db") as db:
        db.execute("UPDATE deltas SET name = ? WHERE delta_id = ?", (prefix, second["id"]))
    (root / "r.yaml").write_text(f"dataset: people\ndeltas: ['{prefix}']\n")
    line = refused("data", "compose", "r.yaml", cwd=root)
    assert f"'{prefix}' is ambiguous: it matches delta #1 'first' ({first['id'][:12]})" in line
    assert f"delta #2 '{prefix}' ({second['id'][:12]})" in line
    (root / "r.yaml").write_text(f"dataset: people\ndeltas: ['{first['id'][:16]}']\n")
    assert ok("data", "compose", "r.yaml", "--json", cwd=root).json()["rows"] == 2


def test_impact_skips_identifier_columns_and_says_so(root: Path) -> None:
    for name, first in [("old", 0), ("new", 300)]:
        ids = range(first, first + 300)
        frame = pd.DataFrame(
            {"id": ids, "email": [f"u{i}@example.com" for i in ids], "age": [i % 7 for i in ids]}
        )
        frame.to_csv(root / f"{name}.csv", index=False)
        ok("data", "add", "people", f"{name}.csv", cwd=root)
    out = " ".join(ok("data", "log", "people", "--impact", cwd=root).out.split())
    assert "not ranked as feature shifts: id (key), email (id-like: nearly unique per row)" in out
    impact = ok("data", "log", "people", "--impact", "--json", cwd=root).json()["deltas"][1]
    assert impact["skipped"] == {"id": "key", "email": "id-like"}
    assert [f["column"] for f in impact["features"]] == ["age"]
