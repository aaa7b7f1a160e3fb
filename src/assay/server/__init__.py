"""``assay serve``: an experiment's models behind HTTP, with A/B and shadow routing.

    app = assay.server.create_app("serve.yaml")     # a FastAPI app
    uvicorn.run(app, host="127.0.0.1", port=8000)

``create_app`` loads every model the config names (a reference that does not resolve
stops it with one line) and returns the app; starting it (uvicorn, or ``with
TestClient(app)``) records the experiment in the store and starts the log writer and
the shadow threads; stopping it writes every queued log row. ``Endpoint`` is the same
without HTTP. FastAPI and prometheus-client come with ``pip install 'assay[serve]'``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from assay.extras import require
from assay.server.auth import Access
from assay.server.endpoint import Answer, Endpoint

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assay.experiments.config import ExperimentConfig
    from assay.store import Store

__all__ = [
    "AUTH_ENV",
    "CONFIG_ENV",
    "PURPOSE",
    "Access",
    "Answer",
    "Endpoint",
    "create_app",
    "from_environment",
]

PURPOSE = "experiments served over HTTP (assay serve, assay.server)"
#: What ``from_environment`` reads: the config's path (and ASSAY_STORE, the store).
CONFIG_ENV = "ASSAY_SERVE_CONFIG"
#: The token file ``from_environment`` reads, when ``assay serve --auth FILE`` gave one.
AUTH_ENV = "ASSAY_SERVE_AUTH"


def create_app(
    config: ExperimentConfig | str | os.PathLike[str] | dict[str, Any],
    store: Store | None = None,
    *,
    worker: str | None = None,
    weights_poll_s: float | None = 2.0,
    access: Access | str | os.PathLike[str] | None = None,
) -> FastAPI:
    """A FastAPI app serving the experiment ``config`` (a path, YAML, a dict or a config)
    from ``store`` (default: the store ``assay.open_store()`` finds, closed at shutdown).

    ``weights_poll_s``: how often the weights in force are read back from the store, so
    that a change made through one server reaches all of them (None: never).
    ``access``: the tokens the ``/api`` routes accept (an ``Access`` or a token file's
    path; None: every request is allowed, so bind to loopback only).
    """
    for module in ("fastapi", "prometheus_client"):
        require(module, PURPOSE)
    from assay.server.app import build
    from assay.server.auth import load_access
    from assay.server.metrics import Metrics
    from assay.store import open_store

    if access is not None and not isinstance(access, Access):
        access = load_access(access)
    owned = store is None
    opened = open_store() if store is None else store
    try:
        metrics = Metrics()
        endpoint = Endpoint(
            config,
            opened,
            worker=worker,
            on_shadow=metrics.shadow_result,
            weights_poll_s=weights_poll_s,
        )
    except BaseException:
        if owned:
            opened.close()
        raise
    return build(endpoint, metrics, on_close=opened.close if owned else None, access=access)


def from_environment() -> FastAPI:
    """``create_app`` for the config at ``$ASSAY_SERVE_CONFIG`` and the store at
    ``$ASSAY_STORE``: the factory ``assay serve`` gives uvicorn, which imports it by
    name in each worker process."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        from assay.errors import UsageError

        raise UsageError(f"{CONFIG_ENV} is not set; set it to the experiment config's path")
    # open_store() reads $ASSAY_STORE; the secrets are read again in each worker.
    return create_app(path, access=os.environ.get(AUTH_ENV) or None)
