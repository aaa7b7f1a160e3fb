"""Real servers for the serving tests: uvicorn on a loopback socket, in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import assay
from assay.server import create_app
from live_http import live

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
TOKEN = "s3cret-token-for-tests"
TOKEN_ENV = "ASSAY_TEST_SERVE_TOKEN"


def config(experiment: str, **extra: Any) -> dict[str, Any]:
    """A 90/10 config over the logistic regression (control) and the boosted trees."""
    doc: dict[str, Any] = {
        "endpoint": "employment",
        "experiment": experiment,
        "routes": [
            {"model": "employment@production", "weight": 0.9, "arm": "control"},
            {"model": "employment@candidate", "weight": 0.1, "arm": "treatment"},
        ],
        "sticky_key": "user_id",
        "log": {"flush_rows": 200, "flush_seconds": 0.2},
    }
    doc.update(extra)
    return doc


@contextmanager
def live_server(conf: dict[str, Any], store: assay.Store, **kwargs: Any) -> Iterator[str]:
    """``create_app(conf, store)`` served by uvicorn on a free loopback port, in a
    thread; yields its base URL and stops it (lifespan shutdown: the log is written)."""
    app = create_app(conf, store, weights_poll_s=kwargs.pop("weights_poll_s", 0.2), **kwargs)
    with live(app) as url:
        yield url
