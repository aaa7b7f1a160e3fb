"""Tests for ``assay.files``: atomic output writes that keep the umask's mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assay.files import atomic_folder, atomic_write, current_umask, default_mode


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under ``mask``; the old umask comes back afterwards."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_new_file_gets_the_umask_mode(tmp_path: Path, mask: int, expected: int) -> None:
    target = tmp_path / "sub" / "report.html"  # the folder is created too
    with umask(mask):
        assert current_umask() == mask
        assert default_mode() == expected
        with atomic_write(target) as tmp:
            tmp.write_text("<p>done</p>")
    assert target.read_text() == "<p>done</p>"
    assert mode(target) == expected
    assert os.listdir(target.parent) == ["report.html"]  # no temporary file left


def test_replacing_a_private_file_gives_the_umask_mode(tmp_path: Path) -> None:
    # Files earlier versions wrote 0600 become readable once rewritten.
    target = tmp_path / "train.parquet"
    target.write_bytes(b"old")
    target.chmod(0o600)
    with umask(0o022), atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert (target.read_bytes(), mode(target)) == (b"new", 0o644)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]


def test_the_temporary_file_is_beside_the_target_and_hidden(tmp_path: Path) -> None:
    # Same folder: the final rename is atomic (same filesystem); hidden: `ls` stays clean.
    with atomic_write(tmp_path / "r.html") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".r.html.")
        tmp.write_text("x")


def test_a_folder_appears_whole_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with umask(0o022), atomic_folder(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.")
        (tmp / "data").mkdir()
        (tmp / "data" / "model.pth").write_bytes(b"weights")
        assert not target.exists()  # nothing under the name until the rename
    assert (target / "data" / "model.pth").read_bytes() == b"weights"
    assert mode(target) == 0o755  # not mkdtemp's 0700
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_a_failed_folder_leaves_nothing_and_an_empty_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_folder(target) as tmp:
        (tmp / "MLmodel").write_text("half")
        raise RuntimeError("disk on fire")
    assert sorted(os.listdir(tmp_path)) == ["model"] and not any(target.iterdir())
    with atomic_folder(target) as tmp:
        (tmp / "MLmodel").write_text("whole")
    assert (target / "MLmodel").read_text() == "whole"
