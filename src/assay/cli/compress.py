"""``assay compress MODEL@REF --method M``: quantize, prune or distil into a new version.

``assay compress MODEL@REF …`` is ``assay compress run MODEL@REF …`` (the group's
default command), so subcommands (``assay compress report``) sit beside it; a model
named like a subcommand is compressed with the explicit ``run``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import DefaultCommandGroup, MarkdownOpt, console, deliver, emit, status
from assay.cli.completion import models as complete_models

app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help=(
        "Model compression. `assay compress MODEL@REF --method dynamic-int8|static-int8|"
        "fp16|prune|distil … [--alias A] [--json]` registers the compressed model "
        "as a new version linked to its parent."
    ),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="compress")


@app.command("run")
def run(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL@REF",
            help="The parent: NAME@ALIAS, NAME@VERSION or NAME.",
            autocompletion=complete_models,
        ),
    ],
    method: Annotated[
        str,
        typer.Option(
            "--method", help="dynamic-int8, static-int8, fp16, prune or distil.", show_default=False
        ),
    ],
    per_channel: Annotated[
        bool, typer.Option("--per-channel", help="int8: one scale per output channel.")
    ] = False,
    weight_only: Annotated[
        list[str] | None,
        typer.Option(
            "--weight-only",
            metavar="GLOB",
            help="dynamic-int8 (ONNX): MatMul/Gemm nodes whose names match get int8 weights "
            "(one scale per channel) and float inputs in the graph (repeatable).",
        ),
    ] = None,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration",
            help="static-int8: the rows that set activation ranges, a recipe[:split] or "
            "a fingerprint[:split].",
        ),
    ] = None,
    calibrate: Annotated[
        str | None,
        typer.Option("--calibrate", help="static-int8: minmax (default), entropy or percentile."),
    ] = None,
    sparsity: Annotated[
        float | None, typer.Option("--sparsity", help="prune: the share of weights set to zero.")
    ] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="prune: global (default) or layer.")
    ] = None,
    fine_tune: Annotated[
        str | None,
        typer.Option("--fine-tune", help="prune: a command run like `assay run` afterwards."),
    ] = None,
    student: Annotated[
        str | None,
        typer.Option("--student", help="distil: logistic, mlp[:H1,H2…], gbm or module:Class."),
    ] = None,
    transfer: Annotated[
        str | None,
        typer.Option(
            "--transfer", help="distil: unlabelled rows, a recipe[:split] or a fingerprint[:split]."
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="distil: the soft targets' T.")
    ] = None,
    teacher: Annotated[
        list[str] | None,
        typer.Option("--teacher", help="distil: another teacher for an ensemble (repeatable)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Register under this name (default: the parent's)."),
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias to point here (repeatable).")
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Compress MODEL@REF and register the result as a new version with its lineage."""
    from assay.compress import compress
    from assay.models.registry import get_model, model_to_dict
    from assay.report import tables
    from assay.store import open_store

    given: dict[str, Any] = {
        "calibration": calibration,
        "calibrate": calibrate,
        "sparsity": sparsity,
        "scope": scope,
        "fine_tune": fine_tune,
        "student": student,
        "transfer": transfer,
        "temperature": temperature,
        "teachers": teacher or None,
        "weight_only": weight_only or None,
    }
    params = {k: v for k, v in given.items() if v is not None}
    if per_channel:
        params["per_channel"] = True
    with open_store(store) as opened, status(json, f"compressing {model} ({method})"):
        info = compress(model, method, name=name, aliases=alias or [], store=opened, **params)
        parent = info.source["from"]
        before = get_model(f"{parent['name']}@{parent['version']}", store=opened)
    emit(model_to_dict(info), json, lambda: tables.model_compressed(info, before, console))


@app.command("report")
def report(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL@REF",
            help="The compressed model: NAME@ALIAS or NAME@VERSION.",
            autocompletion=complete_models,
        ),
    ],
    on: Annotated[
        list[str],
        typer.Option(
            "--on",
            help="A dataset to evaluate on, a recipe[:split] or a fingerprint[:split] "
            "(repeatable; the first is also the rows timed).",
            show_default=False,
        ),
    ],
    against: Annotated[
        str | None,
        typer.Option("--against", help="The model to compare with (default: the parent)."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="A metric (repeatable; default: the task's usual)."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", help="Threads the models may use while timed.")
    ] = 1,
    provider: Annotated[
        str, typer.Option("--provider", help="ONNX Runtime's provider: cpu, cuda or tensorrt.")
    ] = "cpu",
    calls: Annotated[int, typer.Option("--calls", help="Single-row calls timed.")] = 200,
    batches: Annotated[
        int, typer.Option("--batches", help="Batches of 64 rows timed for the throughput.")
    ] = 20,
    html: Annotated[str | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Size, parameters, latency p50/p99 (one row), throughput (64 rows) and the metrics
    per dataset × slice of MODEL@REF and its parent, timed alike on this CPU with the
    thread count fixed. Exit 0; 2 on bad usage."""
    from assay.compress.report import tradeoff
    from assay.report import compress as page
    from assay.store import open_store

    with open_store(store) as opened, status(json, f"measuring {model}"):
        found = tradeoff(
            model,
            on=on,
            against=against,
            metrics=metric,
            threads=threads,
            provider=provider,
            calls=calls,
            batches=batches,
            store=opened,
        )
    payload = found.to_dict()
    return deliver(
        payload,
        json,
        passed=True,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.html(found),
        markdown=lambda: page.markdown(payload),
        terminal=lambda: page.terminal(found, console, html),
    )
