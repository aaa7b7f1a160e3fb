"""The HTTP face of an ``Endpoint``: FastAPI routes (imported only after ``require``).

| route | what |
| --- | --- |
| ``POST /v1/predict`` | answer from the request's arm (token needed if ``auth.protect_predict``) |
| ``GET /v1/experiment`` | config, models, weights in force, answers per arm |
| ``PUT /v1/experiment/weights`` | new weights (bearer token; ``{"treatment": 0}`` stops an arm) |
| ``GET /healthz`` | the process is up |
| ``GET /readyz`` | models loaded, log writer and shadow threads running (else 503) |
| ``GET /metrics`` | Prometheus text |
| ``/api/…`` | the store, behind per-domain tokens (``assay.server.store_api``) |

Refusals are ``{"detail": "<one line>", "field": ...}`` with 401, 403, 413 or 422.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from assay.errors import RequestError
from assay.server.auth import Access
from assay.server.endpoint import Endpoint
from assay.server.metrics import CONTENT_TYPE_LATEST, Metrics
from assay.server.store_api import store_routes

__all__ = ["build"]


def build(
    endpoint: Endpoint,
    metrics: Metrics,
    *,
    on_close: Callable[[], None] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """A FastAPI app serving ``endpoint``: opened at startup, closed (log written) at
    shutdown, then ``on_close`` (the store's, when the app opened it). Its ``/api``
    routes check the tokens of ``access`` (None: no token needed)."""
    config = endpoint.config
    limit = config.limits.body_bytes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(endpoint.open)
        try:
            yield
        finally:
            # After uvicorn has stopped accepting and answered what was in flight:
            # queued shadow copies are logged as dropped, then every row is written.
            await run_in_threadpool(endpoint.close)
            metrics.log_progress(endpoint.log)
            if on_close is not None:
                on_close()

    app = FastAPI(
        title=f"assay serve: {config.endpoint}",
        description=f"Experiment {config.experiment!r}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.endpoint = endpoint
    app.state.metrics = metrics

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> JSONResponse:
        metrics.refused.labels(str(error.status)).inc()
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(
            {"detail": str(error), "field": error.field}, error.status, headers=headers
        )

    def authorize(request: Request) -> None:
        if config.auth is None:
            raise RequestError(
                "admin endpoints are off because the config has no `auth`; add "
                "auth: {token_env: ASSAY_TOKEN} and set that variable",
                status=403,
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = endpoint.token or ""
        if scheme.lower() != "bearer" or not given:
            raise RequestError(
                f"this needs the bearer token: send 'Authorization: Bearer <token>' "
                f"(the token is ${config.auth.token_env} on the server)",
                status=401,
            )
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise RequestError(
                f"the bearer token is wrong; send the one in ${config.auth.token_env}",
                status=401,
            )

    @app.post("/v1/predict")
    async def predict(request: Request) -> JSONResponse:
        start = time.perf_counter()
        arrived = datetime.now(UTC)
        if config.auth is not None and config.auth.protect_predict:
            authorize(request)
        body = await _json_body(request, limit)
        answer = await run_in_threadpool(endpoint.predict, body, arrived=arrived)
        metrics.answered(answer, time.perf_counter() - start)
        return JSONResponse(answer.to_dict(), 500 if answer.status == "error" else 200)

    @app.get("/v1/experiment")
    async def experiment() -> dict[str, Any]:
        return endpoint.describe()

    @app.put("/v1/experiment/weights")
    async def weights(request: Request) -> dict[str, Any]:
        authorize(request)
        body = await _json_body(request, limit)
        changes = body.get("weights", body) if isinstance(body, dict) else body
        by = f"admin from {request.client.host}" if request.client else "admin"
        await run_in_threadpool(endpoint.put_weights, changes, by=by)
        return {"experiment": config.experiment, "weights": endpoint.weights}

    app.include_router(store_routes(endpoint.store, access))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = endpoint.ready()
        return JSONResponse({"ready": ready}, 200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.log_progress(endpoint.log)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _json_body(request: Request, limit: int) -> Any:
    """The request's JSON body, refused with 413 past ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_big(declared, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_big(f"more than {limit}", limit)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as e:
        raise RequestError(f"the body is not JSON ({e}); send a JSON object") from None


def _too_big(size: str, limit: int) -> RequestError:
    return RequestError(
        f"the body is {size} bytes, more than limits.body_bytes ({limit:,}); send fewer "
        "records per request or raise the limit in the config",
        status=413,
    )
