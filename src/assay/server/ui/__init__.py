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
from pathlib import Path
from typing import TYPE_CHECKING

from assay.extras import require

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from assay.server.auth import Access
    from assay.store import Store

__all__ = ["PURPOSE", "create_app", "router"]

PURPOSE = "the dashboard (assay ui, assay.server.ui)"


def router(
    store: Store,
    *,
    pipeline: str | os.PathLike[str] | None = None,
    access: Access | str | os.PathLike[str] | None = None,
) -> APIRouter:
    """The dashboard's pages and JSON API over ``store``, to include in a FastAPI app.

    ``access``: the tokens it accepts (an ``Access`` or a token file's path), each shown
    only the domains it reads (docs/access.md); default: none needed (open). The app
    that includes it answers their refusals (``store_api.install_refusals``).
    """
    require("fastapi", PURPOSE)
    from assay.server.ui.app import router as build_router

    return build_router(
        store, pipeline=None if pipeline is None else Path(pipeline), access=_access(access)
    )


def create_app(
    store: Store | None = None,
    *,
    pipeline: str | os.PathLike[str] | None = None,
    access: Access | str | os.PathLike[str] | None = None,
) -> FastAPI:
    """A FastAPI app that is the dashboard and the store's ``/api`` over ``store``
    (default: the store ``assay.open_store()`` finds, closed at shutdown), checked
    against ``access`` (an ``Access`` or a token file's path; None: open)."""
    require("fastapi", PURPOSE)
    from assay.server.ui.app import build
    from assay.store import open_store

    checked = _access(access)  # a bad token file stops it before the store opens
    owned = store is None
    opened = open_store() if store is None else store
    return build(
        opened,
        pipeline=None if pipeline is None else Path(pipeline),
        on_close=opened.close if owned else None,
        access=checked,
    )


def _access(access: Access | str | os.PathLike[str] | None) -> Access | None:
    from assay.server.auth import Access, load_access

    return access if access is None or isinstance(access, Access) else load_access(access)
