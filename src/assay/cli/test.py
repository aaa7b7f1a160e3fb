"""``assay test …``: tests of training code (smoke, reproduce) and of models."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, emit, err_console, markdown

if TYPE_CHECKING:
    from assay.runs import RunInfo
    from assay.store import Store
    from assay.training.reproduce import CodePlace

app = typer.Typer(
    help="Tests of training code and models; exit 0 when they pass, 1 when they fail.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="test")


def _store(url: str | None) -> Store:
    from assay.store import open_store

    return open_store(url)


# --------------------------------------------------------------------------- smoke


@app.command(
    "smoke",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def smoke(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The training command, after `--`.", show_default=False),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds the command may run.", min=0.001)
    ] = 600.0,
    sample: Annotated[
        float,
        typer.Option("--sample", help="Fraction of each split run.read returns.", min=0.0, max=1.0),
    ] = 0.01,
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="At most this many rows per split.", min=1)
    ] = 5000,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Run your training COMMAND on a small sample for one epoch, and judge it.

    The command runs as a recorded run with ASSAY_SMOKE=1: run.read(recipe) returns a
    deterministic sample of each split (the ceil(SAMPLE*n) rows, at least 50, at most
    MAX_ROWS, whose keys rank lowest under a fixed-seed hash) and run.max_epochs is 1.
    It passes when the command exits 0 within --timeout, every metric it logged is
    finite, and every per-step loss (`loss`, `*_loss`) went down (mean of its last
    quarter below that of its first). Exit codes: 0 passed, 1 failed, 2 bad
    arguments, 126/127 command not executable / not found.
    Example: assay test smoke --timeout 120 -- python train.py
    """
    from assay.report import terminal
    from assay.training.smoke import smoke as run_smoke

    def started(info: RunInfo) -> None:
        if not json:
            err_console.print(f"Smoke test: run [bold]{info.id}[/] started", soft_wrap=True)

    report = run_smoke(
        command or [],
        timeout=timeout,
        sample=sample,
        max_rows=max_rows,
        store=_store(store),
        stdout=sys.stderr if json else None,
        started=started,
    )
    markdown(report, markdown_file)
    emit(report.to_dict(), json, lambda: terminal.smoke(report, console))
    return 0 if report.passed else 1


# --------------------------------------------------------------------------- reproduce


@app.command("reproduce")
def reproduce(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    tolerance: Annotated[
        list[str] | None,
        typer.Option(
            "--tolerance",
            "-t",
            help="METRIC=ABS allowed difference (repeatable; *=ABS for all).",
        ),
    ] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option("--allow-dirty", help="Re-run on the working tree as it is."),
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="DATASET=FINGERPRINT (or RECIPE=…): read another version (repeatable).",
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option("--window", help="Re-run on each window of N consecutive deltas.", min=1),
    ] = None,
    window_on: Annotated[
        str | None,
        typer.Option("--window-on", help="The dataset (or recipe file) to slide the window on."),
    ] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Re-run a recorded RUN on the data versions and code it used; compare metrics.

    run.read(recipe) in the re-run returns the version the run read (override with
    --data). Code: run in place if the repository is as recorded; in a temporary git
    worktree of the recorded commit if it moved on; refused if the run had uncommitted
    changes the tree no longer has, unless --allow-dirty (run the tree as it is).
    Metrics must match within --tolerance (default: equal to 1e-9 relative).
    --window N re-runs on every N consecutive deltas and tabulates the metrics.
    Exit codes: 0 reproduced, 1 not reproduced (or a window run failed), 2 bad
    arguments, unknown run, or code that cannot be rebuilt.
    """
    from assay.report import terminal
    from assay.training.reproduce import parse_data, parse_tolerances, reproduce_window
    from assay.training.reproduce import reproduce as run_reproduce

    tolerances = parse_tolerances(tolerance or [])
    overrides = parse_data(data or [])

    def started(info: RunInfo, place: CodePlace) -> None:
        if not json:
            err_console.print(
                f"Re-running as run [bold]{info.id}[/] ({escape(place.how)}: "
                f"{escape(place.folder)}): {escape(shlex.join(info.command))}",
                soft_wrap=True,
            )

    out = sys.stderr if json else None
    if window is not None:
        if tolerances:
            from assay.errors import UsageError

            raise UsageError(
                "--tolerance compares with the recorded run; leave it out with --window"
            )
        windows = reproduce_window(
            run_id,
            window,
            on=window_on,
            allow_dirty=allow_dirty,
            data=overrides,
            store=_store(store),
            stdout=out,
            started=started,
        )
        markdown(windows, markdown_file)
        emit(windows.to_dict(), json, lambda: terminal.window(windows, console))
        return 0 if windows.passed else 1
    if window_on is not None:
        from assay.errors import UsageError

        raise UsageError("--window-on goes with --window N; add --window, or leave it out")
    report = run_reproduce(
        run_id,
        tolerance=tolerances,
        allow_dirty=allow_dirty,
        data=overrides,
        store=_store(store),
        stdout=out,
        started=started,
    )
    markdown(report, markdown_file)
    emit(report.to_dict(), json, lambda: terminal.reproduce(report, console))
    return 0 if report.passed else 1


# --------------------------------------------------------------------------- functional


@app.command("functional")
def functional(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="Model: NAME@ALIAS, NAME@VERSION or NAME.")
    ],
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a pickled model (it can run code on load).")
    ] = False,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Load a model version as serving would and check its golden examples (exit 1 on a miss)."""
    from assay.models.golden import check_golden
    from assay.report import terminal

    report = check_golden(ref, store=_store(store), trusted=trusted)
    markdown(report, markdown_file)
    emit(report.to_dict(), json, lambda: terminal.golden(report, console))
    return 0 if report.passed else 1
