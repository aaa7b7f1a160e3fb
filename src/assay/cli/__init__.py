"""The ``assay`` command: a thin front end over the library.

Commands parse arguments, call one library function and print its result; every
``AssayError`` becomes a one-line message and its exit code, and nothing prints a
raw traceback (set ``ASSAY_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from typing import Annotated

import typer

from assay.cli._choices import EngineName
from assay.errors import AssayError, shorten

app = typer.Typer(
    name="assay",
    help="Versioned data, tests and release gates for machine-learning models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="ASSAY_STORE", help="Store URL or path (default: nearest .assay/)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts and CI.")]


def _show_version(ctx: typer.Context, value: bool) -> None:
    """Print ``assay <version>`` (one JSON object with ``--json``) and stop."""
    if not value:
        return
    from importlib.metadata import version

    number = version("assay")
    if (ctx.obj or {}).get("json"):
        sys.stdout.write(json.dumps({"assay": number}) + "\n")
    else:
        sys.stdout.write(f"assay {number}\n")
    raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            expose_value=False,
            help="Print assay's version and exit.",
        ),
    ] = False,
    as_json: Annotated[
        # Only so `assay --version --json` parses: each command reads its own --json.
        bool,
        typer.Option("--json", hidden=True, expose_value=False),
    ] = False,
    engine: Annotated[
        EngineName | None,
        typer.Option(
            "--engine",
            help="Where table work runs (default: the store's assay.json, else duckdb). "
            "Sets ASSAY_ENGINE.",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
) -> None:
    """Versioned data, tests and release gates for machine-learning models."""
    if engine is not None:
        from assay.engine import ENGINE_ENV, check_engine_name

        # Through the environment: the library reads it, and so do the commands
        # `assay run` starts.
        os.environ[ENGINE_ENV] = check_engine_name(engine.value)


def _register() -> None:
    from assay.cli import completion, data, demo, runs, store

    completion.prepare()
    store.register(app)
    app.add_typer(data.app, name="data")
    demo.register(app)
    runs.register(app)
    from assay.cli import models

    app.add_typer(models.app, name="models")
    from assay.cli import check

    check.register(app)
    from assay.cli import evaluate

    evaluate.register(app)
    from assay.cli import drift

    drift.register(app)
    from assay.cli import fairness, importance

    fairness.register(app)
    importance.register(app)
    from assay.cli import slices

    slices.register(app)
    from assay.cli import behaviour, robustness

    behaviour.register(app)
    robustness.register(app)
    from assay.cli import staleness

    staleness.register(app)
    from assay.cli import ab

    app.add_typer(ab.app, name="ab")
    from assay.cli import labels

    app.add_typer(labels.app, name="labels")
    from assay.cli import test

    test.register(app)
    from assay.cli import serve

    serve.register(app)
    from assay.cli import compress

    compress.register(app)
    from assay.cli import pipeline

    pipeline.register(app)
    from assay.cli import ui

    ui.register(app)
    completion.register(app)


def _is_usage_error(e: Exception) -> bool:
    """Typer's (vendored Click's) command-line errors, recognised by their interface."""
    return all(hasattr(e, a) for a in ("format_message", "show", "exit_code"))


# A backstop for input the library echoed without shortening: a run of this many
# non-space characters is surely a pasted value, not prose (paths stay whole), and no
# line of a message outgrows a screenful.
_LONG_WORD = re.compile(r"\S{241,}")
_LONG_LINE = 1_000


def _bounded(message: str) -> str:
    """``message`` with every over-long word shortened and every over-long line cut in
    the middle, keeping its start (the problem) and its end (the fix)."""
    lines = []
    for line in message.split("\n"):
        line = _LONG_WORD.sub(lambda m: shorten(m.group(), 120), line)
        if len(line) > _LONG_LINE:
            half = _LONG_LINE // 2
            line = f"{line[:half]} … ({len(line) - 2 * half:,} characters cut) … {line[-half:]}"
        lines.append(line)
    return "\n".join(lines)


def _fail(message: str, code: int, as_json: bool) -> int:
    message = _bounded(message)
    if as_json:
        sys.stdout.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    else:
        from rich.markup import escape

        from assay.cli._output import err_console

        err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return code


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """assay's own warnings (``errors.CatalogPasswordWarning``) as one line; others as
    Python shows them."""
    from assay.errors import CatalogPasswordWarning

    if issubclass(category, CatalogPasswordWarning):
        return f"warning: {message}\n"
    return _python_warning(message, category, filename, lineno, line)


_python_warning = warnings.formatwarning


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into a message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    warnings.formatwarning = _warning_line
    # A --json after `--` belongs to the command `assay run` starts, not to assay.
    own = args[: args.index("--")] if "--" in args else args
    as_json = "--json" in own
    _register()
    try:
        result = app(args=args, prog_name="assay", standalone_mode=False, obj={"json": as_json})
        code = result if isinstance(result, int) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except AssayError as e:
        code = _fail(str(e), e.exit_code, as_json)
    except KeyboardInterrupt:
        code = _fail("interrupted", 130, as_json)
    except Exception as e:  # the CLI never shows a raw traceback
        if _is_usage_error(e):
            # Typer's own usage errors (unknown option, bad value): one line, exit 2.
            ctx = getattr(e, "ctx", None)
            hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            message = e.format_message().rstrip(".")  # type: ignore[attr-defined]
            # Typer checks choices with pydantic, whose prefix says nothing to a user.
            message = message.replace("Value error, ", "")
            code = _fail(f"{message}{hint}", e.exit_code, as_json)  # type: ignore[attr-defined]
        elif os.environ.get("ASSAY_DEBUG"):
            raise
        else:
            code = _fail(
                f"internal error ({type(e).__name__}: {e}); rerun with ASSAY_DEBUG=1 for the "
                "traceback and report it",
                70,
                as_json,
            )
    sys.exit(code)
