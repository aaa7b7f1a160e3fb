"""Output files (reports, Parquet exports) written atomically, with the usual mode.

``atomic_write`` is the one way assay writes a file a user asked for: the rows or the
HTML go to a temporary file beside the target, which then replaces the target in one
rename, so a reader sees the old file or the whole new one, never half of it. The
temporary file is created private (``mkstemp`` gives 0600); the finished file gets
the mode a plain ``open(path, "w")`` would have given it, so a report is as readable
to others as any file the user's umask allows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

__all__ = ["atomic_folder", "atomic_write", "current_umask", "default_mode", "path_kind"]

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only way to read it is to set it and put it back; the lock keeps
    # assay's own threads from creating a file in between.
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def default_mode() -> int:
    """The mode ``open`` gives a new file: 0666 less the umask's bits."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, else vanishes.

    The parent folder is created if needed. The finished file gets ``default_mode()``
    even when it replaces one with another mode: files that earlier versions wrote
    0600 would otherwise stay unreadable to others for good.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(default_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes ``path`` in one rename,
    else it vanishes. ``path`` must be absent or an empty folder (the rename replaces it).

    The folder gets the mode ``mkdir`` would have given it (``mkdtemp`` makes it 0700).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~current_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def path_kind(path: str | os.PathLike[str]) -> Literal["file", "folder"] | None:
    """What ``path`` names on the local disk: a file, a folder, or nothing; nothing too
    for text no file system takes as a path (a name too long, a NUL byte), which
    callers then read as something else (a fingerprint, YAML text) or refuse."""
    try:
        p = Path(path)
        if p.is_file():
            return "file"
        if p.exists():
            return "folder"
    except (OSError, ValueError):
        pass
    return None
