"""Deltas stored as given (``add_delta(as_is=True)``, ``assay data add --as-is``).

The same rows stored canonically and as given must compose to the same version rows,
splits, balance and filters included; the as-given rows keep the file's order; its
statistics are the footer's; and anything the file cannot be stored as is refused
with one line, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.checks import check
from assay.data.hashing import as_is_content_id
from assay.errors import InputFileError, KeyConflict, SchemaError, UsageError
from assay.integrity import verify
from assay.store.objects import sha256_file
from tests_helpers import objects_in, run_assay, year

RECIPE = {
    "dataset": "e",
    "where": "AGEP >= 18",
    "split": {"seed": 3, "fractions": {"train": 0.7, "dev": 0.1, "test": 0.2}},
    "balance": {"column": "SEX", "max_share": {"1": 0.45}},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """2016's rows shuffled (not in key order), an upsert into them and a delete."""
    root = tmp_path_factory.mktemp("as_is")
    rows = year(acs, 2016)
    order = np.random.default_rng(16).permutation(rows.num_rows)
    pq.write_table(rows.take(order), root / "y2016.parquet", row_group_size=4096)
    pq.write_table(year(acs, 2015), root / "y2015.parquet")
    ids = rows.column("id").to_numpy()[order][:300]
    fix = rows.take(order[:300]).set_column(
        rows.column_names.index("AGEP"), "AGEP", pa.array(np.full(300, 40, dtype=np.int64))
    )
    pq.write_table(fix, root / "fix.parquet")
    pq.write_table(pa.table({"id": ids[300 // 2 : 200]}), root / "gone.parquet")
    return root


def history(store: assay.Store, files: Path, *, as_is: bool) -> None:
    assay.create_dataset(store, "e", ["id"], label="employed")
    assay.add_delta(store, "e", files / "y2015.parquet", name="base")
    assay.add_delta(store, "e", files / "y2016.parquet", name="y2016", as_is=as_is)
    assay.add_delta(store, "e", files / "fix.parquet", op="upsert", name="fix")
    assay.add_delta(store, "e", files / "gone.parquet", op="delete", name="gone")


def test_same_version_rows_as_canonical_and_the_files_order(
    files: Path, tmp_path: Path, acs: pa.Table
) -> None:
    versions = {}
    for as_is in (False, True):
        with assay.init_store(tmp_path / f"s{as_is}") as store:
            history(store, files, as_is=as_is)
            [d2016] = [d for d in store.catalog.list_deltas("e") if d.name == "y2016"]
            assert d2016.layout == ("as-is" if as_is else "canonical")
            versions[as_is] = assay.compose(RECIPE, store=store, record=False).to_pandas()
    canonical, given = versions[False], versions[True]
    assert len(given) == len(canonical) > 100_000
    by_key = canonical.sort_values("id").reset_index(drop=True)
    assert given.sort_values("id").reset_index(drop=True).equals(by_key)  # splits included
    # The 2016 rows come in the file's (shuffled) order, not sorted by key.
    file_ids = pq.read_table(files / "y2016.parquet", columns=["id"])["id"].to_numpy()
    got = given.id.to_numpy()
    mine = got[np.isin(got, file_ids)]
    fixed = set(pq.read_table(files / "fix.parquet", columns=["id"])["id"].to_pylist())
    kept = set(mine)
    # 2016's unreplaced rows in the file's order, then the upsert's rows in key order.
    expected = [i for i in file_ids if i in kept and i not in fixed]
    assert list(mine) == expected + sorted(i for i in fixed if i in kept)
    assert not np.all(np.diff(mine[:1000]) > 0)


def test_id_is_the_bytes_hash_and_statistics_come_from_the_footer(
    store: assay.Store, files: Path, tmp_path: Path
) -> None:
    assay.create_dataset(store, "e", ["id"], label="employed")
    path = files / "y2016.parquet"
    added = assay.add_delta(store, "e", path, as_is=True)
    d = added.delta
    assert d.delta_id == as_is_content_id(sha256_file(path), op="insert", key=["id"])
    assert d.object_sha256 == sha256_file(path)
    assert store.objects.get_bytes(d.object_key) == path.read_bytes()
    df = pd.read_parquet(path)
    assert d.row_count == len(df)
    for c in df.columns:
        s = d.stats[c]
        assert (s["count"], s["nulls"]) == (df[c].notna().sum(), df[c].isna().sum())
        if pd.api.types.is_numeric_dtype(df[c]):
            assert (s["min"], s["max"]) == (df[c].min(), df[c].max())
    assert d.label_counts == {str(k): int(v) for k, v in df.employed.value_counts().items()}
    # The same file again is the same delta; the same rows rewritten are refused.
    again = assay.add_delta(store, "e", path, as_is=True, name="again")
    assert not again.created and again.delta.delta_id == d.delta_id
    with pytest.raises(KeyConflict, match=r"already exist in dataset 'e'"):
        assay.add_delta(store, "e", path, name="rewritten")


def test_footer_statistics_with_nulls_and_times(store: assay.Store, tmp_path: Path) -> None:
    at = [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (5, 1, 9)]
    t = pa.table(
        {
            "id": pa.array([3, 1, 2], pa.int64()),
            "x": pa.array([None, 2.5, -1.0]),
            "when": pa.array(at, pa.timestamp("us", tz="UTC")),
            "s": pa.array(["b", None, "a"]),
        }
    )
    pq.write_table(t, tmp_path / "t.parquet", row_group_size=2)
    assay.create_dataset(store, "t", ["id"])
    stats = assay.add_delta(store, "t", tmp_path / "t.parquet", as_is=True).delta.stats
    assert stats["x"] == {"type": "double", "count": 2, "nulls": 1, "min": -1.0, "max": 2.5}
    assert stats["s"] == {"type": "string", "count": 2, "nulls": 1}
    assert stats["when"]["min"].startswith("2024-01-01") and stats["when"]["max"].startswith(
        "2024-01-09"
    )
    # A writer that kept no statistics: counts are left to readers, never guessed.
    pq.write_table(
        t.slice(0, 0).append_column("k", pa.array([], pa.int64())), tmp_path / "e.parquet"
    )
    pq.write_table(
        pa.table({"id": [7, 8], "x": [1.0, None], "when": at[:2], "s": ["c", "d"]}),
        tmp_path / "n.parquet",
        write_statistics=False,
    )
    bare = assay.add_delta(store, "t", tmp_path / "n.parquet", as_is=True).delta.stats
    assert bare["x"] == {"type": "double"}
    suite = {
        "suite": "footer",
        "expectations": [
            {"null_fraction": {"column": "x", "max": 0.3}},
            {"row_count": {"min": 5}},
        ],
    }
    report = check(suite, {"dataset": "t"}, store=store, record=False)
    assert [r.passed for r in report.results] == [False, True]  # x: 2 nulls in 5 rows
    assert report.results[0].observed == pytest.approx(0.4)


def refused(store: assay.Store, path: Path, match: str, exc: type[Exception], **kw: object) -> None:
    before = objects_in(store)
    with pytest.raises(exc, match=match):
        assay.add_delta(store, "t", path, as_is=True, **kw)  # type: ignore[arg-type]
    assert objects_in(store) == before  # nothing written


def test_refusals_before_anything_is_written(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "t", ["id"])
    good = pa.table({"id": pa.array([1, 2], pa.int64()), "v": [1.0, 2.0]})
    pq.write_table(good, tmp_path / "good.parquet")
    assay.add_delta(store, "t", tmp_path / "good.parquet", as_is=True)

    def write(name: str, table: pa.Table, **kw: object) -> Path:
        pq.write_table(table, tmp_path / name, **kw)  # type: ignore[arg-type]
        return tmp_path / name

    (tmp_path / "folder.parquet").mkdir()
    refused(store, tmp_path / "folder.parquet", "is a folder; give a Parquet file", InputFileError)
    pd.DataFrame({"id": [5], "v": [1.0]}).to_csv(tmp_path / "c.csv", index=False)
    refused(store, tmp_path / "c.csv", "stores Parquet files as they are", UsageError)
    narrow = pa.table({"id": pa.array([5], pa.int32()), "v": [1.0]})
    refused(
        store, write("n.parquet", narrow), "'id' is int32, which assay stores as int64", SchemaError
    )
    wider = pa.table({"id": pa.array([5], pa.int64()), "v": pa.array([1], pa.int64())})
    refused(
        store,
        write("w.parquet", wider),
        "'v' would be converted to the dataset's double",
        SchemaError,
    )
    empty = pa.table({"id": pa.array([5], pa.int64()), "v": [1.0], "e": pa.nulls(1)})
    refused(store, write("e.parquet", empty), "'e' is null", SchemaError)
    refused(store, write("k.parquet", pa.table({"v": [1.0]})), "lacks key column", SchemaError)
    dup = pa.table({"id": pa.array([7, 8, 7], pa.int64()), "v": [1.0, 2.0, 3.0]})
    refused(
        store, write("d.parquet", dup), r"1 row\(s\) repeat a key .* \(e\.g\. id=7\)", KeyConflict
    )
    nokey = pa.table({"id": pa.array([9, None], pa.int64()), "v": [1.0, 2.0]})
    refused(store, write("nk.parquet", nokey), "key column 'id' is empty in 1 row", KeyConflict)
    again = good.set_column(1, "v", pa.array([5.0, 6.0]))  # other bytes, the same keys
    refused(store, write("x.parquet", again), r"2 key\(s\) already exist", KeyConflict)
    # A taken name is the answer before the keys are (they are checked while the file
    # is hashed, its hash naming the delta); and no key leaves a run behind.
    refused(
        store, tmp_path / "x.parquet", "already has a delta named 'good'", UsageError, name="good"
    )
    fresh = write("f.parquet", pa.table({"id": pa.array([3], pa.int64()), "v": [3.0]}))
    refused(store, fresh, "already has a delta named 'good'", UsageError, name="good")
    big = pa.table({"id": pa.array(np.arange(10, 10 + (1 << 20) + 1), pa.int64())})
    big = big.append_column("v", pa.array(np.zeros(big.num_rows)))
    refused(
        store,
        write("b.parquet", big, row_group_size=1 << 21),
        "row group of 1,048,577 rows",
        UsageError,
    )
    refused(store, write("u.parquet", good), "an upsert is rewritten", UsageError, op="upsert")


def test_a_refusal_names_the_file_s_first_offending_row(store: assay.Store, tmp_path: Path) -> None:
    """The key hashes are sorted where they lie (no copy); the example a refusal names is
    still the first offending row in the file's order, whichever hash sorts first."""
    assay.create_dataset(store, "t", ["id"])
    pq.write_table(
        pa.table({"id": pa.array(np.arange(1, 1001), pa.int64())}), tmp_path / "a.parquet"
    )
    assay.add_delta(store, "t", tmp_path / "a.parquet", as_is=True)
    rng = np.random.default_rng(3)
    for trial in range(5):
        new = rng.permutation(np.arange(5000, 5200))
        # Repeats: 40 keys twice each, scattered; the first row that repeats one is the
        # first of them in the file.
        twice = rng.choice(new[:100], 40, replace=False)
        ids = rng.permutation(np.concatenate([new, twice]))
        repeated = set(twice.tolist())
        first = next(int(i) for i in ids if i in repeated)
        path = tmp_path / f"dup{trial}.parquet"
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), path)
        refused(store, path, rf"40 row\(s\) repeat a key .*\(e\.g\. id={first}\)", KeyConflict)
        # Keys the dataset has: the first such row in the file is the example.
        old = rng.choice(np.arange(1, 1001), 30, replace=False)
        ids = rng.permutation(np.concatenate([new, old]))
        first = next(int(i) for i in ids if i < 1001)
        path = tmp_path / f"old{trial}.parquet"
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), path)
        refused(store, path, rf"30 key\(s\) already exist .*\(e\.g\. id={first}\)", KeyConflict)


