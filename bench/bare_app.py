"""The baseline of bench/serve.py: the same model behind the FastAPI endpoint a team
writes by hand (no routing, no validation beyond FastAPI's, no log, no metrics).

    BARE_STORE=... BARE_MODEL=employment@1 uvicorn bench.bare_app:app
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from fastapi import FastAPI

import assay

app = FastAPI()
_model = assay.load_model(
    os.environ.get("BARE_MODEL", "employment@1"), store=assay.open_store(os.environ["BARE_STORE"])
).raw


@app.post("/v1/predict")
def predict(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body["inputs"]
    frame = pd.DataFrame(inputs if isinstance(inputs, list) else [inputs])
    return {"outputs": _model.predict(frame).tolist()}
