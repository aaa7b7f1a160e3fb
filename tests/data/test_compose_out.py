"""``compose --out`` streamed: the same bytes as the materialising writer, a row group
at a time, atomically."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.compose import resolve_version, write_canonical_parquet
from assay.data.deltas import ROW_GROUP
from assay.errors import IntegrityError
from tests_helpers import run_assay, year

SPLIT = {"seed": 7, "fractions": {"train": 0.7, "valid": 0.1, "test": 0.2}}
RECIPES: dict[str, dict[str, Any]] = {
    # ~210k rows: two row groups, the second one partial.
    "all": {"dataset": "emp"},
    "split_slices": {"dataset": "emp", "split": SPLIT, "slices": {"old": "AGEP >= 65"}},
    "where_columns": {"dataset": "emp", "where": "AGEP >= 30", "columns": ["id", "AGEP", "SEX"]},
    # the upsert's target rows unselected, then everything up to the delete
    "skip_upsert": {"dataset": "emp", "deltas": {"exclude": ["fix"]}},
    "until_delete": {"dataset": "emp", "deltas": {"until": "gone"}, "where": "SEX = 2"},
    # one partial row group, and none at all
    "small": {"dataset": "emp", "deltas": {"include": ["base"]}, "where": "AGEP < 40"},
    "empty": {"dataset": "emp", "where": "AGEP > 500"},
}


@pytest.fixture(scope="module")
def emp(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[assay.Store]:
    """Three survey years with an upsert of 20,000 rows and a delete of 10,000 between."""
    root = tmp_path_factory.mktemp("compose-out")
    fix = year(acs, 2015).slice(5_000, 20_000)
    fix = fix.set_column(fix.schema.get_field_index("AGEP"), "AGEP", pc.add(fix["AGEP"], 1))
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "emp", ["id"], label="employed")
        for name, table, op in [
            ("base", year(acs, 2015), "insert"),
            ("y2016", year(acs, 2016), "insert"),
            ("fix", fix, "upsert"),
            ("gone", year(acs, 2016).slice(30_000, 10_000).select(["id"]), "delete"),
            ("y2017", year(acs, 2017), "insert"),
        ]:
            pq.write_table(table, root / f"{name}.parquet")
            assay.add_delta(store, "emp", root / f"{name}.parquet", name=name, op=op)
        yield store


def materialised_bytes(table: pa.Table, path: Path) -> bytes:
    """The reference: the writer as it was, the whole version in memory, cut by slicing."""
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for offset in range(0, max(table.num_rows, 1), ROW_GROUP):
            writer.write_table(
                table.slice(offset, ROW_GROUP).combine_chunks(), row_group_size=ROW_GROUP
            )
    return path.read_bytes()


@pytest.mark.parametrize("name", RECIPES)
def test_streamed_bytes_are_the_materialised_bytes(
    emp: assay.Store, tmp_path: Path, name: str
) -> None:
    recipe = RECIPES[name]
    whole = assay.compose(recipe, store=emp, record=False)
    want = materialised_bytes(whole.table, tmp_path / "want.parquet")
    streamed = assay.compose(recipe, store=emp, record=False, out=tmp_path / "got.parquet")
    assert streamed._table is None  # streamed, never materialised
    assert (tmp_path / "got.parquet").read_bytes() == want
    assert streamed.summary() == whole.summary()  # counted on the way, slices included
    # A materialised version writes the same bytes too.
    assert whole.write_parquet(tmp_path / "again.parquet").read_bytes() == want
    meta = pq.read_metadata(tmp_path / "got.parquet")
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    sizes = {"all": 2, "split_slices": 2, "small": 1, "empty": 1}
    if name in sizes:  # the cases straddle what they say they straddle
        assert len(groups) == sizes[name] and sum(groups) == whole.table.num_rows
        assert all(n == ROW_GROUP for n in groups[:-1]) and groups[-1] < ROW_GROUP


def test_the_writer_holds_a_row_group_never_the_rows(tmp_path: Path) -> None:
    """Fed 2,000 batches of 777 rows, the writer has at most a few row groups of 1,000
    rows in Arrow memory whenever it asks for the next batch."""
    schema = pa.schema([("x", pa.int64()), ("y", pa.float64())])
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1 << 40, 2_000 * 777)
    held: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for i in range(2_000):
            held.append(pa.total_allocated_bytes() - start)
            x = pc.add(pa.array(data[i * 777 : (i + 1) * 777]), 0)  # in Arrow's pool
            yield pa.record_batch([x, pc.multiply(x, 0.5)], schema=schema)

    start = pa.total_allocated_bytes()
    write_canonical_parquet(schema, batches(), tmp_path / "got.parquet", row_group=1_000)
    row_bytes = 16
    assert max(held) < 20 * 1_000 * row_bytes < len(data) * row_bytes // 50
    got = pq.ParquetFile(tmp_path / "got.parquet")
    assert got.metadata.num_row_groups == 1_554  # 1,554,000 rows in groups of 1,000
    assert got.read().column("x").to_numpy().tolist() == data.tolist()
    # ... and the bytes depend on the rows only, not on how the stream cut them.
    whole = pa.table({"x": data, "y": data * 0.5}, schema=schema)
    write_canonical_parquet(schema, whole.to_batches(), tmp_path / "one.parquet", row_group=1_000)
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "got.parquet").read_bytes()


def test_a_failure_midway_leaves_nothing(emp: assay.Store, tmp_path: Path) -> None:
    """A delta found damaged after rows were written: no file, no temporary file, the
    old file untouched, and no version recorded."""
    version = resolve_version(RECIPES["all"], store=emp)
    last = version.deltas[-1]
    key = emp.objects.local_path(last.object_key)
    assert key is not None
    saved = Path(key).read_bytes()
    out = tmp_path / "out" / "v.parquet"
    out.parent.mkdir()
    out.write_bytes(b"the old file")
    try:
        os.chmod(key, 0o644)
        Path(key).write_bytes(saved[:-100] + bytes(100))  # readable length, wrong hash
        with pytest.raises(IntegrityError, match="y2017"):
            assay.compose(RECIPES["all"], store=emp, out=out)
    finally:
        Path(key).write_bytes(saved)
    assert out.read_bytes() == b"the old file"
    assert [p.name for p in out.parent.iterdir()] == ["v.parquet"]
    assert emp.catalog.list_versions("emp") == []


def test_cli_compose_and_show_stream_the_same_bytes(emp: assay.Store, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("dataset: emp\nsplit: {seed: 7}\nwhere: 'AGEP >= 18'\n")
    want = materialised_bytes(
        assay.compose(tmp_path / "r.yaml", store=emp, record=False).table, tmp_path / "w.parquet"
    )
    store = ["--store", emp.url]
    done = run_assay(
        "data", "compose", "r.yaml", "--out", "a.parquet", *store, "--json", cwd=tmp_path
    )
    assert done.rc == 0, done.err
    assert (tmp_path / "a.parquet").read_bytes() == want
    summary = done.json()
    assert summary["rows"] == pq.read_metadata(tmp_path / "a.parquet").num_rows > ROW_GROUP
    shown = run_assay(
        "data", "show", summary["fingerprint"][:12], "--out", "b.parquet", *store, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert shown.rc == 0, shown.err
    assert (tmp_path / "b.parquet").read_bytes() == want
    assert shown.json()["splits"] == summary["splits"]
