"""``assay.server.Endpoint`` without HTTP: what a script embedding the server gets."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pytest
from serve_helpers import config

import assay
from assay.errors import RequestError
from assay.experiments.log import read_log
from assay.server import Endpoint


def test_a_nan_answer_is_a_failure_that_control_answers(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    """``gaps`` answers NaN for everyone over 80: JSON cannot carry it, so control does."""
    conf = config("gaps")
    conf["routes"] = [
        {"model": "employment@production", "weight": 0.0, "arm": "control"},
        {"model": "gaps", "weight": 1.0, "arm": "treatment"},
    ]
    old = next(r for r in traffic if r["AGEP"] > 80)
    young = next(r for r in traffic if 25 <= r["AGEP"] <= 64)
    endpoint = Endpoint(conf, served, weights_poll_s=None)
    endpoint.open()
    try:
        fine = endpoint.predict({"user_id": "a", "inputs": young})
        fallback = endpoint.predict({"user_id": "b", "inputs": [young, old]})
    finally:
        endpoint.close()
    assert (fine.status, fine.model, fine.outputs) == ("ok", "gaps@1", [1.0])
    estimator = assay.load_model("employment@production", store=served).raw
    expected = estimator.predict(pd.DataFrame([young, old])).tolist()
    assert (fallback.status, fallback.arm, fallback.model) == (
        "fallback",
        "treatment",
        "employment@1",
    )
    assert fallback.outputs == expected
    assert "NaN or infinity for record 1" in (fallback.error or "")
    statuses = sorted(read_log(served, "gaps")["status"].to_pylist())
    assert statuses == ["fallback", "ok"]


def test_refusals_come_before_any_model_runs_or_any_row_is_logged(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    endpoint = Endpoint(config("refusals"), served, weights_poll_s=None)
    endpoint.open()
    try:
        with pytest.raises(RequestError) as caught:
            endpoint.predict({"user_id": "u", "inputs": [traffic[0], {**traffic[1], "SEX": "f"}]})
        assert (caught.value.status, caught.value.field) == (422, "inputs.SEX")
        with pytest.raises(RequestError, match="'user_id' must be a non-empty string"):
            endpoint.predict({"user_id": "", "inputs": traffic[0]})
        numeric = endpoint.predict({"user_id": 17, "inputs": traffic[0]})  # a JSON number
    finally:
        endpoint.close()
    (row,) = read_log(served, "refusals").to_pylist()
    assert (row["request_id"], row["sticky_key"]) == (numeric.request_id, "17")


def test_weights_from_the_store_survive_a_restart(served: assay.Store) -> None:
    """A kill switch is kept in the store: the next server to start adopts it."""
    first = Endpoint(config("restart"), served, weights_poll_s=None)
    first.open()
    first.put_weights({"treatment": 0}, by="test")
    first.close()
    second = Endpoint(config("restart"), served, weights_poll_s=None)
    assert second.weights == {"control": 0.9, "treatment": 0.1}  # the config's, until open
    second.open()
    second.close()
    assert second.weights == {"control": 1.0, "treatment": 0.0}
    with pytest.raises(RequestError, match="at least one a positive"):
        second.change_weights({"control": 0})
    for wrong in (-1, float("nan"), float("inf"), True, "1"):
        with pytest.raises(RequestError, match="must be a number ≥ 0"):
            second.change_weights({"control": wrong})


def test_model_calls_run_their_openmp_loops_on_limits_model_threads(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    """Requests are answered side by side, so each model call, live or shadow, runs its
    OpenMP loops on ``limits.model_threads`` threads (one by default), and the calling
    thread gets its own setting back afterwards. (Unheld, a call would use the machine's
    count: one of 1 and 3 differs from it on every machine.)"""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def openmp() -> int:
        (count,) = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"}
        return int(count)

    assay.register_model("threads", "misbehaving_models:openmp_threads", store=served)
    before = openmp()
    for limit, expected in ((None, 1), (3, 3)):
        conf = config(f"threads-{limit}", shadow=["threads"])
        conf["routes"] = [{"model": "threads", "weight": 1.0, "arm": "control"}]
        if limit is not None:
            conf["limits"] = {"model_threads": limit}
        endpoint = Endpoint(conf, served, weights_poll_s=None)
        endpoint.open()
        try:
            live = endpoint.predict({"user_id": "u", "inputs": traffic[:2]})
            with ThreadPoolExecutor(1) as pool:  # a server's thread, as uvicorn's are
                other = pool.submit(endpoint.predict, {"user_id": "v", "inputs": traffic[0]})
                assert other.result().outputs == [expected]
        finally:
            endpoint.close()
        assert live.outputs == [expected, expected]
        shadow = read_log(served, f"threads-{limit}").filter(pc.field("role") == "shadow")
        outputs = sorted(json.loads(o) for o in shadow["outputs"].to_pylist())
        assert outputs == [[expected], [expected] * 2]
        assert openmp() == before
