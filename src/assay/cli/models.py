"""``assay models register|alias|list|show|lineage|export-onnx|golden``: the model registry."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit

if TYPE_CHECKING:
    from assay.models.golden import GoldenReport
    from assay.store import Store
    from assay.store.catalog import ModelVersion

app = typer.Typer(
    help="Registered models: versions, aliases, signatures, lineage, golden examples.",
    no_args_is_help=True,
)

RefArg = Annotated[
    str,
    typer.Argument(metavar="REF", help="NAME@ALIAS, NAME@VERSION, or NAME for the latest."),
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


def _when(text: str | None) -> str:
    return text[:19].replace("T", " ") if text else ""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _aliases(info: ModelVersion) -> str:
    return ", ".join(info.aliases)


def _source(info: ModelVersion) -> str:
    src = info.source
    kind = src.get("kind")
    if kind == "run":
        return f"run {src.get('run')} artifact {src.get('artifact')}"
    if kind == "file":
        return f"file {src.get('path')}"
    if kind == "onnx-export":
        parent = src.get("from", {})
        return f"ONNX export of {parent.get('name')}@{parent.get('version')}"
    if kind == "callable":
        return f"callable {src.get('entry_point')}"
    if kind == "object":
        return f"in-memory {str(src.get('type', '')).rsplit('.', 1)[-1]}"
    return str(kind or "")


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
        str | None,
        typer.Option("--flavor", help="sklearn, onnx, torch, python or pickle (default: guessed)."),
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
        flavor=flavor,
        aliases=alias or [],
        sample=sample,
        trusted=trusted,
        golden=golden,
        require_golden=require_golden,
        model_class=model_class,
        description=description,
        store=s,
    )
    report = check_golden(info.ref, store=s, trusted=trusted) if info.golden else None
    payload = model_to_dict(info)
    if report is not None:
        payload["golden_report"] = report.to_dict()

    def render() -> None:
        tags = f" ({escape(_aliases(info))})" if info.aliases else ""
        console.print(
            f"Registered [bold]{escape(info.ref)}[/]{tags}: {info.flavor}, "
            f"{_size(info.size)}, from {escape(_source(info))}",
            soft_wrap=True,
        )
        _render_signature(info)
        if info.run_id:
            console.print(f"  run {info.run_id} (lineage: assay models lineage {info.ref})")
        if report is not None:
            _render_golden(report)

    emit(payload, json, render)
    return 0


@app.command("alias")
def alias_(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number.")],
    alias: Annotated[str, typer.Argument(help="Alias to point at it (moved if held).")],
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Point NAME@ALIAS at VERSION, moving it from the version that held it."""
    from assay.models.registry import get_model, model_to_dict, set_alias

    s = _store(store)
    before: int | None = None
    try:
        before = get_model(f"{name}@{alias}", store=s).version
    except LookupError:
        before = None
    info = set_alias(name, version, alias, store=s)
    payload = {**model_to_dict(info), "alias": alias, "moved_from": before}
    moved = f" (was {name}@{before})" if before not in (None, version) else ""
    emit(
        payload,
        json,
        lambda: console.print(f"{escape(name)}@{escape(alias)} → {escape(info.ref)}{moved}"),
    )


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """List registered model versions."""
    from assay.models.registry import list_models, model_to_dict

    found = list_models(name, store=_store(store))

    def render() -> None:
        if not found:
            console.print("No models yet; register one with `assay models register NAME PATH`.")
            return
        table = Table("flavor", "aliases", "size", "run", "golden", "created")
        table.columns.insert(0, Column("model", no_wrap=True))
        for m in found:
            table.add_row(
                escape(m.ref),
                m.flavor,
                escape(_aliases(m)),
                _size(m.size) if m.object_key else "—",
                m.run_id
                or (
                    "from " + escape(m.source["from"]["name"]) + f"@{m.source['from']['version']}"
                    if m.source.get("from")
                    else ""
                ),
                str(m.golden.count) if m.golden else "",
                _when(m.created_at)[:16],
            )
        console.print(table)

    emit({"models": [model_to_dict(m) for m in found]}, json, render)


