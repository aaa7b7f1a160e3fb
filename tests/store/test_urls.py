"""Data files by fsspec URL: a local copy, hashed on the way, gone afterwards."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import InputFileError, MissingDependency, SchemaError, UsageError
from assay.store.urls import fetched, is_url
from tests_helpers import year


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh folder on fsspec's in-process memory filesystem, removed afterwards."""
    root = f"memory://t-{uuid.uuid4().hex[:8]}"
    yield root
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def _put(url: str, data: bytes) -> None:
    with fsspec.open(url, "wb") as f:
        f.write(data)


def test_urls_are_told_from_paths() -> None:
    assert is_url("s3://b/k.csv") and is_url("hf://datasets/x/y.parquet")
    assert is_url("simplecache::s3://b/k.csv") and is_url("file:///tmp/x.csv")
    assert not is_url("data/2019.csv") and not is_url("/abs/x.parquet")


def test_a_copy_is_hashed_while_read_and_removed_after(bucket: str) -> None:
    data = b"id,x\n1,2\n" * 5000
    _put(f"{bucket}/rows.csv", data)
    with fetched(f"{bucket}/rows.csv") as copy:
        local = copy.path
        assert local.read_bytes() == data and local.name == "rows.csv"
        assert copy.sha256 == hashlib.sha256(data).hexdigest() and copy.size == len(data)
    assert not local.exists() and not local.parent.exists()


def test_a_url_delta_is_the_delta_of_the_same_file_on_disk(
    store: assay.Store, acs: pa.Table, tmp_path: Path, bucket: str
) -> None:
    path = tmp_path / "y2017.parquet"
    pq.write_table(year(acs, 2017).slice(0, 3000), path)
    _put(f"{bucket}/y2017.parquet", path.read_bytes())
    assay.create_dataset(store, "local", ["id"], label="employed")
    assay.create_dataset(store, "remote", ["id"], label="employed")
    want = assay.add_delta(store, "local", path)
    got = assay.add_delta(store, "remote", f"{bucket}/y2017.parquet")
    assert got.delta.delta_id == want.delta.delta_id and got.delta.name == "y2017"
    assert want.source is None
    assert got.source == {
        "url": f"{bucket}/y2017.parquet",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
    }


def test_what_cannot_be_read_is_one_line_naming_the_url(store: assay.Store, bucket: str) -> None:
    assay.create_dataset(store, "d", ["id"])
    _put(f"{bucket}/d/a.csv", b"id\n1\n")
    cases = [
        (f"{bucket}/nope.csv", InputFileError, f"{bucket}/nope.csv does not exist; check the URL"),
        (f"{bucket}/d", InputFileError, f"{bucket}/d is a folder; give the URL of one data file"),
        ("nosuch://b/k.csv", UsageError, "nosuch://b/k.csv: fsspec knows no protocol 'nosuch'; "
         "use a local path or a URL such as s3://, gs://, hf://, https:// or memory://"),
        ("gs://b/k.csv", MissingDependency, "gs:// URLs need the fsspec filesystem package "
         "gcsfs, which is not installed; pip install gcsfs"),
    ]  # fmt: skip
    for url, error, message in cases:
        with pytest.raises(error) as e:
            assay.add_delta(store, "d", url, name="x")
        assert str(e.value) == message
    assert store.catalog.list_deltas("d") == []
    # An error about the file's contents names the URL, not the temporary copy.
    _put(f"{bucket}/good.csv", b"id,x\n1,2\n")
    _put(f"{bucket}/bad.csv", b"id,x\n2,oops\n")
    assay.add_delta(store, "d", f"{bucket}/good.csv")
    with pytest.raises(
        SchemaError, match=rf"^'{bucket}/bad.csv': column 'x' holds 'oops', not int64"
    ):
        assay.add_delta(store, "d", f"{bucket}/bad.csv")
    assert [d.name for d in store.catalog.list_deltas("d")] == ["good"]