def test_cli_as_is_and_verify(files: Path, tmp_path: Path) -> None:
    shutil.copy(files / "y2016.parquet", tmp_path / "y2016.parquet")
    assert run_assay("init", cwd=tmp_path).rc == 0
    assert run_assay("data", "create", "e", "--key", "id", cwd=tmp_path).rc == 0
    added = run_assay("data", "add", "e", "y2016.parquet", "--as-is", "--json", cwd=tmp_path)
    assert added.rc == 0, added.err
    assert added.json()["delta"]["layout"] == "as-is"
    log = run_assay("data", "log", "e", "--json", cwd=tmp_path).json()
    assert [d["layout"] for d in log["deltas"]] == ["as-is"]
    bad = run_assay("data", "add", "e", "y2016.parquet", "--as-is", "--op", "upsert", cwd=tmp_path)
    assert bad.rc == 2 and "drop --as-is" in bad.error_line()
    assert run_assay("verify", cwd=tmp_path).rc == 0
    # A damaged object is found: its bytes no longer give the delta id.
    with assay.open_store(tmp_path / ".assay") as store:
        [d] = store.catalog.list_deltas("e")
        path = Path(store.objects.local_path(d.object_key) or "")
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert run_assay("verify", cwd=tmp_path).rc == 1


def test_verify_rebuilds_the_index_and_recover_keeps_the_layout(
    files: Path, tmp_path: Path
) -> None:
    with assay.init_store(tmp_path / ".assay") as store:
        history(store, files, as_is=True)
        report = verify(store)
        assert report.ok, report.problems
        expected = assay.compose(RECIPE, store=store, record=False).to_pandas()
    (tmp_path / ".assay" / "catalog.db").unlink()
    assert run_assay("recover", cwd=tmp_path).rc == 0
    with assay.open_store(tmp_path / ".assay") as store:
        layouts = [d.layout for d in store.catalog.list_deltas("e")]
        assert layouts == ["canonical", "as-is", "canonical", "canonical"]
        got = assay.compose(RECIPE, store=store, record=False).to_pandas()
    assert got.equals(expected)


