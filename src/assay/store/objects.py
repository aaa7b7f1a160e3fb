"""Immutable objects (delta files, reports, artifacts) under a URL, through fsspec.

An object store knows nothing about what it holds: it puts bytes under a key, hands
them back, lists and deletes them. Writes are atomic — a reader sees the whole object
or none of it — so a crash mid-write leaves at most a stray temporary file that
``assay gc`` removes, never a truncated object under a real key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import signal
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec

from assay.errors import NotFound, UsageError
from assay.extras import require

__all__ = [
    "FsspecObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "filesystem",
    "open_object_store",
    "sha256_file",
]

TMP_MARK = ".tmp-"

# Test hook, not an interface: ``ASSAY_CRASH_AT=<point>`` makes the process kill itself
# (SIGKILL: no clean-up, like a power cut) when a write reaches that named point; see
# tests/store/test_crash.py for the points. Read once at import, so it costs nothing
# when unset.
_CRASH_AT = os.environ.get("ASSAY_CRASH_AT") or None


def crash_point(name: str) -> None:
    """Kill this process here if ``ASSAY_CRASH_AT`` names ``name`` (a test hook)."""
    if name == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing knows of an object: its key, size and last modification time."""

    key: str
    size: int
    modified: float  # seconds since the epoch


