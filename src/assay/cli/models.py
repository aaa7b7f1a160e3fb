"""``assay models register|alias|list|show|lineage|export-onnx|golden``: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt, StoreOpt
from assay.cli._choices import Flavor
from assay.cli._output import console, emit, err_console
from assay.cli.completion import models as complete_models

if TYPE_CHECKING:
    from assay.server.client import Remote
    from assay.store import Store

app = typer.Typer(
    help="Registered models: versions, aliases, signatures, lineage, golden examples.",
    no_args_is_help=True,
)

RefArg = Annotated[
    str,
    typer.Argument(
        metavar="REF",
        help="NAME@ALIAS, NAME@VERSION, or NAME for the latest (or models:/NAME@ALIAS, "
        "models:/NAME/VERSION).",
        autocompletion=complete_models,
    ),
]
TrustedOpt = Annotated[
    bool,
    typer.Option(
        "--trusted", help="Allow pickles and unknown skops types (they can run code on load)."
    ),
]


def _store(url: str | None) -> Store:
    from assay.store import open_store

    return open_store(url)


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Model name (versions are numbered per name).")],
    path: Annotated[
        str | None,
        typer.Argument(
            metavar="[PATH]", help="Model file (.skops, .onnx, .pt, …) or module:function."
        ),
    ] = None,
    from_run: Annotated[
        str | None, typer.Option("--from-run", help="Take the model artifact of this run.")
    ] = None,
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="Which artifact of --from-run.")
    ] = None,
    flavor: Annotated[
        Flavor | None,
        typer.Option("--flavor", help="How the model is stored (default: guessed from PATH)."),
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias to point here (repeatable).")
    ] = None,
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="Rows of input (Parquet/CSV/JSONL) to infer the signature."),
    ] = None,
    model_class: Annotated[
        str | None, typer.Option("--class", help="module:Class for a torch state dict.")
    ] = None,
    golden: Annotated[
        Path | None, typer.Option("--golden", help="Golden examples (JSONL) to attach.")
    ] = None,
    require_golden: Annotated[
        bool, typer.Option("--require-golden", help="Refuse to register if an example fails.")
    ] = False,
    description: Annotated[str, typer.Option("--description", help="A note.")] = "",
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="The team that owns the model (default: the latest's)."),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="Domain tokens grant access by (default: the latest's, or default)."
        ),
    ] = None,
    trusted: TrustedOpt = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Register a new version of model NAME from PATH or from a run's artifact."""
    from assay.models.golden import check_golden
    from assay.models.registry import model_to_dict, register_model

    s = _store(store)
    info = register_model(
        name,
        path,
        from_run=from_run,
        artifact=artifact,
        flavor=flavor.value if flavor is not None else None,
        aliases=alias or [],
        sample=sample,
        trusted=trusted,
        golden=golden,
        require_golden=require_golden,
        model_class=model_class,
        description=description,
        owner=owner,
        domain=domain,
        store=s,
    )
    report = check_golden(info.ref, store=s, trusted=trusted) if info.golden else None
    payload = model_to_dict(info)
    if report is not None:
        payload["golden_report"] = report.to_dict()

    def render() -> None:
        from assay.report import tables

        tables.model_registered(info, report, console)

    emit(payload, json, render)
    return 0


ALIAS_DEPRECATED = (
    "`models alias NAME VERSION ALIAS` is deprecated; use `models alias NAME@VERSION ALIAS`"
)


