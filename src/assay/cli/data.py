"""``assay data …``: datasets, deltas, composition."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._choices import Op
from assay.cli._output import console, emit, progress
from assay.cli.completion import datasets as complete_datasets

app = typer.Typer(help="Versioned datasets: deltas, recipes, composition.", no_args_is_help=True)


def _store(url: str | None) -> Any:
    from assay.store import open_store

    return open_store(url)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    key: Annotated[str, typer.Option("--key", help="Key column(s), comma-separated.")],
    label: Annotated[str | None, typer.Option("--label", help="Label column, if any.")] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="The team that owns the dataset.")
    ] = None,
    domain: Annotated[
        str, typer.Option("--domain", help="Domain tokens grant access by.")
    ] = "default",  # DEFAULT_DOMAIN, without importing the store to start the CLI
    description: Annotated[
        str, typer.Option("--description", help="What the dataset holds (data search shows it).")
    ] = "",
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create an empty dataset keyed by --key."""
    from assay.data import create_dataset

    info = create_dataset(
        _store(store),
        name,
        key.split(","),
        label,
        owner=owner,
        domain=domain,
        description=description,
    )
    emit(
        {
            "dataset": info.name,
            "key": list(info.key),
            "label": info.label,
            "owner": info.owner,
            "domain": info.domain,
            "description": info.description,
        },
        json,
        lambda: console.print(
            f"Created dataset [bold]{info.name}[/] (key {', '.join(info.key)}"
            + (f", label {info.label}" if info.label else "")
            + ")"
        ),
    )


@app.command("add")
def add(
    dataset: Annotated[str, typer.Argument(help="Dataset name.", autocompletion=complete_datasets)],
    file: Annotated[
        str,
        typer.Argument(help="CSV, Parquet or JSONL file: a path or a URL (s3://, hf://, …)."),
    ],
    op: Annotated[Op, typer.Option("--op", help="How the rows apply to the dataset.")] = Op.insert,
    name: Annotated[
        str | None, typer.Option("--name", help="Delta name (default: file stem).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What this delta is.")] = "",
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Text encoding of a CSV/JSONL file (default: UTF-8)."),
    ] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option(
            "--rename",
            help="OLD=NEW: rename a column, named by header or 1-based position "
            "('=NEW' names an empty header). Repeatable.",
        ),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", help="Leave out a column (header or 1-based position). Repeatable."),
    ] = None,
    as_is: Annotated[
        bool,
        typer.Option(
            "--as-is",
            help="Store a Parquet insert byte for byte instead of rewriting it: seconds, not "
            "minutes, for a large file whose types are assay's (int64, double, string, …). "
            "Its rows compose in the file's order.",
        ),
    ] = False,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Commit FILE to DATASET as a new, immutable delta."""
    from assay.data import add_delta
    from assay.data.schema import FileOptions, parse_renames

    options: FileOptions | None = FileOptions(
        encoding=encoding, rename=parse_renames(rename or ()), drop=drop or ()
    )
    if options == FileOptions():
        options = None
    with progress(json) as bar:
        result = add_delta(
            _store(store),
            dataset,
            file,
            op=op.value,
            name=name,
            tags=tag or (),
            message=message,
            options=options,
            as_is=as_is,
            progress=bar,
        )

    def render() -> None:
        from assay.report import tables

        tables.delta_added(result, console)

    emit(result.to_dict(), json, render)


@app.command("list")
def list_(store: StoreOpt = None, json: JsonOpt = False) -> None:
    """List the datasets in the store."""
    s = _store(store)
    rows = []
    for info in s.catalog.list_datasets():
        deltas = s.catalog.list_deltas(info.name)
        rows.append(
            {
                "dataset": info.name,
                "key": list(info.key),
                "label": info.label,
                "owner": info.owner,
                "domain": info.domain,
                "description": info.description,
                "columns": len(info.schema),
                "deltas": len(deltas),
            }
        )

    def render() -> None:
        from assay.report import tables

        tables.datasets(rows, console)

    emit({"datasets": rows}, json, render)


@app.command("log")
def log(
    dataset: Annotated[str, typer.Argument(help="Dataset name.", autocompletion=complete_datasets)],
    impact: Annotated[
        bool, typer.Option("--impact", help="How each delta shifts the label and features.")
    ] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Flag class-share moves above this (--impact).")
    ] = 0.02,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """List a dataset's deltas in commit order, with their statistics."""
    if impact:
        _log_impact(_store(store), dataset, threshold, json)
        return
    from assay.data.schema import binary_column_note

    s = _store(store)
    info = s.catalog.get_dataset(dataset)
    deltas = s.catalog.list_deltas(dataset)
    notes = [binary_column_note(n) for n, t in info.schema if t == "binary"]
    payload = {
        "dataset": info.name,
        "key": list(info.key),
        "label": info.label,
        "owner": info.owner,
        "domain": info.domain,
        "description": info.description,
        "schema": [{"name": n, "type": t} for n, t in info.schema],
        "notes": notes,
        "deltas": [
            {
                "number": d.number,
                "id": d.delta_id,
                "name": d.name,
                "op": d.op,
                "rows": d.row_count,
                "tags": list(d.tags),
                "message": d.message,
                "author": d.author,
                "created_at": d.created_at,
                "added_columns": list(d.added_columns),
                "label_counts": d.label_counts,
                "stats": d.stats,
                "layout": d.layout,
            }
            for d in deltas
        ],
    }

    def render() -> None:
        from assay.report import terminal

        terminal.data_log(info.name, deltas, notes, console)

    emit(payload, json, render)


