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


# The module that registers each top-level command, in the order of `assay --help`.
# ``main`` registers only the module a command line names: Typer builds the parameters
# of every registered command at each start, 0.3 s for all of them, about half of a
# short command's time. tests/cli/test_cli_start.py holds this table to the modules.
COMMANDS = {
    "init": "store",
    "verify": "store",
    "gc": "store",
    "recover": "store",
    "data": "data",
    "demo": "demo",
    "run": "runs",
    "runs": "runs",
    "models": "models",
    "check": "check",
    "eval": "evaluate",
    "drift": "drift",
    "fairness": "fairness",
    "importance": "importance",
    "slices": "slices",
    "behaviour": "behaviour",
    "robustness": "robustness",
    "staleness": "staleness",
    "ab": "ab",
    "labels": "labels",
    "test": "test",
    "serve": "serve",
    "compress": "compress",
    "pipeline": "pipeline",
    "ui": "ui",
    "completion": "completion",
}
GROUPS = ("data", "models", "ab", "labels")  # modules whose ``app`` is a command group


def register_module(name: str) -> None:
    """Add the commands of ``assay.cli.<name>`` to ``app``."""
    import importlib

    module = importlib.import_module(f"assay.cli.{name}")
    if name in GROUPS:
        app.add_typer(module.app, name=name)
    else:
        module.register(app)


def _register(args: list[str]) -> None:
    """Register the module of the command ``args`` name, or every module where the
    line names none, names an unknown one (Typer then suggests), or asks to complete."""
    from assay.cli import completion

    completion.prepare()
    command = _command_of(args)
    if command in COMMANDS and not os.environ.get(completion.COMPLETE_ENV):
        register_module(COMMANDS[command])
        return
    for name in dict.fromkeys(COMMANDS.values()):
        register_module(name)


def _command_of(args: list[str]) -> str | None:
    """The first word of ``args`` that is not a global option or its value."""
    words = iter(args)
    for word in words:
        if word == "--engine":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


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
    _register(args)
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
