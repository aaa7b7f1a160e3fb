"""The dashboard's routes (imported only after ``require("fastapi", …)``).

Pages live under ``/ui/…`` (left out of ``/openapi.json``); each is backed by a JSON
endpoint under ``/api/ui/…`` (what-if: ``/api/whatif/…``) that is listed there. The
store's own ``/api/datasets`` and ``/api/models`` (``server/store_api.py``) are apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from assay.errors import AssayError, NotFound, PredictError
from assay.server.ui import pages, views
from assay.store import Store

__all__ = ["build", "guard", "router"]

T = TypeVar("T")


def guard(request: Request) -> None:
    """THE PERMISSION CHECK GOES HERE: every dashboard route depends on the one guard
    ``router`` is given. This default lets everything through (a dashboard without
    ``--auth`` binds to loopback); ``server.store_api.token_guard(access)`` is the one
    that checks the request's token (401 without a known one)."""


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
    """``work()``, an ``AssayError`` turned into a one-line HTTP refusal."""
    try:
        return work()
    except AssayError as error:
        raise HTTPException(_status(error), str(error)) from None


def router(
    store: Store, *, pipeline: Path | None = None, check: Callable[..., Any] = guard
) -> APIRouter:
    """The dashboard's pages and JSON API over ``store``, to include in any FastAPI
    app (``assay serve``'s too). ``pipeline``: the ``assay.yaml`` whose status to show;
    ``check``: the dependency every route runs first (see ``guard``)."""
    api = APIRouter(dependencies=[Depends(check)])

    def page(render: Callable[[], str]) -> HTMLResponse:
        try:
            return HTMLResponse(render())
        except AssayError as error:
            return HTMLResponse(pages.error_page(str(error)), _status(error))

    # ---- JSON API ----------------------------------------------------------------
    @api.get("/api/ui/datasets", tags=["ui"])
    def list_datasets() -> dict[str, Any]:
        return _call(lambda: views.datasets(store))

    @api.get("/api/ui/datasets/{name}", tags=["ui"])
    def get_dataset(name: str) -> dict[str, Any]:
        return _call(lambda: views.plain(views.dataset(store, name)))

    @api.get("/api/ui/diff", tags=["ui"])
    def get_diff(a: str, b: str, sample: int = 20) -> dict[str, Any]:
        return _call(lambda: views.plain(views.version_diff(store, a, b, sample)))

    @api.get("/api/ui/runs", tags=["ui"])
    def list_runs() -> dict[str, Any]:
        return _call(lambda: views.plain(views.runs(store)))

    @api.get("/api/ui/runs/{run_id}", tags=["ui"])
    def get_run(run_id: str) -> dict[str, Any]:
        return _call(lambda: views.plain(views.lineage(store, run_id)))

    @api.get("/api/ui/models", tags=["ui"])
    def list_models() -> dict[str, Any]:
        return _call(lambda: views.models(store))

    @api.get("/api/ui/checks", tags=["ui"])
    def list_checks() -> dict[str, Any]:
        return _call(lambda: views.plain(views.checks(store)))

    @api.get("/api/ui/checks/{check_id}", tags=["ui"])
    def get_check(check_id: str) -> dict[str, Any]:
        return _call(lambda: views.plain(store.catalog.get_check(check_id)))

    @api.get("/api/ui/evaluations", tags=["ui"])
    def list_evaluations() -> dict[str, Any]:
        return _call(lambda: views.plain(views.evaluations(store)))

    @api.get("/api/ui/evaluations/{evaluation_id}", tags=["ui"])
    def get_evaluation(evaluation_id: str) -> dict[str, Any]:
        return _call(lambda: views.plain(store.catalog.get_evaluation(evaluation_id)))

    @api.get("/api/ui/experiments", tags=["ui"])
    def list_experiments() -> dict[str, Any]:
        return _call(lambda: views.plain(views.experiments(store)))

    @api.get("/api/ui/experiments/{name}", tags=["ui"])
    def get_experiment(name: str, metric: str | None = None) -> dict[str, Any]:
        """The experiment's analysis (``metric``: an outcome column to compare arms on)."""
        return _call(lambda: views.plain(views.experiment(store, name, metric)))

    @api.get("/api/ui/pipeline", tags=["ui"])
    def pipeline_status() -> dict[str, Any]:
        return _call(lambda: views.plain(views.pipeline(store, pipeline)))

    @api.get("/api/whatif/row", tags=["whatif"])
    def whatif_row(version: str, index: int = 0, model: str | None = None) -> dict[str, Any]:
        """Row ``index`` of a version: the features ``model`` reads (else every column)."""
        return _call(lambda: views.plain(views.version_row(store, version, index, model)))

    @api.post("/api/whatif/predict", tags=["whatif"])
    def whatif_predict(body: PredictBody) -> dict[str, Any]:
        """Each model's prediction (and class probabilities) for the row."""
        from assay.diagnostics.whatif import predict

        found = _call(lambda: predict(store, body.models, body.row))
        return views.plain({"predictions": [p.to_dict() for p in found]})

    @api.post("/api/whatif/counterfactual", tags=["whatif"])
    def whatif_counterfactual(body: CounterfactualBody) -> dict[str, Any]:
        """The closest row of the version that the model answers differently."""
        from assay.diagnostics.whatif import counterfactual

        return views.plain(
            _call(
                lambda: counterfactual(
                    store, body.model, views.loaded(store, body.version), body.row
                )
            ).to_dict()
        )

    @api.get("/api/whatif/pdp", tags=["whatif"])
    def whatif_pdp(model: str, version: str, feature: str) -> dict[str, Any]:
        """Partial dependence on ``feature``, overall and per slice of the version's recipe."""
        from assay.diagnostics.whatif import partial_dependence

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
    def datasets_page() -> HTMLResponse:
        return page(lambda: pages.datasets_page(views.datasets(store)))

    @html("/ui/datasets/{name}")
    def dataset_page(name: str) -> HTMLResponse:
        return page(lambda: pages.dataset_page(views.dataset(store, name)))

    @html("/ui/diff")
    def diff_page(a: str, b: str) -> HTMLResponse:
        return page(lambda: pages.diff_page(views.plain(views.version_diff(store, a, b))))

    @html("/ui/runs")
    def runs_page() -> HTMLResponse:
        return page(lambda: pages.runs_page(views.runs(store)))

    @html("/ui/runs/{run_id}")
    def run_page(run_id: str) -> HTMLResponse:
        return page(lambda: pages.run_page(views.lineage(store, run_id)))

    @html("/ui/models")
    def models_page() -> HTMLResponse:
        return page(lambda: pages.models_page(views.models(store)))

    @html("/ui/checks")
    def checks_page() -> HTMLResponse:
        return page(lambda: pages.checks_page(views.checks(store)))

    @html("/ui/checks/{check_id}")
    def check_page(check_id: str) -> HTMLResponse:
        return page(lambda: pages.report_page("checks", check_id, f"Check {check_id[:12]}"))

    @html("/ui/checks/{check_id}/report")
    def check_report(check_id: str) -> HTMLResponse:
        from assay.report import render_check

        return page(lambda: render_check(store.catalog.get_check(check_id)))

    @html("/ui/evaluations")
    def evaluations_page() -> HTMLResponse:
        return page(lambda: pages.evaluations_page(views.evaluations(store)))

    @html("/ui/evaluations/{evaluation_id}")
    def evaluation_page(evaluation_id: str) -> HTMLResponse:
        title = f"Evaluation {evaluation_id[:12]}"
        return page(lambda: pages.report_page("evaluations", evaluation_id, title))

    @html("/ui/evaluations/{evaluation_id}/report")
    def evaluation_report(evaluation_id: str) -> HTMLResponse:
        from assay.report import render_evaluation

        return page(
            lambda: render_evaluation(
                store.catalog.get_evaluation(evaluation_id), self_contained=True
            )
        )

    @html("/ui/experiments")
    def experiments_page() -> HTMLResponse:
        return page(lambda: pages.experiments_page(views.experiments(store)))

    @html("/ui/experiments/{name}")
    def experiment_page(name: str) -> HTMLResponse:
        return page(lambda: pages.report_page("experiments", name, f"Experiment {name}"))

    @html("/ui/experiments/{name}/report")
    def experiment_report(name: str) -> HTMLResponse:
        from assay.report import render_experiment

        return page(
            lambda: render_experiment(views.experiment(store, name, None), self_contained=True)
        )

    @html("/ui/pipeline")
    def pipeline_page() -> HTMLResponse:
        return page(lambda: pages.pipeline_page(views.pipeline(store, pipeline)))

    @html("/ui/whatif")
    def whatif_page() -> HTMLResponse:
        return page(
            lambda: pages.whatif_page(
                [m["ref"] for m in views.models(store)["models"]], views.all_versions(store)
            )
        )

    return api


def build(
    store: Store, *, pipeline: Path | None = None, on_close: Callable[[], None] | None = None
) -> FastAPI:
    """A FastAPI app that is only the dashboard (``assay ui``)."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                on_close()

    app = FastAPI(title="assay ui", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(router(store, pipeline=pipeline))
    return app
