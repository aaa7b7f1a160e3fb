"""Ingest: content ids, key rules, schema rules, statistics, and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import DatasetNotFound, InputFileError, KeyConflict, SchemaError, UsageError
from tests_helpers import objects_in, year


def test_same_rows_from_csv_parquet_jsonl_are_one_delta(
    store: assay.Store, acs: pa.Table, tmp_path: Path
) -> None:
    assay.create_dataset(store, "e", ["id"], label="employed")
    rows = year(acs, 2016).slice(0, 5000)
    pq.write_table(rows.select(rows.column_names[::-1]), tmp_path / "a.parquet")
    first = assay.add_delta(store, "e", tmp_path / "a.parquet", name="y2016")
    rows.to_pandas().sample(frac=1, random_state=0).to_csv(tmp_path / "b.csv", index=False)
    again = assay.add_delta(store, "e", tmp_path / "b.csv")
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows.to_pylist()))
    third = assay.add_delta(store, "e", tmp_path / "c.jsonl")
    assert first.created and not again.created and not third.created
    assert again.delta.delta_id == third.delta.delta_id == first.delta.delta_id
    assert again.delta.name == "y2016"
    assert len(store.catalog.list_deltas("e")) == 1


def test_statistics_and_label_counts_match_pandas(employment: assay.Store, acs: pa.Table) -> None:
    deltas = employment.catalog.list_deltas("employment")
    df = acs.to_pandas()
    for d, y in zip(deltas, [2015, 2016, 2017, 2018], strict=True):
        part = df[df.year == y]
        assert d.row_count == len(part)
        assert d.label_counts == {str(k): int(v) for k, v in part.employed.value_counts().items()}
        assert d.stats["AGEP"]["mean"] == pytest.approx(part.AGEP.mean())
        assert d.stats["AGEP"]["std"] == pytest.approx(part.AGEP.std())
        assert (d.stats["SCHL"]["min"], d.stats["SCHL"]["max"]) == (
            part.SCHL.min(),
            part.SCHL.max(),
        )
        assert d.stats["RAC1P"]["distinct"] == part.RAC1P.nunique()
    info = employment.catalog.get_dataset("employment")
    assert info.columns == acs.column_names
    assert dict(info.schema)["AGEP"] == "int64"


def test_key_rules(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pd.DataFrame({"id": [1, 2, 3], "v": [1, 2, 3]}).to_csv(tmp_path / "a.csv", index=False)
    assay.add_delta(store, "t", tmp_path / "a.csv")
    before = objects_in(store)

    def refused(frame: pd.DataFrame, op: str, match: str, exc: type = KeyConflict) -> None:
        path = tmp_path / f"bad-{op}.csv"
        frame.to_csv(path, index=False)
        with pytest.raises(exc, match=match):
            assay.add_delta(store, "t", path, op=op)
        assert objects_in(store) == before
        assert len(store.catalog.list_deltas("t")) == 1

    refused(
        pd.DataFrame({"id": [3, 4], "v": [0, 0]}),
        "insert",
        r"1 key\(s\) already exist.*--op upsert",
    )
    refused(pd.DataFrame({"id": [4, 4], "v": [0, 1]}), "insert", r"repeat a key.*id=4")
    refused(pd.DataFrame({"id": [9]}), "delete", r"not in dataset.*id=9")
    refused(
        pd.DataFrame({"id": pd.array([None, 5], dtype="Int64"), "v": [1, 2]}),
        "insert",
        r"key column .id. is empty",
    )
    refused(
        pd.DataFrame({"key": [5], "v": [1]}), "insert", r"lacks key column\(s\) 'id'", SchemaError
    )
    refused(
        pd.DataFrame({"id": [5], "v": ["abc"]}), "insert", r"column .v. holds .abc.", SchemaError
    )
    refused(pd.DataFrame({"id": [5]}), "insert", r"lacks column\(s\) 'v'", SchemaError)

    # Upsert replaces and adds; delete removes; a deleted key may come back by upsert only.
    pd.DataFrame({"id": [3, 7], "v": [30, 70]}).to_csv(tmp_path / "up.csv", index=False)
    assay.add_delta(store, "t", tmp_path / "up.csv", op="upsert")
    pd.DataFrame({"id": [1]}).to_csv(tmp_path / "del.csv", index=False)
    assay.add_delta(store, "t", tmp_path / "del.csv", op="delete")
    before = objects_in(store)
    with pytest.raises(KeyConflict, match="already exist"):  # deleted keys stay taken for insert
        pd.DataFrame({"id": [1], "v": [10]}).to_csv(tmp_path / "re.csv", index=False)
        assay.add_delta(store, "t", tmp_path / "re.csv")
    assert objects_in(store) == before
    pd.DataFrame({"id": [1], "v": [11]}).to_csv(tmp_path / "back.csv", index=False)
    assay.add_delta(store, "t", tmp_path / "back.csv", op="upsert")
    t = assay.compose({"dataset": "t"}, store=store).to_arrow()
    assert dict(zip(t["id"].to_pylist(), t["v"].to_pylist(), strict=True)) == {
        2: 2,
        3: 30,
        7: 70,
        1: 11,
    }


def test_schema_rules(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pq.write_table(pa.table({"id": [1], "x": [0.5]}), tmp_path / "a.parquet")
    assay.add_delta(store, "t", tmp_path / "a.parquet")
    # Whole numbers for a double column are widened, not refused.
    pq.write_table(pa.table({"id": [2], "x": pa.array([3], pa.int32())}), tmp_path / "b.parquet")
    assay.add_delta(store, "t", tmp_path / "b.parquet")
    pq.write_table(pa.table({"id": [3], "x": ["high"]}), tmp_path / "c.parquet")
    with pytest.raises(SchemaError, match=r"column 'x' is string but the dataset stores double"):
        assay.add_delta(store, "t", tmp_path / "c.parquet")
    pq.write_table(pa.table({"id": [4], "x": [1.0], "note": [None]}), tmp_path / "d.parquet")
    with pytest.raises(SchemaError, match=r"new column 'note' is empty"):
        assay.add_delta(store, "t", tmp_path / "d.parquet")
    pq.write_table(pa.table({"id": [5], "x": [1.0], "_assay_x": [1]}), tmp_path / "e.parquet")
    with pytest.raises(SchemaError, match="reserved"):
        assay.add_delta(store, "t", tmp_path / "e.parquet")
    assert [c for c, _ in store.catalog.get_dataset("t").schema] == ["id", "x"]


def test_string_and_composite_keys(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "s", ["user", "day"], label="y")
    pd.DataFrame({"user": ["b", "a", "a"], "day": [1, 2, 1], "y": [0, 1, 1]}).to_csv(
        tmp_path / "a.csv", index=False
    )
    assay.add_delta(store, "s", tmp_path / "a.csv")
    pd.DataFrame({"user": ["a"], "day": [2], "y": [0]}).to_csv(tmp_path / "fix.csv", index=False)
    assay.add_delta(store, "s", tmp_path / "fix.csv", op="upsert")
    pd.DataFrame({"user": ["a"], "day": [3], "y": [1]}).to_csv(tmp_path / "dup.csv", index=False)
    assay.add_delta(store, "s", tmp_path / "dup.csv")
    with pytest.raises(KeyConflict, match="already exist"):
        assay.add_delta(store, "s", tmp_path / "fix.csv", op="insert", name="again")
    rows = assay.compose({"dataset": "s"}, store=store).to_arrow().select(["user", "day", "y"])
    assert rows.to_pylist() == [
        {"user": "a", "day": 1, "y": 1},
        {"user": "b", "day": 1, "y": 0},
        {"user": "a", "day": 2, "y": 0},
        {"user": "a", "day": 3, "y": 1},
    ]


def test_bad_names_and_files(store: assay.Store, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="create it with"):
        assay.add_delta(store, "nope", tmp_path / "x.csv")
    assay.create_dataset(store, "t", ["id"])
    with pytest.raises(UsageError, match="already exists"):
        assay.create_dataset(store, "t", ["id"])
    with pytest.raises(InputFileError, match="does not exist"):
        assay.add_delta(store, "t", tmp_path / "missing.csv")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(InputFileError, match=r"unknown file type .\.xlsx."):
        assay.add_delta(store, "t", tmp_path / "x.xlsx")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputFileError, match="cannot read"):
        assay.add_delta(store, "t", tmp_path / "junk.parquet")
    pd.DataFrame({"id": [1]}).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(UsageError, match="op 'merge' is unknown"):
        assay.add_delta(store, "t", tmp_path / "ok.csv", op="merge")
    with pytest.raises(UsageError, match="name 'bad name' is not allowed"):
        assay.add_delta(store, "t", tmp_path / "ok.csv", name="bad name")
    with pytest.raises(KeyConflict, match="nothing to delete"):
        assay.add_delta(store, "t", tmp_path / "ok.csv", op="delete")
    assert objects_in(store) == set()


def test_names_a_recipe_would_misread_are_refused(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    pd.DataFrame({"id": [1]}).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(UsageError, match="delta name 'all' is reserved"):
        assay.add_delta(store, "t", tmp_path / "ok.csv", name="all")
    for name in ("587c9a053969", "ABCDEF", "201601"):
        with pytest.raises(UsageError, match=f"delta name '{name}' looks like a delta id"):
            assay.add_delta(store, "t", tmp_path / "ok.csv", name=name)
    pd.DataFrame({"id": [2]}).to_csv(tmp_path / "20160101.csv", index=False)
    with pytest.raises(
        UsageError, match=r"choose a --name with another letter, e\.g\. 'd20160101'"
    ):
        assay.add_delta(store, "t", tmp_path / "20160101.csv")  # the name defaults to the stem
    with pytest.raises(UsageError, match="name 'tag:x' is not allowed"):
        assay.add_delta(store, "t", tmp_path / "ok.csv", name="tag:x")
    assert objects_in(store) == set()
    # Short, or not all hex: allowed (the same content again is a no-op under its first name).
    for name in ("abcde", "cafe-2016", "alle", "all2"):
        assert assay.add_delta(store, "t", tmp_path / "ok.csv", name=name).delta.name == "abcde"


def test_an_empty_key_column_name_is_refused(store: assay.Store) -> None:
    with pytest.raises(UsageError, match=r"key 'id,,x' has an empty column name \(item 2\); "):
        assay.create_dataset(store, "t", ["id", "", "x"])
    with pytest.raises(UsageError, match=r"write --key id,x$"):
        assay.create_dataset(store, "t", ["id", " ", "x"])
    with pytest.raises(UsageError, match="a dataset needs a key"):
        assay.create_dataset(store, "t", [""])
    assert store.catalog.list_datasets() == []
    assert assay.create_dataset(store, "t", [" id", "x "]).key == ("id", "x")
