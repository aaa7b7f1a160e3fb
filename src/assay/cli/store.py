"""``assay init``, ``verify``, ``gc`` and ``recover``: make a store, check it, clean it
up, and rebuild its catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, emit, markdown, progress

if TYPE_CHECKING:
    from assay.integrity import GcReport, RecoverReport


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        path: Annotated[str, typer.Argument(help="Where to make the store.")] = ".assay",
        catalog: Annotated[
            str | None, typer.Option(help="Catalog database URL (default: SQLite in the store).")
        ] = None,
        engine: Annotated[
            str | None,
            typer.Option(
                "--engine",
                help="Record the store's engine (duckdb or spark) in its assay.json.",
                show_default=False,
            ),
        ] = None,
        json: JsonOpt = False,
    ) -> None:
        """Create a store (objects + catalog) at PATH, default ./.assay."""
        from assay.store import init_store, usage_hints, without_password

        with init_store(path, catalog=catalog, engine=engine) as store:
            shown = without_password(store.catalog.url)
            hints = usage_hints(store)
        emit(
            {"store": store.url, "catalog": shown, "engine": store.engine_config, "use": hints},
            json,
            lambda: _render_init(store.url, shown, hints),
        )

    @app.command("verify")
    def verify(
        markdown_file: MarkdownOpt = None, store: StoreOpt = None, json: JsonOpt = False
    ) -> int:
        """Re-hash every object and check every catalog reference; exit 1 on problems."""
        from assay.integrity import verify as verify_store
        from assay.report import terminal
        from assay.store import open_store

        with open_store(store) as s, progress(json) as bar:
            report = verify_store(s, progress=bar)
        markdown(report, markdown_file)
        emit(report.to_dict(), json, lambda: terminal.verify(report, console))
        return 0 if report.ok else 1

    @app.command("gc")
    def gc(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
        ] = False,
        grace: Annotated[
            float,
            typer.Option(
                "--grace",
                metavar="SECONDS",
                help="Keep unreferenced objects younger than this (writes in flight).",
            ),
        ] = 3600.0,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Remove the objects nothing references (and leftovers of interrupted writes)."""
        from assay.integrity import collect_garbage
        from assay.store import open_store

        with open_store(store) as s:
            report = collect_garbage(s, grace=grace, dry_run=dry_run)
        emit(report.to_dict(), json, lambda: _render_gc(report))

    @app.command("recover")
    def recover(
        force: Annotated[
            bool,
            typer.Option("--force", help="Rebuild even a catalog that reads soundly."),
        ] = False,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Rebuild a lost or damaged catalog from the manifests beside the objects."""
        from assay.integrity import recover as recover_store

        report = recover_store(store, force=force)
        emit(report.to_dict(), json, lambda: _render_recover(report))


def _render_init(url: str, catalog: str, hints: list[str]) -> None:
    console.print(f"Created store at [bold]{escape(url)}[/] (catalog {escape(catalog)})")
    for line in hints:
        console.print(f"  {escape(line)}", soft_wrap=True)


def _render_recover(report: RecoverReport) -> None:
    moved = f"; the old catalog is at {report.moved_to}" if report.moved_to else ""
    console.print(
        f"Recovered {len(report.datasets):,} dataset(s), {report.deltas:,} delta(s) and "
        f"{report.versions:,} version(s) into {escape(report.catalog)}{escape(moved)}."
    )
    for line in report.skipped:
        console.print(f"  skipped {escape(line)}")
    if report.unattributed:
        console.print(
            f"{len(report.unattributed):,} object(s) have no manifest (runs, models, reports, "
            "or data stored before manifests); they are kept, but `assay gc` would remove "
            "them: keep a copy before running it."
        )


def _render_gc(report: GcReport) -> None:
    verb = "Would remove" if report.dry_run else "Removed"
    for o in report.removed:
        console.print(f"  {escape(o.key)} ({_fmt_bytes(o.size)})")
    console.print(
        f"{verb} {len(report.removed):,} unreferenced object(s), {_fmt_bytes(report.bytes_freed)}."
    )
    if report.kept_recent:
        console.print(
            f"Kept {len(report.kept_recent):,} unreferenced object(s) younger than "
            f"{report.grace:g} s: a write may still be committing them."
        )


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
