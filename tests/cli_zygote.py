"""A warm interpreter that runs each ``assay`` command in a child forked from it.

Started by ``forked_cli`` (one per pytest worker) as ``python cli_zygote.py BIN_DIR``.
It imports the heavy libraries the commands use (pyarrow, DuckDB, SQLAlchemy, pandas,
scikit-learn, skops) and assay's library modules once, then reads one JSON request per
line on stdin: ``{"argv", "cwd", "env", "umask", "prog", "out", "err"}``. For each it forks a child that
takes the request's working directory, environment, umask and arguments, sends its stdout and
stderr to the two files, runs ``assay.cli.main`` as the console script does and exits
the way the interpreter would; the zygote answers ``{"pid": …}`` at once and
``{"rc": …}`` (the exit status, or minus the signal) when the child has gone.

The CLI's own modules (``assay.cli``, Typer, Rich's consoles) are *not* imported here:
they read the environment when they load, so each child imports them under its own.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import sys
import threading
import traceback
from typing import Any

sys.path[0] = sys.argv[1]  # what the console script's interpreter has first on its path

PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "duckdb",
    "sqlalchemy",
    "pydantic",
    "yaml",
    "pandas",
    "scipy.stats",
    "sklearn.base",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.metrics",
    "jinja2",
    "assay",
    "assay.data.compose",
    "assay.checks",
    "assay.models",
    "assay.evaluation",
    "assay.diagnostics",
    "assay.runs",
)


def _preload() -> None:
    # An extra this environment lacks is skipped: the commands that need it import it.
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(ImportError):
        from assay.models.flavors.sklearn import skops_io

        skops_io()


def _exit_code(e: SystemExit) -> int:
    """What the interpreter makes of ``sys.exit(code)``."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any]) -> None:
    """Become ``assay ARGV`` in the request's folder and environment; never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["out"]), (2, request["err"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        os.close(null)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (fd 0 outlives the child's code)
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["prog"], *request["argv"]]
        from assay.cli import main

        try:
            main()
            code = 0
        except SystemExit as e:
            code = _exit_code(e)
        except BaseException:
            traceback.print_exc()
            code = 1
        # The interpreter's own way out: wait for threads, then the atexit handlers.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def serve() -> None:
    # Replies go on a copy of stdout; stdout itself goes to stderr, so that nothing an
    # import prints can be taken for a reply.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _preload()
    replies.write('{"ready": true}\n')
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            replies.close()
            _child(request)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
