"""``assay ui``: a dashboard over a store, on the same FastAPI stack as ``assay serve``.

    app = assay.server.ui.create_app(store)            # the dashboard alone
    serve_app.include_router(assay.server.ui.router(store))   # inside assay serve's app

Pages under ``/ui`` (datasets with delta impact and diffs, runs with lineage, models,
checks and evaluations with their reports, experiments, pipeline status, what-if);
each is backed by a JSON endpoint under ``/api/ui`` (what-if: ``/api/whatif``) listed
in ``/openapi.json``. FastAPI
comes with ``pip install 'assay[serve]'`` (docs/ui.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.extras import require

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from assay.store import Store

__all__ = ["PURPOSE", "create_app", "router"]

PURPOSE = "the dashboard (assay ui, assay.server.ui)"


def router(
    store: Store,
    *,
    pipeline: str | os.PathLike[str] | None = None,
    check: Callable[..., Any] | None = None,
) -> APIRouter:
    """The dashboard's pages and JSON API over ``store``, to include in a FastAPI app.

    ``check``: a FastAPI dependency every route runs first, e.g.
    ``assay.server.store_api.token_guard(access)``; default: none (open).
    """
    require("fastapi", PURPOSE)
    from assay.server.ui.app import guard
    from assay.server.ui.app import router as build_router

    return build_router(
        store, pipeline=None if pipeline is None else Path(pipeline), check=check or guard
    )


def create_app(
    store: Store | None = None, *, pipeline: str | os.PathLike[str] | None = None
) -> FastAPI:
    """A FastAPI app that is the dashboard over ``store`` (default: the store
    ``assay.open_store()`` finds, closed at shutdown)."""
    require("fastapi", PURPOSE)
    from assay.server.ui.app import build
    from assay.store import open_store

    owned = store is None
    opened = open_store() if store is None else store
    return build(
        opened,
        pipeline=None if pipeline is None else Path(pipeline),
        on_close=opened.close if owned else None,
    )
