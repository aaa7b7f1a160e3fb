"""``assay init``, ``verify``, ``gc`` and ``recover``: make a store, check it, clean it
up, and rebuild its catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._choices import EngineName
from assay.cli._output import MarkdownOpt, console, emit, markdown, progress


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        path: Annotated[str, typer.Argument(help="Where to make the store.")] = ".assay",
        catalog: Annotated[
            str | None, typer.Option(help="Catalog database URL (default: SQLite in the store).")
        ] = None,
        engine: Annotated[
            EngineName | None,
            typer.Option(
                "--engine",
                help="Record the store's engine in its assay.json.",
                show_default=False,
                case_sensitive=False,
            ),
        ] = None,
        json: JsonOpt = False,
    ) -> None:
        """Create a store (objects + catalog) at PATH, default ./.assay."""
        from assay.report import tables
        from assay.store import init_store, usage_hints, without_password

        chosen = engine.value if engine is not None else None
        with init_store(path, catalog=catalog, engine=chosen) as store:
            shown = without_password(store.catalog.url)
            hints = usage_hints(store)
        emit(
            {"store": store.url, "catalog": shown, "engine": store.engine_config, "use": hints},
            json,
            lambda: tables.init(store.url, shown, hints, console),
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
        caches: Annotated[
            bool,
            typer.Option(
                "--caches",
                help="Also remove derived caches (incremental check states; rebuilt when needed).",
            ),
        ] = False,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Remove the objects nothing references (and leftovers of interrupted writes)."""
        from assay.integrity import collect_garbage
        from assay.report import tables
        from assay.store import open_store

        with open_store(store) as s:
            report = collect_garbage(s, grace=grace, dry_run=dry_run, caches=caches)
        emit(report.to_dict(), json, lambda: tables.gc(report, console))

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
        from assay.report import tables

        report = recover_store(store, force=force)
        emit(report.to_dict(), json, lambda: tables.recover(report, console))
