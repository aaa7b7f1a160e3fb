"""What ingest stores besides the rows: column statistics (against pandas) and how the
delta's Parquet object is encoded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.deltas import HASH_COLUMN


def rows() -> pa.Table:
    """Every stored type, nulls in most; ``id`` the key, ``code`` a unique string."""
    rng = np.random.default_rng(11)
    n = 3_000
    words = np.array(["", "a", "héllo", "東京", "z" * 50])
    days = np.array([dt.date(2020, 1, 1) + dt.timedelta(days=d) for d in range(40)])
    return pa.table(
        {
            "w": pa.array(words[rng.integers(0, 5, n)].tolist(), mask=rng.random(n) < 0.2),
            "id": pa.array(rng.permutation(n) * 3, pa.int64()),
            "i": pa.array(rng.integers(-9, 9, n), mask=rng.random(n) < 0.3),
            # No -0.0: Arrow's distinct count tells it from 0.0, pandas' does not.
            "x": pa.array(np.round(rng.normal(size=n), 2) + 0.0),
            "big": pa.array(rng.integers(0, 2**62, n)),
            "code": pa.array([f"c{v:012x}" for v in rng.permutation(n)]),
            "day": pa.array(days[rng.integers(0, 40, n)], mask=rng.random(n) < 0.1),
            "flag": pa.array(rng.random(n) < 0.5),
            "none": pa.nulls(n, pa.float64()),
        }
    )


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pa.Table, assay.Store]]:
    """``rows()`` committed as the one delta of dataset ``s`` (key ``id``)."""
    tmp = tmp_path_factory.mktemp("storage")
    table = rows()
    pq.write_table(table, tmp / "t.parquet")
    with assay.init_store(tmp / ".assay") as store:
        assay.create_dataset(store, "s", ["id"])
        assay.add_delta(store, "s", tmp / "t.parquet")
        yield table, store


def test_statistics_of_every_type_match_pandas(committed: tuple[pa.Table, assay.Store]) -> None:
    table, store = committed
    stats = store.catalog.list_deltas("s")[0].stats
    assert list(stats) == table.column_names  # the file's column order, whatever ran first
    df = table.to_pandas()
    for name in table.column_names:
        s, col = stats[name], df[name]
        assert (s["count"], s["nulls"]) == (col.notna().sum(), col.isna().sum()), name
        assert s.get("distinct") == (None if name in ("id", "none") else col.nunique()), name
    for name in ("i", "x", "big"):
        col = df[name].dropna()
        assert (stats[name]["min"], stats[name]["max"]) == (col.min(), col.max())
        assert stats[name]["mean"] == pytest.approx(col.mean(), rel=1e-12)
        assert stats[name]["std"] == pytest.approx(col.std(), rel=1e-9)
    assert stats["day"]["min"] == str(pd.Series(df["day"]).dropna().min())
    assert "mean" not in stats["day"] and "min" not in stats["w"]
    assert stats["none"] == {"type": "double", "count": 0, "nulls": len(df)}


def test_only_repeating_columns_are_dictionary_encoded(
    committed: tuple[pa.Table, assay.Store],
) -> None:
    # Unique columns (the key, its hash, ``code``, ``big``) go plain: a dictionary of
    # values that never repeat is work and bytes for nothing.
    table, store = committed
    delta = store.catalog.list_deltas("s")[0]
    path = store.objects.local_path(delta.object_key)
    assert path is not None
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == table.num_rows
    group = meta.row_group(0)
    encodings = {
        group.column(i).path_in_schema: set(group.column(i).encodings)
        for i in range(group.num_columns)
    }
    plain = {"id", HASH_COLUMN, "code", "big", "none"}  # unique, or no values at all
    assert set(encodings) == set(table.column_names) | {HASH_COLUMN}
    for i, (name, used) in enumerate(encodings.items()):
        assert group.column(i).compression == "ZSTD"
        repeats = name not in plain and name != "flag"  # Parquet has no boolean dictionary
        assert ("RLE_DICTIONARY" in used) == repeats, (name, used)
    # ``x`` (400-odd values in 3,000 rows) repeats enough for a dictionary; ``big`` not.
    assert delta.stats["x"]["distinct"] < 3_000 // 4 < delta.stats["big"]["distinct"]