@app.command("show")
def show(ref: RefArg, store: StoreOpt = None, json: JsonOpt = False) -> None:
    """Show a model version: flavor, artifact, signature, aliases, source, golden examples."""
    from assay.models.registry import get_model, model_to_dict

    info = get_model(ref, store=_store(store))

    def render() -> None:
        tags = f" ({escape(_aliases(info))})" if info.aliases else ""
        console.print(f"Model [bold]{escape(info.ref)}[/]{tags}: {info.flavor}")
        console.print(f"  registered {_when(info.created_at)}; from {escape(_source(info))}")
        if info.object_key:
            console.print(
                f"  artifact {info.object_key} ({_size(info.size)}, sha256 {info.sha256})"
            )
        if info.options:
            console.print(f"  options {escape(jsonlib.dumps(info.options))}")
        _render_signature(info)
        if info.run_id:
            console.print(f"  run {info.run_id}; lineage: assay models lineage {info.ref}")
        parity = info.source.get("parity")
        if parity:
            console.print(
                f"  parity: max |Δ {parity['compared']}| {parity['max_abs_diff']:.3g} on "
                f"{parity['rows']} rows (tolerance {parity['tolerance']:g})"
            )
        if info.golden:
            console.print(
                f"  golden examples: {info.golden.count} (check: assay test functional {info.ref})"
            )
        if info.description:
            console.print(f"  {escape(info.description)}")

    emit(model_to_dict(info), json, render)


def _render_signature(info: ModelVersion) -> None:
    from assay.models.signature import Signature

    sig = Signature.from_dict(info.signature)
    text = sig.describe() if sig else "none recorded (input is not checked)"
    console.print(f"  signature: {escape(text)}", soft_wrap=True)


@app.command("lineage")
def lineage(ref: RefArg, store: StoreOpt = None, json: JsonOpt = False) -> None:
    """Print the chain behind a version: export source, run, dataset versions, commit."""
    from assay.models.registry import lineage as get_lineage

    chain = get_lineage(ref, store=_store(store))
    emit(chain, json, lambda: _render_lineage(chain, 0))


def _render_lineage(node: dict[str, Any], depth: int) -> None:
    pad = "  " * depth
    arrow = "" if depth == 0 else "← "
    if node.get("missing"):
        console.print(f"{pad}{arrow}{escape(node['ref'])} (no longer registered)")
        return
    console.print(
        f"{pad}{arrow}model [bold]{escape(node['ref'])}[/] ({node['flavor']}, "
        f"sha256 {(node['sha256'] or '—')[:12]})"
    )
    parity = node["source"].get("parity")
    if node["derived_from"] is not None:
        how = "exported to ONNX from"
        if parity:
            how += f" (max |Δ {parity['compared']}| {parity['max_abs_diff']:.2g})"
        console.print(f"{pad}  {how}:")
        _render_lineage(node["derived_from"], depth + 2)
    run = node["run"]
    if run is None:
        if node["derived_from"] is None:
            console.print(
                f"{pad}  ← no run recorded (registered from {node['source'].get('kind')})"
            )
        return
    named = f" ({escape(run['name'])})" if run["name"] else ""
    console.print(f"{pad}  ← run {run['id']}{named}, {run['status']}, {_when(run['started_at'])}")
    if not run["inputs"]:
        console.print(f"{pad}    ← no dataset versions recorded")
    for i in run["inputs"]:
        recipe = f" from {escape(i['recipe'])}" if i["recipe"] else ""
        rows = f", {i['rows']:,} rows" if isinstance(i.get("rows"), int) else ""
        console.print(
            f"{pad}    ← data {i['fingerprint']} ({escape(i['dataset'])}{rows}){recipe}",
            soft_wrap=True,
        )
        console.print(f"{pad}        deltas: {escape(', '.join(i['deltas']))}")
    git = run["git"]
    if git["commit"]:
        dirty = f" + uncommitted changes (sha256 {git['diff_sha256'][:12]})" if git["dirty"] else ""
        console.print(f"{pad}    ← code commit {git['commit']}{dirty}")
    else:
        console.print(f"{pad}    ← code: {escape(git['note'] or 'no commit recorded')}")


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

    info, parity = export(
        ref, sample=sample, tolerance=tolerance, aliases=alias or [], store=_store(store)
    )
    payload = {**model_to_dict(info), "parity": parity.to_dict()}
    emit(
        payload,
        json,
        lambda: console.print(
            f"Registered [bold]{escape(info.ref)}[/] (onnx, {_size(info.size)}): max "
            f"|Δ {parity.compared}| {parity.max_abs_diff:.3g} on {parity.rows} rows "
            f"(tolerance {parity.tolerance:g})"
        ),
    )


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

    info, report = attach_golden(ref, file, store=_store(store), trusted=trusted)

    def render() -> None:
        console.print(f"Attached {report and len(report.results)} golden examples to {info.ref}")
        _render_golden(report)

    emit({**model_to_dict(info), "golden_report": report.to_dict()}, json, render)


def _render_golden(report: GoldenReport) -> None:
    colour = "green" if report.passed else "red"
    lines = report.format().splitlines()
    console.print(f"  [{colour}]{escape(lines[0])}[/]")
    for line in lines[1:]:
        console.print(f"  {escape(line)}", soft_wrap=True)
