"""Verify on read: no stored byte is used before its SHA-256 matches the catalog's.

The catalog records the SHA-256 of every object it names. ``Verifier`` hashes delta
objects on worker threads while the engine already reads them, and a reader hands on
what it read only once the object's hash is confirmed (``Verifier.read``, or
``confirm`` before yielding rows), so hashing costs little wall time and a damaged
or missing object never yields a row. A remote object is downloaded once into a
private temporary folder, hashed as it arrives, and read from there: the bytes the
engine reads are exactly the bytes that were hashed.

``read_verified`` does the same for whole objects read into memory (model
artifacts, golden examples, cached predictions).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from assay.errors import AssayError, IntegrityError, NotFound
from assay.store.catalog import DeltaInfo
from assay.store.objects import ObjectStore

__all__ = ["Verifier", "read_verified"]

T = TypeVar("T")
_BLOCK = 1 << 20
_FIX = "restore it from a backup, or run `assay verify`"
_POOL: list[ThreadPoolExecutor] = []


# A forked child (a DataLoader worker) inherits the pool but not its threads.
os.register_at_fork(after_in_child=_POOL.clear)


def _pool() -> ThreadPoolExecutor:
    """One process-wide pool: hashlib releases the GIL, so hashes use every core."""
    if not _POOL:
        _POOL.append(
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="assay-hash")
        )
    return _POOL[0]


def _describe(d: DeltaInfo) -> str:
    return f"delta {d.name!r} ({d.short_id}) of dataset {d.dataset!r}"


def read_verified(objects: ObjectStore, key: str, sha256: str, what: str) -> bytes:
    """The bytes of ``key`` once they hash to ``sha256``; ``IntegrityError`` naming
    ``what`` (e.g. "the artifact of model m@1") if the object is missing or damaged."""
    try:
        data = objects.get_bytes(key)
    except (NotFound, FileNotFoundError):
        raise IntegrityError(f"{what}: object {key} is missing; {_FIX}") from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise IntegrityError(
            f"{what}: object {key} is damaged (its bytes hash to {found[:12]}, the catalog "
            f"recorded {sha256[:12]}); {_FIX}"
        )
    return data


class Verifier:
    """Confirms delta objects against their recorded SHA-256 before their rows are used.

    ``start`` begins hashing (in the order given, so earlier deltas finish first);
    ``path`` is where readers read a delta's bytes; ``confirm`` waits for the hash and
    raises ``IntegrityError`` naming the dataset, the delta, the object and the fix.
    ``confirmed`` names object keys the caller has just hashed itself (``verify``).
    One verifier serves one operation: each object is hashed once per verifier, and
    never remembered beyond it, so damage after one read is caught by the next.
    """

    def __init__(self, objects: ObjectStore, *, confirmed: Iterable[str] = ()):
        self.objects = objects
        self._jobs: dict[str, Future[str]] = {}
        for key in confirmed:
            local = objects.local_path(key)
            if local is not None:  # a remote object still needs its verified copy
                self._jobs[key] = _done(local)
        self._tmp: str | None = None

    def start(self, deltas: Iterable[DeltaInfo]) -> None:
        """Begin hashing the objects of ``deltas`` on worker threads."""
        for d in deltas:
            if d.object_key not in self._jobs:
                self._jobs[d.object_key] = _pool().submit(self._check, d)

    def path(self, d: DeltaInfo) -> str:
        """A local path holding ``d``'s bytes, readable at once for a local object
        (its hash runs meanwhile; ``confirm`` before using what was read), after the
        verified download for a remote one."""
        self.start([d])
        local = self.objects.local_path(d.object_key)
        return local if local is not None else self._result(d)

    def confirm(self, d: DeltaInfo) -> None:
        """Return once ``d``'s object hashes to its recorded SHA-256; raise otherwise."""
        self.start([d])
        self._result(d)

    def read(self, d: DeltaInfo, read: Callable[[str], T]) -> T:
        """``read(path)`` of ``d``'s object, handed back only once its hash is confirmed."""
        with self.blame(d):
            result = read(self.path(d))
        self.confirm(d)
        return result

    @contextmanager
    def blame(self, *deltas: DeltaInfo) -> Iterator[None]:
        """Turn a reader's failure on a damaged or missing object of ``deltas`` into the
        one-line ``IntegrityError`` about it (a failure on sound objects passes through)."""
        try:
            yield
        except AssayError:
            raise
        except Exception:
            for d in deltas:
                self.confirm(d)
            raise

    def _result(self, d: DeltaInfo) -> str:
        return self._jobs[d.object_key].result()

    def _check(self, d: DeltaInfo) -> str:
        """Hash ``d``'s object; the local path its verified bytes are at."""
        local = self.objects.local_path(d.object_key)
        digest = hashlib.sha256()
        try:
            if local is not None:
                with open(local, "rb") as f:
                    for block in iter(lambda: f.read(_BLOCK), b""):
                        digest.update(block)
                path = local
            else:
                path = self._download(d.object_key, digest)
        except (NotFound, FileNotFoundError):
            raise IntegrityError(
                f"{_describe(d)} cannot be read: its object {d.object_key} is missing; {_FIX}"
            ) from None
        found = digest.hexdigest()
        if found != d.object_sha256:
            if local is None:
                os.unlink(path)
            raise IntegrityError(
                f"{_describe(d)} is damaged: its object {d.object_key} hashes to {found[:12]}, "
                f"the catalog recorded {d.object_sha256[:12]}; {_FIX}"
            )
        return path

    def _download(self, key: str, digest: hashlib._Hash) -> str:
        """Copy a remote object into this verifier's private folder, hashing it."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="assay-verified-")
            # Removed when the verifier is collected, i.e. when its reads are done.
            weakref.finalize(self, shutil.rmtree, self._tmp, True)
        path = os.path.join(self._tmp, key.replace("/", "_"))
        with self.objects.open(key) as src, open(path, "wb") as out:
            for block in iter(lambda: src.read(_BLOCK), b""):
                digest.update(block)
                out.write(block)
        return path


def _done(value: str) -> Future[str]:
    future: Future[str] = Future()
    future.set_result(value)
    return future
