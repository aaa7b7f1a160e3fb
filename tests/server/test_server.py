"""``assay.server`` over a real loopback socket: routing, refusals, auth, weights,
fallbacks, shadows, metrics and the prediction log, against independent references
(``assign_many`` for arms, the scikit-learn estimators themselves for outputs)."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pandas as pd
import pytest
from serve_helpers import FEATURES, TOKEN, TOKEN_ENV, config, live_server

import assay
from assay.errors import ModelNotFound, UsageError
from assay.experiments.log import read_log
from assay.experiments.records import weights_history
from assay.experiments.routing import assign_many
from assay.server import create_app

# Generous: the machine running the tests may be busy.
get, post, put = (partial(f, timeout=60) for f in (httpx.get, httpx.post, httpx.put))


def users(n: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def reference(store: assay.Store, ref: str, records: list[dict[str, Any]]) -> list[Any]:
    """What the registered estimator itself predicts (scikit-learn, not assay's path)."""
    estimator = assay.load_model(ref, store=store).raw
    return estimator.predict(pd.DataFrame(records)[FEATURES]).tolist()


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 when the series is absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}{{{re.escape(want)}}} (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def admin_env() -> Iterator[None]:
    """The token in the environment for a module's servers (monkeypatch is per test)."""
    saved = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = TOKEN
    yield
    if saved is None:
        os.environ.pop(TOKEN_ENV, None)
    else:
        os.environ[TOKEN_ENV] = saved


@pytest.fixture(scope="module")
def ab(served: assay.Store, admin_env: None) -> Iterator[str]:
    """A 90/10 server with auth, small limits, no shadows."""
    conf = config(
        "ab",
        auth={"token_env": TOKEN_ENV},
        limits={"body_bytes": 20_000, "records": 50},
    )
    with live_server(conf, served) as url:
        yield url


def test_every_user_gets_the_arm_routing_assigns_and_that_arms_answer(
    ab: str, served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    """2,000 users, one request each, then again: the arms equal ``assign_many``, the
    split is near 90/10, and each answer is the estimator's own prediction."""
    keys = users(2000)
    weights = {"control": 0.9, "treatment": 0.1}
    expected = assign_many(keys, "ab", weights)
    with httpx.Client(base_url=ab, timeout=60) as client:
        answers = [
            client.post(
                "/v1/predict", json={"user_id": k, "inputs": traffic[i % len(traffic)]}
            ).json()
            for i, k in enumerate(keys)
        ]
        again = [
            client.post("/v1/predict", json={"user_id": k, "inputs": traffic[0]}).json()["arm"]
            for k in keys[:200]
        ]
        described = client.get("/v1/experiment").json()
    arms = [a["arm"] for a in answers]
    assert arms == expected
    assert again == expected[:200]  # sticky
    # Binomial(2000, 0.1): mean 200, sd 13.4; ±6 sd cannot flake (and hashing is fixed).
    assert 120 <= arms.count("treatment") <= 280
    models = {"control": "employment@1", "treatment": "employment@2"}
    assert {a["model"] for a in answers} == set(models.values())
    for arm, ref in models.items():
        mine = [i for i, a in enumerate(arms) if a == arm]
        records = [traffic[i % len(traffic)] for i in mine]
        assert [answers[i]["outputs"][0] for i in mine] == reference(served, ref, records)
        assert all(answers[i]["model"] == ref for i in mine)
    assert len({a["request_id"] for a in answers}) == 2000
    tally = Counter(arms + again)
    assert described["counts"]["control"]["ok"] >= tally["control"]
    assert described["models"] == models


def test_a_list_of_records_gets_one_output_each(
    ab: str, served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    records = traffic[:25]
    answer = post(f"{ab}/v1/predict", json={"user_id": "batch", "inputs": records})
    assert answer.status_code == 200
    body = answer.json()
    assert body["outputs"] == reference(served, body["model"], records)


@pytest.mark.parametrize(
    ("change", "status", "field", "says"),
    [
        (
            lambda r: {k: v for k, v in r.items() if k != "SCHL"},
            422,
            "inputs.SCHL",
            "no column 'SCHL'",
        ),
        (lambda r: {**r, "AGEP": "forty"}, 422, "inputs.AGEP", "holds text values"),
    ],
)
def test_inputs_that_do_not_fit_the_signature_name_the_field(
    ab: str, traffic: list[dict[str, Any]], change: Any, status: int, field: str, says: str
) -> None:
    answer = post(f"{ab}/v1/predict", json={"user_id": "u-1", "inputs": change(traffic[0])})
    assert answer.status_code == status
    assert answer.json()["field"] == field
    assert says in answer.json()["detail"]
    assert "\n" not in answer.json()["detail"]


def test_malformed_bodies_are_refused_naming_what_is_wrong(
    ab: str, traffic: list[dict[str, Any]]
) -> None:
    with httpx.Client(base_url=ab, timeout=60) as client:
        cases = [
            ({"user_id": "u", "input": traffic[0]}, 422, "input"),  # a typo
            ({"user_id": "u"}, 422, "inputs"),
            ({"user_id": "u", "inputs": []}, 422, "inputs"),
            ({"user_id": "u", "inputs": [1, 2]}, 422, "inputs[0]"),
            ({"user_id": ["u"], "inputs": traffic[0]}, 422, "user_id"),
            ({"user_id": "u", "inputs": traffic[:51]}, 413, "inputs"),  # limits.records 50
        ]
        for body, status, field in cases:
            answer = client.post("/v1/predict", json=body)
            assert (answer.status_code, answer.json()["field"]) == (status, field), body
        not_json = client.post("/v1/predict", content=b"{nope")
        assert not_json.status_code == 422 and "not JSON" in not_json.json()["detail"]


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    ab: str, traffic: list[dict[str, Any]]
) -> None:
    big = json.dumps({"user_id": "u", "inputs": traffic[:400]}).encode()
    assert len(big) > 20_000
    declared = post(f"{ab}/v1/predict", content=big)
    assert declared.status_code == 413
    assert "limits.body_bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes read are counted
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    streamed = post(f"{ab}/v1/predict", content=chunks())
    assert streamed.status_code == 413


def test_admin_needs_the_right_token(ab: str) -> None:
    url = f"{ab}/v1/experiment/weights"
    missing = put(url, json={"treatment": 0.1})
    wrong = put(url, json={"treatment": 0.1}, headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert TOKEN_ENV in missing.json()["detail"]
    unknown = put(url, json={"other": 1}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "other"
    # the same weights again: accepted, nothing changes
    same = put(
        url, json={"control": 9, "treatment": 1}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert same.status_code == 200
    assert same.json()["weights"] == pytest.approx({"control": 0.9, "treatment": 0.1})


def test_admin_is_refused_without_auth_and_predict_can_need_the_token(
    served: assay.Store, admin_env: None, traffic: list[dict[str, Any]]
) -> None:
    with live_server(config("open"), served) as url:
        off = put(f"{url}/v1/experiment/weights", json={"treatment": 0})
        assert off.status_code == 403 and "auth" in off.json()["detail"]
    guarded = config("guarded", auth={"token_env": TOKEN_ENV, "protect_predict": True})
    with live_server(guarded, served) as url:
        body = {"user_id": "u-1", "inputs": traffic[0]}
        assert post(f"{url}/v1/predict", json=body).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert post(f"{url}/v1/predict", json=body, headers=bearer).status_code == 200


def test_weights_change_at_runtime_on_every_server_sharing_the_store(
    served: assay.Store, admin_env: None, traffic: list[dict[str, Any]]
) -> None:
    """A ramp to 50/50, then the kill switch, sent to one server: both servers answer
    with the new shares (the other reads them from the store), and the store keeps
    the history."""
    conf = config("ramp", auth={"token_env": TOKEN_ENV})
    keys = users(300, "r")
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def arms(url: str) -> list[str]:
        with httpx.Client(base_url=url, timeout=60) as client:
            return [
                client.post("/v1/predict", json={"user_id": k, "inputs": traffic[0]}).json()["arm"]
                for k in keys
            ]

    def settled(url: str, weights: dict[str, float]) -> None:
        for _ in range(600):  # the other server polls every 0.2 s
            if get(f"{url}/v1/experiment").json()["weights"] == pytest.approx(weights):
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} never adopted {weights}")

    with live_server(conf, served) as one, live_server(conf, served) as two:
        half = {"control": 0.5, "treatment": 0.5}
        ramp = put(f"{one}/v1/experiment/weights", json=half, headers=bearer)
        assert ramp.status_code == 200
        settled(two, half)
        assert arms(one) == arms(two) == assign_many(keys, "ramp", half)
        kill = put(f"{one}/v1/experiment/weights", json={"treatment": 0}, headers=bearer)
        assert kill.json()["weights"] == {"control": 1.0, "treatment": 0.0}
        settled(two, {"control": 1.0, "treatment": 0.0})
        assert set(arms(one)) == set(arms(two)) == {"control"}
    history = [c.weights for c in weights_history(served, "ramp")]
    assert history == [{"control": 0.9, "treatment": 0.1}, half, {"control": 1.0, "treatment": 0.0}]
    live = read_log(served, "ramp", role="live").to_pylist()
    assert len({r["worker"] for r in live}) == 2
    killed = [r for r in live if json.loads(r["weights"])["treatment"] == 0]
    assert len(killed) == 600 and {r["arm"] for r in killed} == {"control"}


def test_two_servers_agree_on_every_user_and_the_log_holds_both(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    conf = config("pair")
    keys = users(400, "p")
    answered: dict[str, list[dict[str, Any]]] = {}
    with live_server(conf, served) as one, live_server(conf, served) as two:
        for url in (one, two):
            with httpx.Client(base_url=url, timeout=60) as client:
                answered[url] = [
                    client.post("/v1/predict", json={"user_id": k, "inputs": traffic[i]}).json()
                    for i, k in enumerate(keys)
                ]
    assert [a["arm"] for a in answered[one]] == [a["arm"] for a in answered[two]]
    assert [a["arm"] for a in answered[one]] == assign_many(
        keys, "pair", {"control": 0.9, "treatment": 0.1}
    )
    log = read_log(served, "pair")
    assert log.num_rows == 800
    ids = [a["request_id"] for a in answered[one] + answered[two]]
    assert sorted(log["request_id"].to_pylist()) == sorted(ids)
    by_worker = Counter(log["worker"].to_pylist())
    assert sorted(by_worker.values()) == [400, 400]
    row = next(r for r in log.to_pylist() if r["request_id"] == answered[two][7]["request_id"])
    assert row["sticky_key"] == "p-7" and row["arm"] == answered[two][7]["arm"]
    assert json.loads(row["inputs"]) == [traffic[7]]
    assert json.loads(row["outputs"]) == answered[two][7]["outputs"]


def test_a_failing_treatment_is_answered_by_control_and_counted(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    conf = config("fallback")
    conf["routes"][0]["weight"] = 0.5
    conf["routes"][1] = {"model": "boom", "weight": 0.5, "arm": "treatment"}
    keys = users(200, "f")
    with live_server(conf, served) as url, httpx.Client(base_url=url, timeout=60) as client:
        answers = [
            client.post("/v1/predict", json={"user_id": k, "inputs": traffic[i]}).json()
            for i, k in enumerate(keys)
        ]
        text = client.get("/metrics").text
    arms = [a["arm"] for a in answers]
    assert arms == assign_many(keys, "fallback", {"control": 0.5, "treatment": 0.5})
    treated = arms.count("treatment")
    assert 40 < treated < 160
    assert {a["model"] for a in answers} == {"employment@1"}  # control answered them all
    assert [a["outputs"][0] for a in answers] == reference(served, "employment@1", traffic[:200])
    assert metric(text, "assay_fallbacks_total", arm="treatment") == treated
    assert metric(text, "assay_requests_total", arm="treatment", status="fallback") == treated
    assert metric(text, "assay_requests_total", arm="control", status="ok") == 200 - treated
    rows = read_log(served, "fallback").to_pylist()
    fallbacks = [r for r in rows if r["status"] == "fallback"]
    assert len(fallbacks) == treated
    assert all(r["arm"] == "treatment" and r["model"] == "employment@1" for r in fallbacks)
    assert all("boom" in r["error"] and r["outputs"] is not None for r in fallbacks)


def test_a_failing_control_is_a_500_with_one_line_and_logged(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    conf = config("broken")
    conf["routes"] = [{"model": "boom", "weight": 1.0, "arm": "control"}]
    with live_server(conf, served) as url:
        answer = post(f"{url}/v1/predict", json={"user_id": "u", "inputs": traffic[0]})
    assert answer.status_code == 500
    body = answer.json()
    assert "RuntimeError: boom" in body["error"] and "\n" not in body["error"]
    (row,) = read_log(served, "broken").to_pylist()
    assert (row["request_id"], row["status"], row["outputs"]) == (body["request_id"], "error", None)


def test_failing_and_slow_shadows_leave_live_answers_untouched(
    served: assay.Store, traffic: list[dict[str, Any]]
) -> None:
    """The same requests without and with a raising and a sleeping shadow get the same
    answers; the first answer is back before the slow shadow could have finished; every
    request leaves one row per shadow (error, timeout or dropped), never two."""
    from misbehaving_models import SLOW_SECONDS

    keys = users(40, "s")

    def run(conf: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        with live_server(conf, served) as url, httpx.Client(base_url=url, timeout=60) as client:
            answers = []
            for i, k in enumerate(keys):
                answers.append(
                    client.post("/v1/predict", json={"user_id": k, "inputs": traffic[i]}).json()
                )
                if i == 0:
                    # The slow shadow sleeps SLOW_SECONDS; had the live path waited for it,
                    # its row would be counted already.
                    first = client.get("/metrics").text
            return answers, first

    plain, _ = run(config("shadowed"))
    shadowed, first = run(
        config(
            "shadowed", shadow=["boom", "slow"], limits={"shadow_queue": 5, "shadow_timeout_s": 0.2}
        )
    )
    strip = [{k: v for k, v in a.items() if k != "request_id"} for a in plain]
    assert [{k: v for k, v in a.items() if k != "request_id"} for a in shadowed] == strip
    assert SLOW_SECONDS >= 5
    assert "slow@1" not in re.sub(r"#.*\n", "", first)

    ids = {a["request_id"] for a in shadowed}
    rows = [r for r in read_log(served, "shadowed").to_pylist() if r["request_id"] in ids]
    per = Counter((r["request_id"], r["role"], r["model"]) for r in rows)
    assert set(per.values()) == {1}
    assert len(rows) == 3 * len(keys)
    boom = [r for r in rows if r["model"] == "boom@1"]
    slow = Counter(r["status"] for r in rows if r["model"] == "slow@1")
    assert {r["status"] for r in boom} == {"error"} and len(boom) == len(keys)
    assert slow["timeout"] >= 1 and slow["timeout"] + slow["dropped"] == len(keys)
    # The queue holds 5 while the slow shadow sleeps on the batch it took (the copies
    # that came in its first 50 ms): the rest are dropped, never waited for.
    assert slow["dropped"] >= 1
    live = {r["request_id"]: r for r in rows if r["role"] == "live"}
    for r in rows:
        if r["role"] == "shadow":
            assert (r["arm"], r["sticky_key"], r["time"]) == (
                live[r["request_id"]]["arm"],
                live[r["request_id"]]["sticky_key"],
                live[r["request_id"]]["time"],
            )


def test_health_readiness_metrics_and_the_experiment(
    ab: str, traffic: list[dict[str, Any]]
) -> None:
    assert get(f"{ab}/healthz").json() == {"status": "ok"}
    assert get(f"{ab}/readyz").status_code == 200
    # Its own answers and refusal: the test must not depend on which tests ran before.
    for i, record in enumerate(traffic[:5]):
        assert post(f"{ab}/v1/predict", json={"user_id": f"h{i}", "inputs": record}).is_success
    assert (
        post(f"{ab}/v1/predict", json={"user_id": "h", "inputs": {"AGEP": "x"}}).status_code == 422
    )
    described = get(f"{ab}/v1/experiment").json()
    text = get(f"{ab}/metrics").text
    for arm, statuses in described["counts"].items():
        assert metric(text, "assay_requests_total", arm=arm, status="ok") == statuses.get("ok", 0)
    assert described["control"] == "control"
    assert described["config"]["experiment"] == "ab"
    assert "assay_request_latency_seconds_bucket" in text
    assert metric(text, "assay_refused_requests_total", code="422") > 0


def test_a_model_that_does_not_resolve_stops_create_app(served: assay.Store) -> None:
    conf = config("typo")
    conf["routes"][1]["model"] = "employment@nightly"
    with pytest.raises(ModelNotFound, match="no alias 'nightly'"):
        create_app(conf, served)


def test_auth_without_its_token_stops_create_app(
    served: assay.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(UsageError, match=f"{TOKEN_ENV}, which is not set"):
        create_app(config("x", auth={"token_env": TOKEN_ENV}), served)
