"""The object-store contract: every backend (local folder, S3) must pass all of it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from assay.errors import NotFound, UsageError
from assay.store.objects import ObjectStore, open_object_store


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store(str(tmp_path / "objects"))
    return open_object_store(request.getfixturevalue("s3_bucket") + "/objects")


def test_put_get_roundtrip(objects: ObjectStore, tmp_path: Path) -> None:
    objects.put_bytes("a/b/one.bin", b"\x00hello\xff")
    assert objects.get_bytes("a/b/one.bin") == b"\x00hello\xff"
    assert objects.exists("a/b/one.bin") and not objects.exists("a/b/two.bin")
    big = tmp_path / "big.bin"
    payload = bytes(range(256)) * 20_000  # 5 MB: more than one upload part
    big.write_bytes(payload)
    objects.put_file("a/big.bin", big)
    with objects.open("a/big.bin") as f:
        assert f.read() == payload


@pytest.mark.parametrize("sync", [True, False])
def test_put_writer_stores_what_is_written_and_a_failed_writer_leaves_nothing(
    objects: ObjectStore, sync: bool
) -> None:
    payload = bytes(range(256)) * 20_000

    def write(f: IO[bytes]) -> None:
        for i in range(0, len(payload), 65_536):
            f.write(payload[i : i + 65_536])

    objects.put_writer("w/whole.bin", write, sync=sync)
    assert objects.get_bytes("w/whole.bin") == payload

    def broken(f: IO[bytes]) -> None:
        f.write(payload[:1000])
        raise RuntimeError("the writer failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        objects.put_writer("w/half.bin", broken, sync=sync)
    assert not objects.exists("w/half.bin")
    assert list(objects.list("w")) == ["w/whole.bin"]  # no temporary file left behind


def test_put_file_as_stores_under_the_key_chosen_late_or_nowhere(
    objects: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "given.bin"
    payload = bytes(range(256)) * 20_000
    source.write_bytes(payload)
    seen: list[list[str]] = []

    def choose(key: str | None) -> Callable[[], str | None]:
        def chosen() -> str | None:
            seen.append(sorted(objects.list("late")))  # what readers see while it waits
            return key

        return chosen

    assert objects.put_file_as(source, choose("late/one.bin")) == "late/one.bin"
    assert objects.get_bytes("late/one.bin") == payload
    assert objects.put_file_as(source, choose(None)) is None
    with pytest.raises(RuntimeError, match="no key"):
        objects.put_file_as(source, lambda: (_ for _ in ()).throw(RuntimeError("no key")))
    # Nothing shows under a key before it is chosen, and no staged copy is left behind.
    assert seen == [[], ["late/one.bin"]]
    assert [k for k in objects.list() if ".tmp-" in k] == []
    assert sorted(objects.list()) == ["late/one.bin"]


@pytest.mark.parametrize("size", [0, 1, 4096, 4096 * 37 + 5])
def test_a_copy_in_many_chunks_is_the_file_byte_for_byte(
    objects: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A local store copies a file a chunk at a time (each handed to the disk as it
    goes): a short last chunk, an empty file and an exact multiple come out whole."""
    import random

    import assay.store.objects

    monkeypatch.setattr(assay.store.objects, "_COPY_CHUNK", 4096)
    stored_whole_both_ways(objects, tmp_path, random.Random(size).randbytes(size))


def test_a_file_that_cannot_be_sent_is_copied_through_the_process(
    objects: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel refuses ``sendfile`` for a file (some FUSE mounts), the copy
    goes through the process instead, whole."""
    import errno
    import os
    import random

    def refuse(*args: object) -> int:
        raise OSError(errno.EINVAL, "sendfile not supported here")

    monkeypatch.setattr(os, "sendfile", refuse)
    stored_whole_both_ways(objects, tmp_path, random.Random(7).randbytes(100_003))


def stored_whole_both_ways(objects: ObjectStore, tmp_path: Path, payload: bytes) -> None:
    """``payload``, as a file, stored by ``put_file`` and by ``put_file_as``, reads back
    byte for byte under both keys."""
    source = tmp_path / "given.bin"
    source.write_bytes(payload)
    objects.put_file("copied/put.bin", source)
    assert objects.put_file_as(source, lambda: "copied/late.bin") == "copied/late.bin"
    for key in ("copied/put.bin", "copied/late.bin"):
        assert objects.get_bytes(key) == payload


def test_list_and_delete(objects: ObjectStore) -> None:
    for key in ["x/2", "x/1", "y/1"]:
        objects.put_bytes(key, key.encode())
    assert list(objects.list("x")) == ["x/1", "x/2"]
    assert sorted(objects.list()) == ["x/1", "x/2", "y/1"]
    objects.delete("x/1")
    objects.delete("x/1")  # deleting a missing key is not an error
    assert list(objects.list("x")) == ["x/2"]
    assert list(objects.list("nothing-here")) == []


def test_missing_and_bad_keys(objects: ObjectStore) -> None:
    with pytest.raises(NotFound, match=r"missing.*assay verify"):
        objects.get_bytes("nope")
    with pytest.raises(NotFound):
        objects.open("nope")
    for bad in ["../escape", "/abs", "a/../../b", ""]:
        with pytest.raises(UsageError, match="not a relative path"):
            objects.put_bytes(bad, b"x")


def test_failed_write_leaves_nothing(objects: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        objects.put_file("k", tmp_path / "does-not-exist")
    assert not objects.exists("k")
    assert list(objects.list()) == []


def test_concurrent_writers_never_tear_an_object(objects: ObjectStore) -> None:
    # Content-addressed writers may race on one key; a reader must see a whole value.
    values = [bytes([i]) * 300_000 for i in range(6)]
    errors: list[BaseException] = []

    def write(v: bytes) -> None:
        try:
            objects.put_bytes("same", v)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert objects.get_bytes("same") in values
    assert list(objects.list()) == ["same"]  # no temporary files left behind


def test_uri_is_readable_by_fsspec(objects: ObjectStore) -> None:
    import fsspec

    objects.put_bytes("u/v", b"data")
    with fsspec.open(objects.uri("u/v"), "rb") as f:
        assert f.read() == b"data"
