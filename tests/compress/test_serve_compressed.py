"""A compressed version serves like any other: an A/B test of the parent against its
int8 version, through ``create_app`` and uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pandas as pd
import uvicorn
from quantize_models import FEATURES, Zoo

import assay
from assay.compress import compress
from assay.server import create_app


@contextmanager
def live_server(conf: dict[str, Any], store: assay.Store) -> Iterator[str]:
    """``create_app(conf, store)`` under uvicorn on a free loopback port, in a thread."""
    app = create_app(conf, store, weights_poll_s=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


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
    with live_server(conf, zoo.store) as url, httpx.Client(base_url=url, timeout=60) as client:
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
