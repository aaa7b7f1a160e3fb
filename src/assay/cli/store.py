"""``assay init``: make a store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from assay.cli import JsonOpt
from assay.cli._output import console, emit


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        path: Annotated[str, typer.Argument(help="Where to make the store.")] = ".assay",
        catalog: Annotated[
            str | None, typer.Option(help="Catalog database URL (default: SQLite in the store).")
        ] = None,
        json: JsonOpt = False,
    ) -> None:
        """Create a store (objects + catalog) at PATH, default ./.assay."""
        from assay.store import init_store

        store = init_store(path, catalog=catalog)
        emit(
            {"store": store.url, "catalog": store.catalog.url},
            json,
            lambda: console.print(
                f"Created store at [bold]{escape(store.url)}[/] (catalog {escape(store.catalog.url)})"
            ),
        )
