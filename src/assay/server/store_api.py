"""The store over HTTP, behind per-domain tokens (imported only after ``require``).

| route | needs |
| --- | --- |
| ``GET /api/datasets`` (``?q=&owner=&domain=&tag=&column=``) | lists the domains the token reads |
| ``GET /api/models`` | lists the domains the token reads |
| ``POST /api/models/{name}/aliases`` ``{"alias", "version"}`` | ``promote`` on the model's domain |

``store_routes(store, access)`` returns the router; ``assay serve`` and ``assay ui``
include it. With ``access=None`` (no ``--auth``) every request is allowed: the CLI then
binds to loopback only. Refusals are ``RequestError`` (401, 403, 404, 422), which the
app answers as ``{"detail": "<one line>", "field": ...}`` (``install_refusals``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from assay.errors import ModelNotFound, RequestError, UsageError
from assay.server.auth import Access, Token, require
from assay.store import Store

__all__ = ["install_refusals", "store_routes", "token_guard"]


def install_refusals(app: FastAPI) -> None:
    """Answer a ``RequestError`` as ``{"detail", "field"}`` with its status (and
    ``WWW-Authenticate: Bearer`` on a 401), for an app that does not already."""

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(
            {"detail": str(error), "field": error.field}, error.status, headers=headers
        )


def token_guard(access: Access | None) -> Callable[[Request], Token | None]:
    """A FastAPI dependency for routes of other routers (the dashboard's): the request's
    token, kept as ``request.state.token`` for the route's own ``require(token,
    permission, domain)``; 401 without a known one. None (no check) when ``access`` is."""

    def guard(request: Request) -> Token | None:
        token = None if access is None else access.identify(request.headers.get("authorization"))
        request.state.token = token
        return token

    return guard


def store_routes(store: Store, access: Access | None) -> APIRouter:
    """The ``/api`` routes over ``store``, checked against ``access`` (None: open)."""
    from assay.data.search import search_datasets
    from assay.models.registry import get_model, list_models, model_to_dict, set_alias

    router = APIRouter(prefix="/api")

    def caller(authorization: str | None) -> Token | None:
        return None if access is None else access.identify(authorization)

    def readable(token: Token | None, domains: set[str]) -> set[str]:
        return domains if token is None else token.readable(domains)

    @router.get("/datasets")
    async def datasets(
        q: str | None = None,
        owner: str | None = None,
        domain: str | None = None,
        tag: str | None = None,
        column: str | None = None,
        authorization: str | None = Header(default=None),
    ) -> dict[str, Any]:
        token = caller(authorization)

        def found() -> list[dict[str, Any]]:
            known = {d.domain for d in store.catalog.list_datasets()}
            hits = search_datasets(
                store,
                q,
                owner=owner,
                domain=domain,
                tag=tag,
                column=column,
                domains=readable(token, known),
            )
            return [h.to_dict() for h in hits]

        return {"datasets": await run_in_threadpool(found)}

    @router.get("/models")
    async def models(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        token = caller(authorization)

        def found() -> list[dict[str, Any]]:
            every = list_models(store=store)
            allowed = readable(token, {m.domain for m in every})
            return [model_to_dict(m) for m in every if m.domain in allowed]

        return {"models": await run_in_threadpool(found)}

    @router.post("/models/{name}/aliases")
    async def alias(
        name: str, request: Request, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        token = caller(authorization)  # 401 before anything about the model is told
        alias, version = _alias_body(await _json(request))

        def move() -> dict[str, Any]:
            try:
                target = get_model(f"{name}@{version}", store=store)
            except ModelNotFound as e:
                raise RequestError(str(e).strip("\"'"), status=404) from None
            if token is not None:
                require(token, "promote", target.domain)
            try:
                before: int | None = get_model(f"{name}@{alias}", store=store).version
            except (ModelNotFound, UsageError):
                before = None
            try:
                info = set_alias(name, version, alias, store=store)
            except UsageError as e:
                raise RequestError(str(e), field="alias") from None
            by = token.name if token is not None else None
            return {**model_to_dict(info), "alias": alias, "moved_from": before, "by": by}

        return await run_in_threadpool(move)

    return router


#: The largest body a write route reads: its JSON is a few names and numbers.
BODY_BYTES = 65_536


async def _json(request: Request) -> Any:
    import json

    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_BYTES:
            raise RequestError(
                f"the body is more than {BODY_BYTES:,} bytes; send only the JSON object",
                status=413,
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body)
    except ValueError as e:
        raise RequestError(f"the body is not JSON ({e}); send a JSON object") from None


def _alias_body(body: Any) -> tuple[str, int]:
    """``(alias, version)`` from ``{"alias", "version"}``, or a 422 naming the field."""
    if not isinstance(body, dict):
        raise RequestError('send a JSON object {"alias": "production", "version": 3}')
    alias, version = body.get("alias"), body.get("version")
    if not isinstance(alias, str) or not alias:
        raise RequestError(
            "`alias` is missing: send the alias to move, e.g. production", field="alias"
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RequestError(
            f"`version` {version!r} is not a version number (1, 2, 3 …)", field="version"
        )
    return alias, version
