"""Data files named by fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``memory://``, …).

Readers of data files (``add_delta``, ``check``) take a local path; a URL is copied,
streamed, into a temporary file that keeps its name, hashed on the way, and removed
afterwards. Failures come out in one line: an object that is not there, a protocol
fsspec does not know or whose package is missing, a bucket without credentials.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
from fsspec.registry import known_implementations

from assay.errors import AssayError, InputFileError, MissingDependency, UsageError
from assay.extras import EXTRAS, require
from assay.store._access import access_error

__all__ = ["Fetched", "fetched", "is_url"]

# ``scheme://…``, or fsspec's chained form ``simplecache::s3://…``.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(://|::)")
_BLOCK = 1 << 22


def is_url(text: str) -> bool:
    """Whether ``text`` names a file by URL rather than by local path."""
    return bool(_URL.match(text))


@dataclass(frozen=True)
class Fetched:
    """A local copy of the file at ``url``: where it is, its SHA-256 and size."""

    url: str
    path: Path
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "sha256": self.sha256, "bytes": self.size}


def _filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of ``url``, or a one-line error saying what to install."""
    protocol = url.split("::")[-1].split("://")[0].lower()
    known = known_implementations.get(protocol)
    if known is None and protocol not in fsspec.available_protocols():
        raise UsageError(
            f"{url}: fsspec knows no protocol {protocol!r}; use a local path or a URL such "
            "as s3://, gs://, hf://, https:// or memory://"
        )
    if known is not None:
        package = known["class"].split(".")[0]
        if package in EXTRAS:  # s3fs: the extra that brings it
            require(package, f"{protocol}:// URLs")
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        package = known["class"].split(".")[0] if known else protocol
        raise MissingDependency(
            f"{protocol}:// URLs need the fsspec filesystem package {package}, which is "
            f"not installed; pip install {package.replace('_', '-')}"
        ) from None
    return fs, path


@contextmanager
def fetched(url: str) -> Iterator[Fetched]:
    """A temporary local copy of the file at ``url``, removed when the block ends.

    An ``AssayError`` raised inside the block that names the copy names ``url`` instead.
    """
    fs, path = _filesystem(url)
    name = PurePosixPath(path).name or "data"
    with tempfile.TemporaryDirectory(prefix="assay-url-") as tmp:
        local = Path(tmp) / name
        digest, size = hashlib.sha256(), 0
        try:
            if fs.isdir(path):
                raise InputFileError(f"{url} is a folder; give the URL of one data file")
            with fs.open(path, "rb") as src, open(local, "wb") as dst:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    dst.write(block)
                    size += len(block)
        except AssayError:
            raise
        except FileNotFoundError:
            raise InputFileError(f"{url} does not exist; check the URL") from None
        except Exception as e:
            refused = access_error(e, url)
            if refused is None:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise InputFileError(f"cannot read {url}: {first}") from None
            raise refused from None
        try:
            yield Fetched(url, local, digest.hexdigest(), size)
        except AssayError as e:
            text = str(e)
            if str(local) not in text or len(e.args) != 1:
                raise
            # Same class, same exit code; the message names what the user gave.
            raise type(e)(text.replace(str(local), url)) from None
