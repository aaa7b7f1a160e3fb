"""The code a stage runs, as the content of its files: what its cache key holds.

Inside a git working tree the files are those git knows or would add (tracked, plus
untracked files that ``.gitignore`` does not ignore), so a virtual environment or a
``__pycache__`` never counts; elsewhere every file under the paths but hidden folders
and ``__pycache__``. Each file counts by its content: the committed code and the
uncommitted diff together, restricted to the stage's code, so that a commit that
touches only a recipe leaves a train stage fresh.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from assay.store.objects import sha256_file

__all__ = ["code_files"]


def code_files(root: Path, paths: Iterable[str], leave_out: set[Path]) -> dict[str, str]:
    """``{path relative to root: sha256}`` of the code files under ``paths``."""
    wanted = [p for p in paths]
    listed = _git_files(root, wanted)
    if listed is None:
        listed = _walk(root, wanted)
    # A file named as code is code even where .gitignore ignores it (the demo's folder).
    listed += [p for p in wanted if (root / p).is_file()]
    out: dict[str, str] = {}
    for file in sorted(set(listed)):
        full = (root / file).resolve()
        if full in leave_out or any(parent in leave_out for parent in full.parents):
            continue
        if full.is_file():
            out[Path(file).as_posix()] = sha256_file(full)
    return out


def _git_files(root: Path, paths: list[str]) -> list[str] | None:
    """The files git tracks or would add under ``paths``; None outside a working tree."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *paths],
            cwd=root,
            capture_output=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except OSError:  # git is not installed
        return None
    if done.returncode != 0:
        return None
    return [os.fsdecode(n) for n in done.stdout.split(b"\0") if n]


def _walk(root: Path, paths: list[str]) -> list[str]:
    found = []
    for p in paths:
        start = root / p
        if start.is_file():
            found.append(p)
            continue
        for folder, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            found += [str(Path(folder, f).relative_to(root)) for f in files]
    return found
