"""``assay`` commands forked from a warm interpreter instead of started from nothing.

A command started afresh spends most of a second or more importing pyarrow, SQLAlchemy,
pandas, scikit-learn and skops before it does anything, and the suite starts some
thousand of them. Each pytest worker keeps one zygote (``cli_zygote.py``) that has
imported those once; a command runs in a child forked from it, so it is still its own
process with its own folder, environment, umask, arguments, exit status, stdout and
stderr, and the CLI's own modules load afresh in it (they read the environment as they
load).

A call falls back to a real ``assay`` process when it changes what an interpreter or a
preloaded library reads only as it starts (``EXEC_ONLY``), when another thread of the
test is running a command already, or when ``ASSAY_TEST_EXEC=1`` asks for real processes
throughout. Tests of how the command starts (``python -m assay``, fresh installs, import
costs) start their own processes and never come here.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ZYGOTE = Path(__file__).with_name("cli_zygote.py")
# Read when an interpreter or a preloaded library starts, not when a command runs.
EXEC_ONLY = (
    "PYTHON", "LD_", "ASSAY_CRASH_AT", "OMP_", "OPENBLAS_", "MKL_", "SKLEARN_", "ARROW_",
    "NUMPY_", "PANDAS_", "FSSPEC_",
)  # fmt: skip
START_TIMEOUT = 300


class ZygoteDied(RuntimeError):
    pass


class Zygote:
    """One warm interpreter and the pipe to it; ``run`` is one command."""

    def __init__(self, assay: Path, env: dict[str, str]):
        self.assay = assay
        self.env = dict(env)
        self.folder = Path(tempfile.mkdtemp(prefix="assay-zygote-"))
        self.log = self.folder / "zygote.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ZYGOTE), str(assay.parent)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=self.folder,
            )
        self.lock = threading.Lock()
        self.pending = b""
        self.ready = False
        self.broken = False
        self.calls = 0

    def takes(self, env: dict[str, str]) -> bool:
        """Whether a command with ``env`` can be forked from this zygote."""
        changed = {k for k in env.keys() | self.env.keys() if env.get(k) != self.env.get(k)}
        return not any(k.startswith(EXEC_ONLY) for k in changed)

    def _reply(self, deadline: float | None) -> dict[str, Any] | None:
        """The zygote's next reply line, or None at ``deadline``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], wait)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise ZygoteDied(f"the CLI zygote exited; its log: {self.log.read_text()[-2000:]}")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(
        self, argv: tuple[str, ...], cwd: Path, env: dict[str, str], timeout: float
    ) -> tuple[int, str, str] | None:
        """``assay ARGV`` forked: (exit status, stdout, stderr); None when it cannot be."""
        if not self.takes(env) or not self.lock.acquire(blocking=False):
            return None
        try:
            if not self.ready:
                if self._reply(time.monotonic() + START_TIMEOUT) != {"ready": True}:
                    raise ZygoteDied(f"the CLI zygote did not start: {self.log.read_text()}")
                self.ready = True
            self.calls += 1
            out, err = (self.folder / f"{self.calls}.{name}" for name in ("out", "err"))
            umask = os.umask(0o022)  # the only way to read it is to set it
            os.umask(umask)
            request = {
                "argv": list(argv), "cwd": str(cwd), "env": env, "umask": umask,
                "prog": str(self.assay), "out": str(out), "err": str(err),
            }  # fmt: skip
            started: dict[str, Any] | None = None
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
                started = self._reply(None)
                assert started is not None
                done = self._reply(time.monotonic() + timeout)
                if done is None:  # as subprocess.run(timeout=…) does: kill, then raise
                    os.kill(started["pid"], signal.SIGKILL)
                    self._reply(None)
            except BaseException:
                # Interrupted between a request and its replies (pytest-timeout, Ctrl-C):
                # the replies would be out of step, so this zygote is done with.
                self.broken = True
                if started is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(started["pid"], signal.SIGKILL)
                self.proc.kill()
                raise
            # subprocess's text mode: the locale's encoding, universal newlines.
            encoding = locale.getpreferredencoding(False)
            texts = [p.read_text(encoding=encoding) for p in (out, err)]
            for p in (out, err):
                p.unlink()
            if done is None:
                raise subprocess.TimeoutExpired([str(self.assay), *argv], timeout, *texts)
            return int(done["rc"]), texts[0], texts[1]
        finally:
            self.lock.release()

    def close(self) -> None:
        if self.proc.poll() is None and not self.broken:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        if self.folder.exists():  # closed once when it breaks, once more at exit
            shutil.rmtree(self.folder)


_zygote: Zygote | None = None


def start(assay: Path, env: dict[str, str]) -> Zygote | None:
    """This process's zygote, started (not waited for) on first use; None when real
    processes were asked for."""
    global _zygote
    if os.environ.get("ASSAY_TEST_EXEC") == "1":
        return None
    if _zygote is not None and _zygote.broken:
        _zygote.close()
        _zygote = None
    if _zygote is None:
        _zygote = Zygote(assay, env)
        atexit.register(_zygote.close)
    return _zygote