def test_incremental_check_over_a_delta_stored_as_given(files: Path, tmp_path: Path) -> None:
    suite = {
        "suite": "as-is",
        "expectations": [
            {"mean_between": {"column": "AGEP", "min": 30, "max": 60}},
            {"unique": {"column": "id"}},
            {"row_count": {"min": 1}},
            {"between": {"column": "AGEP", "min": 0, "max": 39}},  # fails, with examples
        ],
    }
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "e", ["id"], label="employed")
        assay.add_delta(store, "e", files / "y2015.parquet", name="base")
        assay.add_delta(store, "e", files / "y2016.parquet", name="y2016", as_is=True)
        recipe = {"dataset": "e"}
        check(suite, recipe, store=store)
        assay.add_delta(store, "e", files / "fix.parquet", op="upsert", name="fix")
        incremental = check(suite, recipe, store=store).to_dict()
        full = check(suite, recipe, store=store, full=True).to_dict()
        df = assay.compose(recipe, store=store, record=False).to_pandas()
    assert incremental["incremental"]["used"] is True, incremental["incremental"]
    assert incremental["incremental"]["deltas_read"] == ["fix", "y2016"]
    for x, y in zip(incremental["results"], full["results"], strict=True):
        assert x["passed"] == y["passed"]
        assert x["observed"] == pytest.approx(y["observed"], rel=1e-12), x["label"]
    assert incremental["results"][0]["observed"] == pytest.approx(df.AGEP.mean())


@pytest.mark.parametrize("groups", [1, 2, 7])
def test_key_columns_read_by_row_group_keep_the_file_s_order(tmp_path: Path, groups: int) -> None:
    """The key columns are read a span of row groups a thread; put back together they
    must be the file's rows in the file's order, nulls included."""
    from assay.data.as_is import _read_columns

    rng = np.random.default_rng(5)
    n = 7 * 1000 + 13
    table = pa.table(
        {
            "id": rng.permutation(n).astype(np.int64),
            "name": pa.array([None if i % 97 == 0 else f"k{i}" for i in range(n)]),
            "x": rng.normal(size=n),
        }
    )
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=-(-n // groups))
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == groups
    got = _read_columns(str(path), parquet, ["name", "id"])
    assert got.equals(table.select(["name", "id"]))
