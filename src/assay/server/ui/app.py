"""The dashboard's routes (imported only after ``require("fastapi", …)``).

Pages live under ``/ui/…`` (left out of ``/openapi.json``); each is backed by a JSON
endpoint under ``/api/ui/…`` (what-if: ``/api/whatif/…``) that is listed there. The
store's own ``/api/datasets`` and ``/api/models`` (``server/store_api.py``) are apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from assay.errors import AssayError, NotFound, PredictError, RequestError
from assay.server.auth import Access
from assay.server.ui import pages, views
from assay.server.ui.visibility import COOKIE, Visibility, token_of
from assay.store import Store

__all__ = ["build", "router"]

T = TypeVar("T")


class PredictBody(BaseModel):
    models: list[str] = Field(min_length=1, description="NAME@REF of each model to ask")
    row: dict[str, Any]


class CounterfactualBody(BaseModel):
    model: str
    version: str = Field(description="a dataset version's fingerprint (or a unique prefix)")
    row: dict[str, Any]


def _status(error: AssayError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, PredictError):
        return 500
    return 422


def _call(work: Callable[[], T]) -> T:
    """``work()``, an ``AssayError`` turned into a one-line HTTP refusal (a 401 or 403
    goes on as it is, answered as ``assay serve`` answers it)."""
    try:
        return work()
    except RequestError:
        raise
    except AssayError as error:
        raise HTTPException(_status(error), str(error)) from None


def router(
    store: Store, *, pipeline: Path | None = None, access: Access | None = None
) -> APIRouter:
    """The dashboard's pages and JSON API over ``store``, to include in any FastAPI
    app (``assay serve``'s too). ``pipeline``: the ``assay.yaml`` whose status to show;
    ``access``: the tokens it accepts (``Authorization: Bearer`` or the sign-in cookie),
    each shown only the domains it reads (None: no token needed, everything shown)."""
    api = APIRouter()

    def seen(request: Request) -> Visibility:
        """What the request may see; a 401 without a known token (with ``access``)."""
        authorization = request.headers.get("authorization")
        token = token_of(access, authorization, request.cookies.get(COOKIE))
        request.state.token = token
        return Visibility(store, token)

    see = Depends(seen)

    def page(request: Request, render: Callable[[Visibility], str]) -> HTMLResponse:
        try:
            shown = seen(request)
            return HTMLResponse(pages.account(render(shown), access is not None, shown.token))
        except RequestError as error:
            if error.status == 401:  # the sign-in form, saying why
                return HTMLResponse(pages.signin_page(str(error), None), 401)
            return HTMLResponse(pages.error_page(str(error)), error.status)
        except AssayError as error:
            return HTMLResponse(pages.error_page(str(error)), _status(error))

    # ---- JSON API ----------------------------------------------------------------
    @api.get("/api/ui/datasets", tags=["ui"])
    def list_datasets(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: _datasets(store, v))

    @api.get("/api/ui/datasets/{name}", tags=["ui"])
    def get_dataset(name: str, v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(views.dataset(store, _dataset(v, name))))

    @api.get("/api/ui/diff", tags=["ui"])
    def get_diff(a: str, b: str, sample: int = 20, v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(views.version_diff(store, *_versions(v, a, b), sample)))

    @api.get("/api/ui/runs", tags=["ui"])
    def list_runs(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_runs(store, v)))

    @api.get("/api/ui/runs/{run_id}", tags=["ui"])
    def get_run(run_id: str, v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(views.lineage(store, _run(v, run_id))))

    @api.get("/api/ui/models", tags=["ui"])
    def list_models(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: _models(store, v))

    @api.get("/api/ui/checks", tags=["ui"])
    def list_checks(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_checks(store, v)))

    @api.get("/api/ui/checks/{check_id}", tags=["ui"])
    def get_check(check_id: str, v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_check(v, check_id)))

    @api.get("/api/ui/evaluations", tags=["ui"])
    def list_evaluations(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_evaluations(store, v)))

    @api.get("/api/ui/evaluations/{evaluation_id}", tags=["ui"])
    def get_evaluation(evaluation_id: str, v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_evaluation(v, evaluation_id)))

    @api.get("/api/ui/experiments", tags=["ui"])
    def list_experiments(v: Visibility = see) -> dict[str, Any]:
        return _call(lambda: views.plain(_experiments(store, v)))

    @api.get("/api/ui/experiments/{name}", tags=["ui"])
    def get_experiment(name: str, metric: str | None = None, v: Visibility = see) -> dict[str, Any]:
        """The experiment's analysis (``metric``: an outcome column to compare arms on)."""
        return _call(lambda: views.plain(views.experiment(store, _experiment(v, name), metric)))

    @api.get("/api/ui/pipeline", tags=["ui"])
    def pipeline_status(v: Visibility = see) -> dict[str, Any]:
        _call(lambda: v.require(lambda: v.pipeline_domains(pipeline)))
        return _call(lambda: views.plain(views.pipeline(store, pipeline)))

    @api.get("/api/whatif/row", tags=["whatif"])
    def whatif_row(
        version: str, index: int = 0, model: str | None = None, v: Visibility = see
    ) -> dict[str, Any]:
        """Row ``index`` of a version: the features ``model`` reads (else every column)."""
        _call(lambda: _probe(v, [model] if model else [], version))
        return _call(lambda: views.plain(views.version_row(store, version, index, model)))

    @api.post("/api/whatif/predict", tags=["whatif"])
    def whatif_predict(body: PredictBody, v: Visibility = see) -> dict[str, Any]:
        """Each model's prediction (and class probabilities) for the row."""
        from assay.diagnostics.whatif import predict

        _call(lambda: _probe(v, body.models, None))
        found = _call(lambda: predict(store, body.models, body.row))
        return views.plain({"predictions": [p.to_dict() for p in found]})

    @api.post("/api/whatif/counterfactual", tags=["whatif"])
    def whatif_counterfactual(body: CounterfactualBody, v: Visibility = see) -> dict[str, Any]:
        """The closest row of the version that the model answers differently."""
        from assay.diagnostics.whatif import counterfactual

        _call(lambda: _probe(v, [body.model], body.version))
        return views.plain(
            _call(
                lambda: counterfactual(
                    store, body.model, views.loaded(store, body.version), body.row
                )
            ).to_dict()
        )

    @api.get("/api/whatif/pdp", tags=["whatif"])
    def whatif_pdp(model: str, version: str, feature: str, v: Visibility = see) -> dict[str, Any]:
        """Partial dependence on ``feature``, overall and per slice of the version's recipe."""
        from assay.diagnostics.whatif import partial_dependence

        _call(lambda: _probe(v, [model], version))
        return views.plain(
            _call(
                lambda: partial_dependence(store, model, views.loaded(store, version), feature)
            ).to_dict()
        )

    # ---- pages ---------------------------------------------------------------------
    def html(path: str) -> Callable[[Callable[..., HTMLResponse]], Callable[..., HTMLResponse]]:
        return api.get(path, response_class=HTMLResponse, include_in_schema=False)

    @api.get("/", include_in_schema=False)
    @api.get("/ui", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/datasets")

    @html("/ui/datasets")
    def datasets_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.datasets_page(_datasets(store, v)))

    @html("/ui/datasets/{name}")
    def dataset_page(request: Request, name: str) -> HTMLResponse:
        return page(request, lambda v: pages.dataset_page(views.dataset(store, _dataset(v, name))))

    @html("/ui/diff")
    def diff_page(request: Request, a: str, b: str) -> HTMLResponse:
        return page(
            request,
            lambda v: pages.diff_page(views.plain(views.version_diff(store, *_versions(v, a, b)))),
        )

    @html("/ui/runs")
    def runs_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.runs_page(_runs(store, v)))

    @html("/ui/runs/{run_id}")
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        return page(request, lambda v: pages.run_page(views.lineage(store, _run(v, run_id))))

    @html("/ui/models")
    def models_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.models_page(_models(store, v)))

    @html("/ui/checks")
    def checks_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.checks_page(_checks(store, v)))

    @html("/ui/checks/{check_id}")
    def check_page(request: Request, check_id: str) -> HTMLResponse:
        return page(
            request,
            lambda v: pages.report_page(
                "checks", _check(v, check_id)["id"], f"Check {check_id[:12]}"
            ),
        )

    @html("/ui/checks/{check_id}/report")
    def check_report(request: Request, check_id: str) -> HTMLResponse:
        from assay.report import render_check

        return page(request, lambda v: render_check(_check(v, check_id)))

    @html("/ui/evaluations")
    def evaluations_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.evaluations_page(_evaluations(store, v)))

    @html("/ui/evaluations/{evaluation_id}")
    def evaluation_page(request: Request, evaluation_id: str) -> HTMLResponse:
        title = f"Evaluation {evaluation_id[:12]}"
        return page(
            request,
            lambda v: pages.report_page("evaluations", _evaluation(v, evaluation_id)["id"], title),
        )

    @html("/ui/evaluations/{evaluation_id}/report")
    def evaluation_report(request: Request, evaluation_id: str) -> HTMLResponse:
        from assay.report import render_evaluation

        return page(
            request,
            lambda v: render_evaluation(_evaluation(v, evaluation_id), self_contained=True),
        )

    @html("/ui/experiments")
    def experiments_page(request: Request) -> HTMLResponse:
        return page(request, lambda v: pages.experiments_page(_experiments(store, v)))

    @html("/ui/experiments/{name}")
    def experiment_page(request: Request, name: str, metric: str | None = None) -> HTMLResponse:
        def render(v: Visibility) -> str:
            found = _experiment(v, name)
            metrics = views.outcome_metrics(store, found)
            return pages.report_page("experiments", found, f"Experiment {name}", metrics, metric)

        return page(request, render)

    @html("/ui/experiments/{name}/report")
    def experiment_report(request: Request, name: str, metric: str | None = None) -> HTMLResponse:
        from assay.report import render_experiment

        return page(
            request,
            lambda v: render_experiment(
                views.experiment(store, _experiment(v, name), metric), self_contained=True
            ),
        )

    @html("/ui/pipeline")
    def pipeline_page(request: Request) -> HTMLResponse:
        def render(v: Visibility) -> str:
            v.require(lambda: v.pipeline_domains(pipeline))
            return pages.pipeline_page(views.pipeline(store, pipeline))

        return page(request, render)

    @html("/ui/whatif")
    def whatif_page(request: Request) -> HTMLResponse:
        def render(v: Visibility) -> str:
            versions = [
                version
                for version in views.all_versions(store)
                if v.reads({v.dataset_domain(version["dataset"])})
            ]
            return pages.whatif_page([m["ref"] for m in _models(store, v)["models"]], versions)

        return page(request, render)

    # ---- sign-in: the token in an HttpOnly cookie, never in the page's reach -------
    @api.get("/ui/signin", response_class=HTMLResponse, include_in_schema=False)
    def signin_form(request: Request) -> HTMLResponse:
        if access is None:
            return HTMLResponse(
                pages.account(pages.signin_page(None, None, needed=False), False, None)
            )
        try:
            token = token_of(access, None, request.cookies.get(COOKIE))
        except RequestError:
            token = None
        return HTMLResponse(
            pages.account(pages.signin_page(None, token.name if token else None), True, token)
        )

    @api.post("/ui/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = parse_qs((await request.body())[:BODY_BYTES].decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        if access is None:
            return RedirectResponse("/ui/datasets", 303)
        try:
            token_of(access, f"Bearer {given}", None)
        except RequestError as error:
            return HTMLResponse(pages.signin_page(str(error), None), error.status)
        answer = RedirectResponse("/ui/datasets", 303)
        answer.set_cookie(
            COOKIE,
            given,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return answer

    @api.post("/ui/signout", include_in_schema=False)
    def signout() -> Response:
        answer = RedirectResponse("/ui/signin", 303)
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    return api


#: The most of a sign-in form's body read: a token is well under this.
BODY_BYTES = 8192


# ---- what a token sees: lists kept to the domains it reads, one thing refused whole ----
def _datasets(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.datasets(store)
    return {"datasets": v.keep(found["datasets"], lambda d: {v.dataset_domain(d["name"])})}


def _models(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.models(store)
    return {"models": v.keep(found["models"], lambda m: {v.model_domain(m["name"])})}


def _runs(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.runs(store)
    return {"runs": v.keep(found["runs"], lambda r: v.run_domains(r["id"], r["inputs"]))}


def _checks(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.checks(store)
    return {"checks": v.keep(found["checks"], v.check_domains)}


def _evaluations(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.evaluations(store)
    # The summaries name models as NAME@VERSION; the full record has the datasets too.
    return {
        "evaluations": v.keep(
            found["evaluations"],
            lambda e: v.evaluation_domains(store.catalog.get_evaluation(str(e["id"]))),
        )
    }


def _experiments(store: Store, v: Visibility) -> dict[str, Any]:
    found = views.experiments(store)
    return {"experiments": v.keep(found["experiments"], lambda e: v.experiment_domains(e["name"]))}


def _dataset(v: Visibility, name: str) -> str:
    v.require(lambda: {v.dataset_domain(name)})
    return name


def _versions(v: Visibility, a: str, b: str) -> tuple[str, str]:
    v.require(lambda: {v.version_domain(a), v.version_domain(b)})
    return a, b


def _run(v: Visibility, run_id: str) -> str:
    v.require(lambda: v.run_domains(run_id))
    return run_id


def _check(v: Visibility, check_id: str) -> dict[str, Any]:
    report = v.store.catalog.get_check(check_id)
    v.require(lambda: v.check_domains(report))
    return report


def _evaluation(v: Visibility, evaluation_id: str) -> dict[str, Any]:
    report = v.store.catalog.get_evaluation(evaluation_id)
    v.require(lambda: v.evaluation_domains(report))
    return report


def _experiment(v: Visibility, name: str) -> str:
    v.require(lambda: v.experiment_domains(name))
    return name


def _probe(v: Visibility, models: list[str], version: str | None) -> None:
    """A what-if probe reads its models and its version: ``read`` on each domain."""

    def domains() -> set[str]:
        found = {v.model_domain(ref) for ref in models}
        return found if version is None else found | {v.version_domain(version)}

    v.require(domains)


def build(
    store: Store,
    *,
    pipeline: Path | None = None,
    on_close: Callable[[], None] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """A FastAPI app that is the dashboard and the store's ``/api`` (``assay ui``),
    checked against ``access`` (None: open)."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                on_close()

    from assay.server.store_api import install_refusals, store_routes

    app = FastAPI(title="assay ui", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_refusals(app)
    # The store's own /api (lists, promotion) too: ASSAY_SERVER may name assay ui.
    app.include_router(store_routes(store, access))
    app.include_router(router(store, pipeline=pipeline, access=access))
    return app
