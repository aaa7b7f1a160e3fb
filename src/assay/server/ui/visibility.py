"""What one dashboard request may see: the domains its token reads (no FastAPI here).

Everything the dashboard shows or probes lives in a domain (``store/ownership.py``): a
dataset, a version (its dataset's), a model. What shows several things spans their
domains: a run (the datasets it read, the models it registered), a check (its
dataset), an evaluation (its models and datasets), an experiment (the models it
routes to and shadows), the pipeline (the datasets its recipes compose). A list keeps
what the token reads in every domain it spans; one thing it cannot read whole is a 403
naming the first domain missing (``auth.require``'s message, the same as
``assay serve``'s). ``Visibility(store, None)`` (no ``--auth``) sees everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.server.auth import Access, Token, require
from assay.store import Store
from assay.store.ownership import DEFAULT_DOMAIN

__all__ = ["COOKIE", "Visibility", "token_of"]

#: The cookie that carries a signed-in browser's token (HttpOnly, SameSite=Strict).
COOKIE = "assay_token"


def token_of(access: Access | None, authorization: str | None, cookie: str | None) -> Token | None:
    """The token a request sends, in its ``Authorization`` header or else the sign-in
    cookie; None without ``access``; a 401 ``RequestError`` without a known one."""
    if access is None:
        return None
    if authorization is None and cookie:
        authorization = f"Bearer {cookie}"
    return access.identify(authorization)


class Visibility:
    """The domains of what the dashboard shows, and the token's right to read them."""

    def __init__(self, store: Store, token: Token | None) -> None:
        self.store = store
        self.token = token
        self._datasets: dict[str, str] | None = None
        self._models: list[Any] | None = None

    # ---- domains ---------------------------------------------------------------------
    def dataset_domain(self, name: str) -> str:
        """A dataset's domain; ``DatasetNotFound`` naming it if there is none."""
        found = self._dataset_domains().get(name)
        return found if found is not None else self.store.catalog.get_dataset(name).domain

    def version_domain(self, version: str) -> str:
        """The domain of the dataset a version (fingerprint or prefix) belongs to."""
        return self.dataset_domain(self.store.catalog.get_version(version).dataset)

    def model_domain(self, ref: str) -> str:
        """A model's domain (``NAME``, ``NAME@VERSION`` or ``NAME@ALIAS``)."""
        from assay.models.registry import get_model

        found = self._model_domains().get(ref.partition("@")[0])
        return found if found is not None else get_model(ref, store=self.store).domain

    def run_domains(self, run_id: str, inputs: Iterable[str] | None = None) -> set[str]:
        """The domains of the versions a run read and the models it registered."""
        if inputs is None:
            from assay.runs import get_run

            inputs = [i.fingerprint for i in get_run(run_id, store=self.store).inputs]
        domains = {self._maybe(self.version_domain, fp) for fp in inputs}
        domains |= {m.domain for m in self._all_models() if m.run_id == run_id}
        return _or_default(domains)

    def check_domains(self, report: dict[str, Any]) -> set[str]:
        """The domain of a check result's dataset."""
        dataset = report.get("dataset")
        return _or_default({self._maybe(self.dataset_domain, dataset)} if dataset else set())

    def evaluation_domains(self, report: dict[str, Any]) -> set[str]:
        """The domains of an evaluation's models and datasets."""
        domains = set()
        for model in (report.get("models") or {}).values():
            name = model.get("name") if isinstance(model, dict) else str(model)
            if name:
                domains.add(self._maybe(self.model_domain, str(name)))
        for data in (report.get("datasets") or {}).values():
            if isinstance(data, dict) and data.get("dataset"):
                domains.add(self._maybe(self.dataset_domain, str(data["dataset"])))
        return _or_default(domains)

    def experiment_domains(self, name: str) -> set[str]:
        """The domains of the models an experiment routes to or shadows."""
        from assay.experiments.records import experiment_config

        config = experiment_config(self.store, name)
        refs = [r.model for r in config.routes] + list(config.shadow)
        return _or_default({self._maybe(self.model_domain, ref) for ref in refs})

    def pipeline_domains(self, path: Path | None) -> set[str]:
        """The domains of the datasets a pipeline's compose stages read."""
        if path is None:
            return {DEFAULT_DOMAIN}
        from assay.data.recipe import load_recipe
        from assay.pipeline import load_pipeline
        from assay.pipeline.spec import ComposeStage

        pipeline = load_pipeline(path)
        domains = set()
        for stage in pipeline.stages.values():
            if isinstance(stage, ComposeStage):
                dataset = load_recipe(pipeline.resolve(stage.recipe)).dataset
                domains.add(self._maybe(self.dataset_domain, dataset))
        return _or_default(domains)

    # ---- rights ------------------------------------------------------------------------
    def reads(self, domains: Iterable[str]) -> bool:
        """Whether the token may read every one of ``domains``."""
        return self.token is None or all(self.token.allows("read", d) for d in domains)

    def require(self, domains: Callable[[], Iterable[str]], permission: str = "read") -> None:
        """A 403 naming the permission and the first domain (by name) of ``domains()``
        the token lacks. Without a token ``domains`` is not even called: an open
        dashboard looks nothing up that its pages would not."""
        if self.token is not None:
            for domain in sorted(set(domains())):
                require(self.token, permission, domain)

    def keep(
        self, items: list[dict[str, Any]], domains: Callable[[dict[str, Any]], set[str]]
    ) -> list[dict[str, Any]]:
        """Those of ``items`` whose every domain the token reads."""
        if self.token is None:
            return items
        return [item for item in items if self.reads(domains(item))]

    # ---- lookups, once per request -------------------------------------------------------
    def _dataset_domains(self) -> dict[str, str]:
        if self._datasets is None:
            self._datasets = {d.name: d.domain for d in self.store.catalog.list_datasets()}
        return self._datasets

    def _all_models(self) -> list[Any]:
        if self._models is None:
            from assay.models.registry import list_models

            self._models = list_models(store=self.store)
        return self._models

    def _model_domains(self) -> dict[str, str]:
        return {m.name: m.domain for m in self._all_models()}

    def _maybe(self, lookup: Callable[[str], str], what: str) -> str:
        """``lookup(what)``; a thing gone since it was recorded counts as the default
        domain (its record says no more)."""
        try:
            return lookup(what)
        except AssayError:
            return DEFAULT_DOMAIN


def _or_default(domains: set[str]) -> set[str]:
    # Something that touches no dataset or model (a run that read nothing) is in the
    # default domain, as a dataset created without --domain is.
    return domains or {DEFAULT_DOMAIN}