@app.command("alias")
def alias_(
    ref: RefArg,
    alias: Annotated[
        str, typer.Argument(metavar="ALIAS", help="Alias to point at it (moved if held).")
    ],
    legacy: Annotated[
        # The old form, NAME VERSION ALIAS: its ALIAS lands here.
        str | None,
        typer.Argument(hidden=True, show_default=False),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Point ALIAS at the version REF names (NAME@VERSION), moving it from the version
    that held it: `assay models alias employment@3 production`."""
    from assay.errors import UsageError
    from assay.models.registry import get_model, model_to_dict, set_alias
    from assay.server.client import Remote

    remote = Remote.from_environment()
    if remote is not None:  # a shared store: the server checks the token's permission
        _alias_remote(remote, ref, alias, legacy, store, json)
        return
    s = _store(store)
    if legacy is None:
        target = get_model(ref, store=s)
        name, version = target.name, target.version
    else:
        if not alias.isdigit():  # the error alone: it already shows the new form
            raise UsageError(
                f"{alias!r} is not a version number; use `assay models alias "
                f"{ref}@VERSION {legacy}`"
            )
        name, version, alias = ref, int(alias), legacy
    before: int | None = None
    try:
        before = get_model(f"{name}@{alias}", store=s).version
    except LookupError:
        before = None
    info = set_alias(name, version, alias, store=s)
    if legacy is not None:  # after the change: a refusal stays one line
        err_console.print(f"warning: {ALIAS_DEPRECATED}", soft_wrap=True, markup=False)
    payload = {**model_to_dict(info), "alias": alias, "moved_from": before}
    moved = f" (was {name}@{before})" if before not in (None, version) else ""
    emit(
        payload,
        json,
        lambda: console.print(f"{escape(name)}@{escape(alias)} → {escape(info.ref)}{moved}"),
    )


def _alias_remote(
    remote: Remote, ref: str, alias: str, legacy: str | None, store: str | None, json: bool
) -> None:
    """``models alias`` through ``$ASSAY_SERVER``'s ``POST /api/models/{name}/aliases``."""
    from assay.errors import UsageError
    from assay.server.client import SERVER_ENV

    if store is not None:
        raise UsageError(
            f"--store and {SERVER_ENV} both name a store; unset {SERVER_ENV} to write to "
            "--store directly, or leave out --store to go through the server"
        )
    if legacy is not None:
        ref, alias = f"{ref}@{alias}", legacy
    name, _, version = ref.removeprefix("models:/").replace("/", "@").partition("@")
    if not version.isdigit():
        raise UsageError(
            f"with {SERVER_ENV} set, give the version by number: `assay models alias "
            f"{name}@VERSION {alias}` ({ref!r} names none)"
        )
    answer = remote.set_alias(name, int(version), alias)
    before = answer.get("moved_from")
    moved = f" (was {name}@{before})" if before not in (None, int(version)) else ""
    emit(
        answer,
        json,
        lambda: console.print(
            f"{escape(name)}@{escape(alias)} → {escape(answer['ref'])}{moved} "
            f"(through {escape(remote.url)})"
        ),
    )


@app.command("list")
def list_(
    name: Annotated[
        str | None,
        typer.Argument(help="Only this model's versions.", autocompletion=complete_models),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """List registered model versions."""
    from assay.models.registry import list_models, model_to_dict

    found = list_models(name, store=_store(store))

    def render() -> None:
        from assay.report import tables

        tables.models(found, console)

    emit({"models": [model_to_dict(m) for m in found]}, json, render)


@app.command("show")
def show(ref: RefArg, store: StoreOpt = None, json: JsonOpt = False) -> None:
    """Show a model version: flavor, artifact, signature, aliases, source, golden examples."""
    from assay.models.registry import get_model, model_to_dict
    from assay.report import tables

    info = get_model(ref, store=_store(store))
    emit(model_to_dict(info), json, lambda: tables.model(info, console))


@app.command("lineage")
def lineage(ref: RefArg, store: StoreOpt = None, json: JsonOpt = False) -> None:
    """Print the chain behind a version: export source, run, dataset versions, commit."""
    from assay.models.registry import lineage as get_lineage
    from assay.report import tables

    chain = get_lineage(ref, store=_store(store))
    emit(chain, json, lambda: tables.lineage(chain, console))


@app.command("export-onnx")
def export_onnx(
    ref: RefArg,
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="Rows (Parquet/CSV/JSONL) for the parity check."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Largest allowed |Δ predict_proba|.")
    ] = 1e-4,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias for the ONNX version.")
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Export a scikit-learn version to ONNX; registered as a new version if it matches."""
    from assay.models.export import export_onnx as export
    from assay.models.registry import model_to_dict
    from assay.report import tables

    info, parity = export(
        ref, sample=sample, tolerance=tolerance, aliases=alias or [], store=_store(store)
    )
    payload = {**model_to_dict(info), "parity": parity.to_dict()}
    emit(payload, json, lambda: tables.model_exported(info, parity, console))


@app.command("golden")
def golden(
    ref: RefArg,
    file: Annotated[Path, typer.Argument(help="Golden examples, JSONL.")],
    trusted: TrustedOpt = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Attach golden examples to a version (replacing earlier ones) and show how it does."""
    from assay.models.golden import attach_golden
    from assay.models.registry import model_to_dict
    from assay.report import terminal

    info, report = attach_golden(ref, file, store=_store(store), trusted=trusted)

    def render() -> None:
        console.print(f"Attached {len(report.results)} golden examples to {escape(info.ref)}")
        terminal.golden(report, console, indent=2)

    emit({**model_to_dict(info), "golden_report": report.to_dict()}, json, render)


@app.command("import-mlflow")
def import_mlflow(
    path: Annotated[Path, typer.Argument(help="MLflow model directory (the folder with MLmodel).")],
    name: Annotated[
        str | None, typer.Option("--name", help="Model name (default: the directory's name).")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias to point here (repeatable).")
    ] = None,
    trusted: TrustedOpt = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Register an MLflow model directory (sklearn, onnx, pytorch) as the next version."""
    from assay.models.mlflow import import_mlflow as import_dir
    from assay.models.registry import model_to_dict
    from assay.report import tables

    info = import_dir(path, name=name, trusted=trusted, aliases=alias or [], store=_store(store))
    emit(model_to_dict(info), json, lambda: tables.model_registered(info, None, console))


@app.command("export-mlflow")
def export_mlflow(
    ref: RefArg,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="New or empty folder.")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a version as an MLflow model directory (mlflow.pyfunc.load_model reads it)."""
    from assay.models.mlflow import export_mlflow as export_dir

    done = export_dir(ref, directory, store=_store(store))
    emit(
        done.to_dict(),
        json,
        lambda: console.print(
            f"Wrote {escape(done.ref)} as an MLflow {done.flavor} model: "
            f"{escape(str(done.path))} ({', '.join(done.files)})"
        ),
    )