class ObjectStore(ABC):
    """The contract every object backend meets (tests/store/test_objects_contract.py)."""

    url: str

    @abstractmethod
    def put_file(self, key: str, path: str | Path) -> None:
        """Store a local file's bytes under ``key``, atomically."""

    def put_file_as(self, path: str | Path, key: Callable[[], str | None]) -> str | None:
        """``put_file(key(), path)``, where ``key()`` may take a while (the file's own hash,
        say) and returns None when the bytes are not wanted after all; returns the key
        written. A local store copies the bytes beside their place meanwhile."""
        chosen = key()
        if chosen is not None:
            self.put_file(chosen, path)
        return chosen

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically."""

    def put_writer(
        self, key: str, write: Callable[[IO[bytes]], object], *, sync: bool = True
    ) -> None:
        """Store what ``write(file)`` writes under ``key``, atomically (a large derived
        object is written once, not written to a temporary file and copied).
        ``sync=False`` does not wait for the disk: for derived objects that readers
        check and rebuild, which after a power loss may be found short under their key."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="assay-") as tmp:
            local = Path(tmp) / "object"
            with open(local, "wb") as f:
                write(f)
            self.put_file(key, local)

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``NotFound`` if there are none."""

    @abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """A binary file object reading ``key``."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` (temporary files of unfinished writes included)."""

    @abstractmethod
    def list_info(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """``list``, with each object's size and modification time."""

    @abstractmethod
    def local_path(self, key: str) -> str | None:
        """A path engines can read directly, or None when the object is remote."""

    def uri(self, key: str) -> str:
        """The full URL of ``key``."""
        return f"{self.url.rstrip('/')}/{key}"


class FsspecObjectStore(ObjectStore):
    """Objects on any fsspec filesystem: local folders, S3, GCS, Azure."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = "file" in _protocols(self.fs)

    def _path(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise UsageError(f"object key {key!r} is not a relative path inside the store")
        return f"{self.root}/{key}"

    def put_file(self, key: str, path: str | Path) -> None:
        if self.is_local:
            self._put_local(key, lambda tmp: _copy_file(path, tmp))
        else:
            # Object stores make a PUT visible whole or not at all.
            self.fs.put_file(str(path), self._path(key))

    def put_file_as(self, path: str | Path, key: Callable[[], str | None]) -> str | None:
        if not self.is_local:
            return super().put_file_as(path, key)
        os.makedirs(self.root, exist_ok=True)
        staged = f"{self.root}/{TMP_MARK}{uuid.uuid4().hex}"
        try:
            with open(staged, "wb+") as f:
                _copy_writing_back(path, f)
                chosen = key()
                if chosen is None:
                    return None
                os.fsync(f.fileno())
            crash_point("object-partial")
            target = self._path(chosen)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(staged, target)
            return chosen
        finally:
            if os.path.exists(staged):
                os.unlink(staged)

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.is_local:
            self._put_local(key, lambda tmp: Path(tmp).write_bytes(data))
        else:
            self.fs.pipe_file(self._path(key), data)

    def put_writer(
        self, key: str, write: Callable[[IO[bytes]], object], *, sync: bool = True
    ) -> None:
        if not self.is_local:
            return super().put_writer(key, write, sync=sync)

        def into(tmp: str) -> None:
            with open(tmp, "wb") as f:
                write(f)

        self._put_local(key, into, sync=sync)

    def _put_local(self, key: str, write: Callable[[str], object], sync: bool = True) -> None:
        """Write beside the target, sync, then rename: rename is atomic on POSIX."""
        target = self._path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}{TMP_MARK}{uuid.uuid4().hex}"
        try:
            write(tmp)
            if sync:  # a derived object (not synced) is not the crash tests' "object"
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                crash_point("object-partial")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise NotFound(
                f"object {key!r} is missing from {self.url}; run `assay verify`"
            ) from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(
                f"object {key!r} is missing from {self.url}; run `assay verify`"
            ) from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        base = f"{self.root}/{prefix}".rstrip("/")
        if not self.fs.exists(base):
            return
        root = self.root.rstrip("/") + "/"
        for path in sorted(self.fs.find(base)):
            yield path[len(root) :] if path.startswith(root) else path

    def list_info(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = f"{self.root}/{prefix}".rstrip("/")
        if not self.fs.exists(base):
            return
        root = self.root.rstrip("/") + "/"
        found = self.fs.find(base, detail=True)
        for path in sorted(found):
            info = found[path]
            key = path[len(root) :] if path.startswith(root) else path
            yield ObjectInfo(key, int(info.get("size") or 0), self._modified(path, info))

    def _modified(self, path: str, info: dict[str, Any]) -> float:
        mtime = info.get("mtime")
        if isinstance(mtime, int | float):
            return float(mtime)
        stamp = info.get("LastModified") or info.get("last_modified")
        if not isinstance(stamp, dt.datetime):
            stamp = self.fs.modified(path)
        if stamp.tzinfo is None:  # fsspec's convention: naive means UTC
            stamp = stamp.replace(tzinfo=dt.UTC)
        return stamp.timestamp()

    def local_path(self, key: str) -> str | None:
        return self._path(key) if self.is_local else None


#: How much of a copy is handed to the disk at a time (``_copy_writing_back``).
_COPY_CHUNK = 32 << 20


def _copy_file(path: str | Path, target: str) -> None:
    """Copy the file at ``path`` to a new file ``target`` (``_copy_writing_back``)."""
    with open(target, "wb") as out:
        _copy_writing_back(path, out)


def _copy_writing_back(path: str | Path, out: IO[bytes]) -> None:
    """Copy the file at ``path`` into ``out``, starting each chunk's write to disk as soon
    as it is copied, so that the disk writes while the copy goes on and a later ``fsync``
    finds most of it written (the kernel would otherwise hold up to a tenth of memory
    dirty, and a 1 GiB copy would reach the disk only at the sync, issue 13)."""
    if _sync_file_range is None:
        with open(path, "rb") as src:
            shutil.copyfileobj(src, out, _COPY_CHUNK)
        return
    fd = out.fileno()
    with open(path, "rb") as src:
        done = 0
        while True:
            # In the kernel, without passing through this process (as shutil.copyfile).
            try:
                n = os.sendfile(fd, src.fileno(), done, _COPY_CHUNK)
            except OSError:
                if done:
                    raise
                # A file system that cannot send (some FUSE mounts): copy through here,
                # as shutil.copyfile falls back.
                shutil.copyfileobj(src, out, _COPY_CHUNK)
                return
            if n == 0:
                break
            with contextlib.suppress(OSError):
                _sync_file_range(fd, done, n, 2)  # SYNC_FILE_RANGE_WRITE: start, no wait
            done += n


def _libc_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return call  # type: ignore[no-any-return]


_sync_file_range = _libc_sync_file_range()


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a local file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and path of a store's ``url``; ``MissingDependency`` with the
    pip line when its package is an extra that is not installed (s3fs)."""
    if url.startswith("s3://"):
        require("s3fs", "s3:// stores")
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def open_object_store(url: str) -> ObjectStore:
    """The object store for ``url`` (a folder path or any fsspec URL)."""
    if url.startswith("s3://"):
        require("s3fs", "s3:// stores")
    return FsspecObjectStore(url)