def _log_impact(s: Any, dataset: str, threshold: float, as_json: bool) -> None:
    from assay.diagnostics.impact import delta_impact

    with progress(as_json) as bar:
        impacts = delta_impact(s, dataset, threshold=threshold, progress=bar)
    payload = {
        "dataset": dataset,
        "threshold": threshold,
        "flagged": [i.name for i in impacts if i.flagged],
        "deltas": [i.to_dict() for i in impacts],
    }

    def render() -> None:
        from assay.report import terminal

        terminal.data_impact(dataset, impacts, console)

    emit(payload, as_json, render)


def _version(summary: dict[str, Any], out: Path | None) -> None:
    from assay.report import tables

    tables.version(summary, console, out)


OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the rows to this Parquet file.")]


@app.command("compose")
def compose(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    out: OutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Resolve RECIPE into a dataset version, record it, and materialise its rows."""
    import assay

    with progress(json) as bar:
        version = assay.compose(recipe, store=_store(store), progress=bar, out=out)
    summary = {
        **version.summary(),
        "recipe": str(recipe),
        "out": str(out) if out else None,
        "engine": version.store.engine.name,
    }
    emit(summary, json, lambda: _version(summary, out))


@app.command("show")
def show(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint (or a unique prefix).")],
    out: OutOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Rebuild a recorded dataset version from its fingerprint."""
    import assay

    with progress(json) as bar:
        version = assay.load_version(fingerprint, store=_store(store), progress=bar, out=out)
    summary = {
        **version.summary(),
        "recipe": version.recipe.to_dict(),
        "out": str(out) if out else None,
    }
    emit(summary, json, lambda: _version(summary, out))


@app.command("search")
def search(
    query: Annotated[
        str | None,
        typer.Argument(help="Text in a name, description, owner, tag or column (any case)."),
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this team's.")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain's.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only with a delta so tagged.")] = None,
    column: Annotated[str | None, typer.Option("--column", help="Only with this column.")] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Find datasets by name, tag, column or owner, with their description and freshness."""
    from assay.data.search import search_datasets

    hits = search_datasets(_store(store), query, owner=owner, domain=domain, tag=tag, column=column)
    rows = [h.to_dict() for h in hits]

    def render() -> None:
        from assay.report import tables

        tables.dataset_hits(rows, console)

    emit({"query": query, "datasets": rows}, json, render)


@app.command("versions")
def versions(
    dataset: Annotated[
        str | None,
        typer.Argument(help="Only this dataset's versions.", autocompletion=complete_datasets),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """List recorded dataset versions."""
    s = _store(store)
    if dataset is not None:
        s.catalog.get_dataset(dataset)  # a helpful error for a typo
    found = s.catalog.list_versions(dataset)
    rows = [
        {
            "fingerprint": v.fingerprint,
            "dataset": v.dataset,
            "created_at": v.created_at,
            "deltas": len(v.delta_ids),
            "rows": v.summary.get("rows"),
            "splits": v.summary.get("splits"),
        }
        for v in found
    ]

    def render() -> None:
        from assay.report import tables

        tables.versions(rows, console)

    emit({"versions": rows}, json, render)


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="Version A: a recipe YAML file or a fingerprint.")],
    b: Annotated[str, typer.Argument(help="Version B: a recipe YAML file or a fingerprint.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write every added, removed and changed row to this Parquet file."
        ),
    ] = None,
    sample: Annotated[int, typer.Option("--sample", help="Rows to show per kind.")] = 20,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Rows added, removed and changed (by key) from version A to version B."""
    import assay

    with progress(json) as bar:
        result = assay.diff(a, b, store=_store(store), out=out, sample=sample, progress=bar)
    from assay.report import tables

    payload = result.to_dict()
    emit(payload, json, lambda: tables.diff(payload, console))
