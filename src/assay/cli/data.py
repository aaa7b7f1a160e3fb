"""``assay data …``: datasets, deltas, composition."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import console, emit, progress, status

app = typer.Typer(help="Versioned datasets: deltas, recipes, composition.", no_args_is_help=True)


def _store(url: str | None) -> Any:
    from assay.store import open_store

    return open_store(url)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    key: Annotated[str, typer.Option("--key", help="Key column(s), comma-separated.")],
    label: Annotated[str | None, typer.Option("--label", help="Label column, if any.")] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create an empty dataset keyed by --key."""
    from assay.data import create_dataset

    info = create_dataset(_store(store), name, key.split(","), label)
    emit(
        {"dataset": info.name, "key": list(info.key), "label": info.label},
        json,
        lambda: console.print(
            f"Created dataset [bold]{info.name}[/] (key {', '.join(info.key)}"
            + (f", label {info.label}" if info.label else "")
            + ")"
        ),
    )


@app.command("add")
def add(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSONL file.")],
    op: Annotated[str, typer.Option("--op", help="insert | upsert | delete")] = "insert",
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
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Commit FILE to DATASET as a new, immutable delta."""
    from assay.data import add_delta
    from assay.data.schema import FileOptions, parse_renames

    options = FileOptions(encoding=encoding, rename=parse_renames(rename or ()), drop=drop or ())
    with status(json, f"Checking and committing {escape(file.name)}…"):
        result = add_delta(
            _store(store),
            dataset,
            file,
            op=op,
            name=name,
            tags=tag or (),
            message=message,
            options=options,
        )
    d = result.delta

    def render() -> None:
        if not result.created:
            console.print(
                f"Nothing to do: this content is already delta [bold]{d.name}[/] ({d.short_id})."
            )
            return
        console.print(
            f"Added delta [bold]{d.name}[/] ({d.short_id}) to {d.dataset}: "
            f"{d.op} {d.row_count:,} rows"
        )
        if result.added_columns:
            console.print(f"  new columns: {', '.join(result.added_columns)}")
        if result.ignored_columns:
            console.print(f"  ignored (not key) columns: {', '.join(result.ignored_columns)}")
        if d.label_counts:
            console.print(f"  labels: {_fmt_counts(d.label_counts)}")

    emit(result.to_dict(), json, render)


def _fmt_counts(counts: dict[str, int]) -> str:
    from assay.report.terminal import label_counts

    return label_counts(counts)


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
                "columns": len(info.schema),
                "deltas": len(deltas),
            }
        )

    def render() -> None:
        table = Table("dataset", "key", "label", "columns", "deltas")
        for r in rows:
            table.add_row(
                r["dataset"],
                ",".join(r["key"]),
                r["label"] or "",
                str(r["columns"]),
                str(r["deltas"]),
            )
        console.print(table)

    emit({"datasets": rows}, json, render)


@app.command("log")
def log(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
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


def render_version(summary: dict[str, Any], out: Path | None) -> None:
    console.print(f"Dataset version [bold]{summary['fingerprint'][:12]}[/] of {summary['dataset']}")
    console.print(f"  fingerprint {summary['fingerprint']}")
    console.print(
        "  deltas: " + ", ".join(f"{d['name']} ({d['id'][:12]})" for d in summary["deltas"])
    )
    splits = list(summary["splits"])
    table = Table("", "rows", *splits)
    table.add_row("all", f"{summary['rows']:,}", *(f"{summary['splits'][s]:,}" for s in splits))
    for name, sl in summary["slices"].items():
        table.add_row(f"slice {name}", f"{sl['rows']:,}", *(f"{sl['splits'][s]:,}" for s in splits))
    console.print(table)
    if out:
        console.print(f"  written to {escape(str(out))}")


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
        version = assay.compose(recipe, store=_store(store), progress=bar)
    if out:
        version.write_parquet(out)
    summary = {
        **version.summary(),
        "recipe": str(recipe),
        "out": str(out) if out else None,
        "engine": version.store.engine.name,
    }
    emit(summary, json, lambda: render_version(summary, out))


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
        version = assay.load_version(fingerprint, store=_store(store), progress=bar)
    if out:
        version.write_parquet(out)
    summary = {
        **version.summary(),
        "recipe": version.recipe.to_dict(),
        "out": str(out) if out else None,
    }
    emit(summary, json, lambda: render_version(summary, out))


@app.command("versions")
def versions(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset's versions.")] = None,
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
        table = Table("fingerprint", "dataset", "deltas", "rows", "created")
        for r in rows:
            table.add_row(
                r["fingerprint"][:12],
                r["dataset"],
                str(r["deltas"]),
                f"{r['rows']:,}",
                r["created_at"][:19],
            )
        console.print(table)

    emit({"versions": rows}, json, render)


def _render_diff(d: dict[str, Any]) -> None:
    console.print(
        f"Diff of [bold]{escape(d['dataset'])}[/]: A {d['a'][:12]} ({d['rows_a']:,} rows) → "
        f"B {d['b'][:12]} ({d['rows_b']:,} rows)"
        + ("  [green]identical[/]" if d["identical"] else "")
    )
    kinds = ("added", "removed", "changed", "unchanged")
    summary = Table("split", *kinds, title="rows by split (removed: split in A)")
    summary.columns[0].justify = "left"
    for col in summary.columns[1:]:
        col.justify = "right"
    for split, counts in d["splits"].items():
        summary.add_row(escape(split), *(f"{counts[k]:,}" for k in kinds))
    summary.add_row("[bold]all[/]", *(f"[bold]{d[k]:,}[/]" for k in kinds))
    console.print(summary)
    if d["split_moved"]:
        moves = ", ".join(
            f"{escape(f)} → {escape(t)}: {n:,}"
            for f, to in d["split_moves"].items()
            for t, n in to.items()
        )
        console.print(
            f"  {d['split_moved']:,} rows in both moved split (seed or fractions differ): {moves}"
        )
    if d["only_in_a"]:
        console.print(f"  columns only in A (not compared): {escape(', '.join(d['only_in_a']))}")
    if d["only_in_b"]:
        console.print(f"  columns only in B (not compared): {escape(', '.join(d['only_in_b']))}")
    if d["changed_columns"]:
        cols = Table("column", "changed rows", title="changed columns")
        cols.columns[1].justify = "right"
        for name, n in d["changed_columns"].items():
            cols.add_row(escape(name), f"{n:,}")
        console.print(cols)
    rows = [(kind, r) for kind in ("added", "removed", "changed") for r in d["samples"][kind]]
    if rows:
        sample = Table("change", ", ".join(d["key"]), "split", "a → b", title="sample rows")
        for kind, r in rows:
            changes = "; ".join(
                f"{c}: {v['a']!r} → {v['b']!r}" for c, v in r.get("changes", {}).items()
            )
            sample.add_row(
                kind,
                escape(", ".join(str(v) for v in r["key"].values())),
                escape(str(r["split"])),
                escape(changes),
            )
        console.print(sample)
    if d["out"]:
        console.print(f"  differing rows written to {escape(d['out'])}")


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
    payload = result.to_dict()
    emit(payload, json, lambda: _render_diff(payload))
