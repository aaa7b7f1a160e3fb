"""``assay ab``: outcomes, the analysis of an A/B test, and its sample size."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "A/B tests: `assay ab outcomes EXPERIMENT FILE` records business outcomes, "
        "`assay ab analyze EXPERIMENT [--metric M]` compares the arms (difference, "
        "interval, p-value, sample-ratio check, always-valid sequential result), "
        "`assay ab plan` gives the sample size for a minimum detectable effect."
    ),
)


@app.command("analyze")
def analyze(
    experiment: Annotated[str, typer.Argument(help="The experiment's name.", show_default=False)],
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="An outcome column to compare (0/1: a rate; else a mean)."),
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="1 − the intervals' level; the tests' threshold.")
    ] = 0.05,
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            help="Also write an HTML report (plotly-<version>.min.js is written beside it).",
        ),
    ] = None,
    self_contained: Annotated[
        bool,
        typer.Option("--self-contained", help="With --html: one file carrying plotly.js."),
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Compare the arms: counts, metric, difference, SRM, sequential result, shadows.

    Per arm the units and the metric; per treatment arm the difference from control with
    its interval and p-value and the always-valid confidence sequence; the
    sample-ratio-mismatch check; shadow agreement and online/offline skew.
    """
    from assay.errors import UsageError
    from assay.experiments.analysis import analyze as run_analysis
    from assay.report.experiment import analysis as render
    from assay.store import open_store

    if self_contained and html is None:
        raise UsageError("--self-contained shapes the HTML report; add --html FILE")
    with open_store(store) as opened:
        result = run_analysis(opened, experiment, metric, alpha=alpha)
    if html is not None:
        from assay.report import render_experiment, write_report

        write_report(render_experiment(result, self_contained=self_contained), html)
    payload = result.to_dict()
    timeline = payload.pop("timeline")  # plot data: in the HTML report
    payload["timeline_points"] = len(timeline)
    if html is not None:
        payload["html"] = html
    emit(payload, json, lambda: render(payload, console, html))
    return 0


@app.command("plan")
def plan(
    mde: Annotated[
        float,
        typer.Option(
            "--mde", help="The smallest difference that matters (absolute).", show_default=False
        ),
    ],
    baseline_rate: Annotated[
        float | None, typer.Option("--baseline-rate", help="The control's rate (a 0/1 metric).")
    ] = None,
    sd: Annotated[
        float | None, typer.Option("--sd", help="The metric's standard deviation (a mean).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Chance to detect the mde.")] = 0.8,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="Arm shares, control first: control=0.9,treatment=0.1 (default: even).",
        ),
    ] = None,
    json: JsonOpt = False,
) -> int:
    """Units each arm needs to detect --mde with --power (two-sided, normal approximation)."""
    from assay.experiments.analysis import plan as run_plan
    from assay.report.experiment import plan as render

    size = run_plan(
        mde=mde,
        baseline_rate=baseline_rate,
        sd=sd,
        alpha=alpha,
        power=power,
        weights=_weights(weights) if weights is not None else None,
    )
    payload = size.to_dict()
    emit(payload, json, lambda: render(payload, console))
    return 0


def _weights(text: str) -> dict[str, float]:
    from assay.errors import UsageError

    out: dict[str, float] = {}
    for part in text.split(","):
        arm, sep, value = part.partition("=")
        try:
            out[arm.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not arm.strip():
            raise UsageError(
                f"--weights {text!r}: {part!r} is not ARM=SHARE; write e.g. "
                "control=0.9,treatment=0.1"
            ) from None
    return out


@app.command("outcomes")
def outcomes(
    experiment: Annotated[str, typer.Argument(help="The experiment's name.", show_default=False)],
    file: Annotated[
        str, typer.Argument(help="CSV, Parquet or JSONL: a key column and outcome columns.")
    ],
    by: Annotated[
        str,
        typer.Option(
            "--by", help="The key column: request_id, or sticky_key (or the config's key name)."
        ),
    ] = "request_id",
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Record business outcomes (conversions, revenue, …) for the analysis to join."""
    from dataclasses import asdict

    from assay.experiments.records import record_outcomes
    from assay.store import open_store

    with open_store(store) as opened:
        info = record_outcomes(opened, experiment, file, by=by)
    payload = asdict(info)
    payload["columns"] = [{"name": n, "type": t} for n, t in info.columns]

    def render() -> None:
        metrics = ", ".join(n for n, _ in info.columns[1:])
        console.print(
            f"recorded outcomes file {info.number} of {experiment}: {info.rows:,} rows by "
            f"{info.by} ({metrics})"
        )

    emit(payload, json, render)
    return 0
