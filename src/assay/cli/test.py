"""``assay test …``: tests of training code (smoke, reproduce) and of models."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit, err_console

if TYPE_CHECKING:
    from assay.runs import RunInfo
    from assay.store import Store
    from assay.training.reproduce import CodePlace, ReproduceReport, WindowReport
    from assay.training.smoke import SmokeReport

app = typer.Typer(
    help="Tests of training code and models; exit 0 when they pass, 1 when they fail.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="test")


def _store(url: str | None) -> Store:
    from assay.store import open_store

    return open_store(url)


def _verdict(passed: bool) -> str:
    return "[bold green]passed[/]" if passed else "[bold red]failed[/]"


def _short(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


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
    emit(report.to_dict(), json, lambda: _render_smoke(report))
    return 0 if report.passed else 1


def _render_smoke(report: SmokeReport) -> None:
    console.print(
        f"Smoke test {_verdict(report.passed)}: run {report.run.id}, exit "
        f"{report.run.exit_code}, {report.elapsed_s:.1f} s of {report.timeout_s:g} s",
        soft_wrap=True,
    )
    for s in report.samples:
        rows = ", ".join(f"{k} {v:,}/{_of(s, k):,}" for k, v in s["rows"].items())
        console.print(f"  sample of {escape(s['dataset'])} {s['fingerprint'][:12]}: {rows}")
    for t in report.losses:
        trend = "down" if t.went_down else "not down"
        console.print(
            f"  {escape(t.metric)}: {t.first:.4g} → {t.last:.4g} over {t.steps} steps ({trend})"
        )
    for f in report.failures:
        console.print(f"  [red]✗ {f.reason.value}[/]: {escape(f.message)}", soft_wrap=True)
    for note in report.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True)
    _render_held_back(report.held_back)


def _render_held_back(writes: Sequence[Mapping[str, Any]]) -> None:
    """The registry writes a test's command tried, which were not made."""
    from assay.runs import describe_held_back

    for w in writes:
        console.print(
            f"  held back: {escape(describe_held_back(w))} — the registry is unchanged",
            soft_wrap=True,
        )


def _of(sample: dict[str, dict[str, int]], split: str) -> int:
    return sample["of"].get(split, 0)


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
        emit(windows.to_dict(), json, lambda: _render_window(windows))
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
    emit(report.to_dict(), json, lambda: _render_reproduce(report))
    return 0 if report.passed else 1


def _render_reproduce(report: ReproduceReport) -> None:
    console.print(
        f"Reproduce {_verdict(report.passed)}: run {report.original.id} re-ran as "
        f"{report.rerun.id} (exit {report.rerun.exit_code})",
        soft_wrap=True,
    )
    for i in report.inputs:
        swap = f" instead of {i.recorded[:12]}" if i.overridden else " (recorded)"
        console.print(f"  data {escape(i.recipe or i.dataset)}: {i.used[:12]}{swap}")
    if report.metrics:
        table = Table("metric", "recorded", "reproduced", "difference", "tolerance", "")
        for m in report.metrics:
            diff = "—" if m.difference is None else f"{m.difference:+.3g}"
            mark = "[green]✓[/]" if m.passed else "[red]✗[/]"
            table.add_row(
                escape(m.metric),
                _number(m.recorded),
                _number(m.reproduced),
                diff,
                f"{m.tolerance:.3g}",
                mark,
            )
        console.print(table)
    for f in report.failures:
        console.print(f"  [red]✗ {f.reason.value}[/]: {escape(f.message)}", soft_wrap=True)
    for note in report.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True)
    _render_held_back(report.held_back)


def _render_window(report: WindowReport) -> None:
    names = report.metric_names
    console.print(
        f"Run {report.original.id} on windows of {report.window} delta(s) of "
        f"{escape(report.dataset)}: {_verdict(report.passed)}",
        soft_wrap=True,
    )
    table = Table(
        Column("window", no_wrap=True),
        Column("rows", justify="right"),
        Column("run", no_wrap=True),
        *(Column(n, justify="right") for n in names),
    )
    table.add_row(
        "[dim]recorded[/]",
        "",
        report.original.id[:8],
        *(_short(report.original.metrics.get(n)) for n in names),
    )
    for r in report.rows:
        label = escape(r.first if r.first == r.last else f"{r.first}..{r.last}")
        if r.recorded:
            label += " *"
        if r.run is None:
            table.add_row(label, "", "[red]not composed[/]", *("" for _ in names))
            continue
        run = r.run.id[:8]
        if r.run.exit_code != 0:
            run = f"[red]{run} exit {r.run.exit_code}[/]"
        table.add_row(
            label,
            f"{r.rows:,}" if r.rows is not None else "",
            run,
            *(_short(r.run.metrics.get(n)) for n in names),
        )
    console.print(table)
    if any(r.recorded for r in report.rows):
        console.print("* the data the run recorded")
    for r in report.rows:
        if r.error:
            console.print(
                f"  {escape(r.first)}..{escape(r.last)}: {escape(r.error)}", soft_wrap=True
            )
    for note in report.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True)


# --------------------------------------------------------------------------- functional


@app.command("functional")
def functional(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="Model: NAME@ALIAS, NAME@VERSION or NAME.")
    ],
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a pickled model (it can run code on load).")
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Load a model version as serving would and check its golden examples (exit 1 on a miss)."""
    from assay.models.golden import check_golden

    report = check_golden(ref, store=_store(store), trusted=trusted)

    def render() -> None:
        lines = report.format().splitlines()
        console.print(f"{_verdict(report.passed)}: {escape(lines[0])}")
        for line in lines[1:]:
            console.print(escape(line), soft_wrap=True)

    emit(report.to_dict(), json, render)
    return 0 if report.passed else 1
