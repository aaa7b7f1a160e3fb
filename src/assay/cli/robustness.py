"""``assay robustness MODEL@REF... DATA``: a metric against perturbation strength."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, bound_options, console, emit, status


def register(root: typer.Typer) -> None:
    root.command("robustness")(robustness)


def _numbers(text: str, what: str) -> list[float]:
    from assay.errors import UsageError

    out = []
    for part in text.split(","):
        try:
            out.append(float(part))
        except ValueError:
            raise UsageError(
                f"{what} {text!r}: {part.strip()!r} is not a number; write e.g. 0,0.1,0.2"
            ) from None
    return out


def robustness(
    args: Annotated[
        list[str],
        typer.Argument(
            help="One or more models (NAME@REF), then the rows: a recipe[:split], a "
            "fingerprint[:split] or a data file.",
            show_default=False,
        ),
    ],
    perturb: Annotated[
        str,
        typer.Option(
            "--perturb", help="Perturbations, comma-separated: noise, missing, swap, typo."
        ),
    ] = "noise,missing,swap",
    strengths: Annotated[
        str, typer.Option("--strengths", help="Strengths, comma-separated (0 is always added).")
    ] = "0,0.05,0.1,0.2,0.5",
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="The metric (default accuracy; r2 for regressors)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The perturbations' seed.")] = 0,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Perturb only these columns (comma-separated)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    max_: Annotated[
        list[str] | None,
        typer.Option(
            "--max",
            metavar="NAME=X",
            help="Fail (exit 1) when this number is above X, e.g. drop_at_0.1=0.02 "
            "or noise_drop_at_0.2=0.05.",
        ),
    ] = None,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """The metric of each model as the data is perturbed harder: Gaussian noise,
    missing values, category swaps, typos; a curve per model and the drop from strength
    0. Exit 0; 1 when a --max fails or a model fails on perturbed rows; 2 on bad usage."""
    from assay.diagnostics.robustness import robustness as run
    from assay.errors import UsageError
    from assay.store import open_store

    if len(args) < 2:
        raise UsageError("give one or more models and then the data: MODEL@REF... DATA")
    *models, data = args
    if bad := [m for m in models if "@" not in m]:
        raise UsageError(f"{bad[0]!r} is not a model; name models as NAME@REF, the data last")
    levels = _numbers(strengths, "--strengths")
    thresholds = bound_options(max_, None, example="drop_at_0.1=0.02")
    chosen = [c.strip() for c in columns.split(",")] if columns else None
    with open_store(store) as opened, status(json, "perturbing"):
        report = run(
            models,
            data,
            perturbations=[p.strip() for p in perturb.split(",") if p.strip()],
            strengths=levels,
            metric=metric,
            seed=seed,
            columns=chosen,
            label=label,
            thresholds=thresholds,
            store=opened,
        )
    from assay.report import robustness as page
    from assay.report import write_report

    if html is not None:
        write_report(page.html(report), html)
    if markdown_file is not None or _summary_env():
        from assay.report.markdown import write_markdown

        write_markdown(page.markdown(report), markdown_file)
    emit(report.to_dict(), json, lambda: page.terminal(report, console, html))
    return 0 if report.passed else 1


def _summary_env() -> bool:
    import os

    from assay.report.markdown import STEP_SUMMARY_ENV

    return bool(os.environ.get(STEP_SUMMARY_ENV))
