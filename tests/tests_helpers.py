"""Small helpers shared by tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

import assay
import forked_cli


def objects_in(store: assay.Store) -> set[str]:
    """Every file under the store's objects folder (temporary files included)."""
    root = Path(store.url) / "objects"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def year(acs: pa.Table, y: int) -> pa.Table:
    """The rows of one survey year."""
    import pyarrow.compute as pc

    return acs.filter(pc.equal(acs.column("year"), y))


ASSAY = Path(sys.executable).parent / "assay"
# What a test's outer environment must not leak into the CLI under test.
_OUTSIDE = ("ASSAY_STORE", "ASSAY_RUN_ID", "ASSAY_DEBUG", "FORCE_COLOR", "TTY_COMPATIBLE")


@dataclass
class CliResult:
    """What one ``assay`` subprocess did."""

    args: tuple[str, ...]
    rc: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """The whole of stdout as exactly one JSON object."""
        obj = json.loads(self.out)
        assert isinstance(obj, dict), f"stdout is not one JSON object: {self.out[:200]!r}"
        return obj

    def error_line(self) -> str:
        """The one-line ``error: …`` message on stderr (asserts the CLI's error contract)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {self.err!r}"
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``run_assay`` gives a command: the test's, less what must not leak."""
    environ = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    environ["NO_COLOR"] = "1"
    environ.update(env or {})
    return environ


def run_assay(
    *args: Any, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> CliResult:
    """``assay ARGS`` in ``cwd`` as a process of its own (forked from a warm interpreter
    where it can be: see forked_cli); it must never print a traceback."""
    environ = cli_env(env)
    argv = tuple(str(a) for a in args)
    zygote = forked_cli.start(ASSAY, cli_env())
    forked = zygote.run(argv, Path(cwd), environ, timeout) if zygote else None
    if forked is None:
        p = subprocess.run(
            [str(ASSAY), *argv],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        forked = (p.returncode, p.stdout, p.stderr)
    rc, out, err = forked
    assert "Traceback" not in out + err, f"assay {' '.join(argv)} crashed:\n{err}"
    return CliResult(argv, rc, out, err)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a throwaway identity; its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def compose_by_hand(
    deltas: list[tuple[str, pd.DataFrame]], selected: set[int], as_is: Set[int] = frozenset()
) -> pd.DataFrame:
    """Compose by hand: replay every delta (op, rows keyed by ``id``) in order, row by row.

    An upsert row "updates" when its key is live in the full history before it; it
    applies to a selection only if its key is live there too. Rows come by delta, then
    by key (by position in the file for the deltas ``as_is``, stored as given): the
    version's order.
    """
    full: dict[object, bool] = {}
    state: dict[object, tuple[int, Any, dict[str, Any]]] = {}
    for i, (op, df) in enumerate(deltas):
        for position, row in enumerate(df.to_dict("records")):
            k = row["id"]
            was_live = full.get(k, False)
            full[k] = op != "delete"
            if i not in selected:
                continue
            if op == "delete":
                state.pop(k, None)
            elif op == "insert" or not was_live or k in state:
                state[k] = (i, position if i in as_is else k, row)
    rows = sorted(state.values(), key=lambda s: (s[0], s[1]))
    return pd.DataFrame([r for _, _, r in rows])
