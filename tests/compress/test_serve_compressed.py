"""A compressed version serves like any other: an A/B test of the parent against its
int8 version, through ``create_app`` and uvicorn on a loopback port."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
from quantize_models import FEATURES, Zoo

import assay
from assay.compress import compress
from assay.server import create_app
from live_http import live


def test_the_int8_version_answers_its_arm_as_onnx_runtime_does(zoo: Zoo) -> None:
    small = compress("mlp@1", "dynamic-int8", store=zoo.store)
    conf = {
        "endpoint": "employment",
        "experiment": "int8-vs-fp32",
        "routes": [
            {"model": "mlp@1", "weight": 0.5, "arm": "control"},
            {"model": small.ref, "weight": 0.5, "arm": "int8"},
        ],
        "sticky_key": "user_id",
    }
    records = [
        {k: int(v) for k, v in r.items()} for r in zoo.test[FEATURES].head(40).to_dict("records")
    ]
    with (
        live(create_app(conf, zoo.store, weights_poll_s=None)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        answers = [
            client.post("/v1/predict", json={"user_id": f"u{i}", "inputs": [record]}).json()
            for i, record in enumerate(records)
        ]
    assert {a["arm"] for a in answers} == {"control", "int8"}
    # Independent references: scikit-learn for the parent, a bare ONNX Runtime session
    # over the stored graph for the int8 version.
    import onnxruntime as ort

    graph = zoo.store.objects.get_bytes(small.object_key)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    estimator = assay.load_model("mlp@1", store=zoo.store).raw
    for record, answer in zip(records, answers, strict=True):
        row = np.array([[record[c] for c in FEATURES]], dtype=np.float32)
        if answer["arm"] == "int8":
            assert answer["model"] == small.ref
            want = session.run(None, {session.get_inputs()[0].name: row})[0].tolist()
        else:
            assert answer["model"] == "mlp@1"
            want = estimator.predict(pd.DataFrame([record])[FEATURES]).tolist()
        assert answer["outputs"] == want
