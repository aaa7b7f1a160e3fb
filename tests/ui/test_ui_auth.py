"""``assay ui --auth``: the dashboard shows each token only the domains it reads, over a
real socket: 401 without a token, 403 naming the permission and the domain, lists kept
to what the token reads, the same answers as ``assay serve``, and a browser that signs
in with a cookie the page's scripts cannot read (issue 18, items 2 and 4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import assay
from assay.experiments.records import start_experiment
from assay.server.auth import load_access
from live_http import live
from tests_helpers import ASSAY, run_assay

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
SECRETS = {
    "UI_READER": "reader-secret-0123456789",  # risk: read
    "UI_CI": "ci-secret-0123456789",  # marketing: read, promote
    "UI_ADMIN": "admin-secret-0123456789",  # *: admin
}
READER, CI, ADMIN = SECRETS.values()
TOKENS = {
    "tokens": [
        {"name": "reader", "token_env": "UI_READER", "domains": {"risk": ["read"]}},
        {"name": "ci", "token_env": "UI_CI", "domains": {"marketing": ["read", "promote"]}},
        {"name": "platform", "token_env": "UI_ADMIN", "domains": {"*": ["admin"]}},
    ]
}
SERVE = {
    "endpoint": "scorer",
    "experiment": "scorer-ab",
    "routes": [{"model": "scorer@1", "weight": 1.0, "arm": "control"}],
}
NEEDS_A_TOKEN = "this needs a token: send 'Authorization: Bearer <token>'"


@dataclass
class Shared:
    root: Path
    acs: str  # fingerprint of a version of acs (risk)
    ads: str  # fingerprint of a version of ads (marketing)
    risk_run: str
    ads_run: str
    risk_check: str
    ads_check: str


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Shared:
    """A store two teams share: dataset ``acs``, model ``scorer``, a run, a check, an
    experiment and the pipeline in ``risk``; dataset ``ads``, model ``churn``, a run and
    a check in ``marketing``; dataset ``legacy`` in ``default``."""
    root = tmp_path_factory.mktemp("ui-auth")
    rows = acs.slice(0, 300)
    X, y = rows.select(FEATURES).to_pandas(), rows.column("employed").to_pandas()
    (root / "acs.yaml").write_text("dataset: acs\n")
    (root / "ads.yaml").write_text("dataset: ads\n")
    with assay.init_store(root / ".assay") as s:
        assay.create_dataset(s, "acs", ["id"], "employed", owner="risk-team", domain="risk")
        assay.add_delta(s, "acs", rows, name="y2015")
        assay.create_dataset(s, "ads", ["id"], owner="growth", domain="marketing")
        ads = pa.table({"id": list(range(50)), "spend": [float(i) for i in range(50)]})
        assay.add_delta(s, "ads", ads, name="first")
        assay.create_dataset(s, "legacy", ["id"])
        model = LogisticRegression(max_iter=300).fit(X, y)
        with assay.start_run("train-scorer", store=s) as risk_run:
            acs_version = assay.compose(root / "acs.yaml", store=s)
            assay.register_model(
                "scorer", model, sample=X.head(20), domain="risk", aliases=["production"], store=s
            )
        with assay.start_run("ads-report", store=s) as ads_run:
            ads_version = assay.compose(root / "ads.yaml", store=s)
        assay.register_model("churn", model, sample=X.head(20), domain="marketing", store=s)
        ages = {"suite": "ages", "expectations": [{"between": {"column": "AGEP", "max": 99}}]}
        spend = {"suite": "spend", "expectations": [{"between": {"column": "spend", "min": 0}}]}
        risk_check = assay.check(ages, acs_version, store=s).id
        ads_check = assay.check(spend, ads_version, store=s).id
        start_experiment(s, SERVE, by="test")
    (root / "assay.yaml").write_text(
        "name: risk\nstages:\n  acs: {kind: compose, recipe: acs.yaml}\n"
    )
    (root / "tokens.yaml").write_text(yaml.safe_dump(TOKENS))
    return Shared(
        root, acs_version.fingerprint, ads_version.fingerprint, risk_run.id, ads_run.id,
        risk_check, ads_check,
    )  # fmt: skip


@pytest.fixture(scope="module")
def ui_url(shared: Shared) -> Iterator[str]:
    """``assay ui --auth tokens.yaml`` over the shared store, in a thread."""
    from assay.server.ui import create_app

    access = load_access(shared.root / "tokens.yaml", SECRETS)
    with (
        assay.open_store(shared.root / ".assay") as s,
        live(create_app(s, pipeline=shared.root / "assay.yaml", access=access)) as url,
    ):
        yield url


def get(url: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url + path, headers=headers, timeout=120)


def post(url: str, path: str, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + path, json=body, headers=headers, timeout=120)


def timeless(r: httpx.Response) -> Any:
    """The answer without ``age_seconds`` (it grows between two requests)."""
    body = r.json()
    for item in body.get("datasets", []):
        item.pop("age_seconds", None)
    return body


def endpoints(shared: Shared) -> list[tuple[str, str, Any]]:
    """Every dashboard API call, on risk's things (method, path, body)."""
    row = {f: 1 for f in FEATURES}
    return [
        ("GET", "/api/ui/datasets", None),
        ("GET", "/api/ui/datasets/acs", None),
        ("GET", f"/api/ui/diff?a={shared.acs}&b={shared.acs}", None),
        ("GET", "/api/ui/runs", None),
        ("GET", f"/api/ui/runs/{shared.risk_run}", None),
        ("GET", "/api/ui/models", None),
        ("GET", "/api/ui/checks", None),
        ("GET", f"/api/ui/checks/{shared.risk_check}", None),
        ("GET", "/api/ui/evaluations", None),
        ("GET", "/api/ui/experiments", None),
        ("GET", "/api/ui/experiments/scorer-ab", None),
        ("GET", "/api/ui/pipeline", None),
        ("GET", f"/api/whatif/row?version={shared.acs}&model=scorer@1", None),
        ("POST", "/api/whatif/predict", {"models": ["scorer@1"], "row": row}),
        ("POST", "/api/whatif/counterfactual", {"model": "scorer@1", "version": shared.acs, "row": row}),
        ("GET", f"/api/whatif/pdp?model=scorer@1&version={shared.acs}&feature=AGEP", None),
    ]  # fmt: skip


def test_every_endpoint_needs_a_token_and_a_reader_of_risk_gets_each(
    ui_url: str, shared: Shared
) -> None:
    for method, path, body in endpoints(shared):
        for token in (None, "not-a-token"):
            r = post(ui_url, path, token, body) if method == "POST" else get(ui_url, path, token)
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            if token is None:
                assert r.json()["detail"] == NEEDS_A_TOKEN
        r = post(ui_url, path, READER, body) if method == "POST" else get(ui_url, path, READER)
        assert r.status_code == 200, (path, r.text)


def test_one_thing_of_another_domain_is_403_naming_permission_and_domain(
    ui_url: str, shared: Shared
) -> None:
    row = {f: 1 for f in FEATURES}
    refused = [
        (READER, "GET", "/api/ui/datasets/ads", None, "marketing"),
        (READER, "GET", f"/api/ui/diff?a={shared.acs}&b={shared.ads}", None, "marketing"),
        (READER, "GET", f"/api/ui/runs/{shared.ads_run}", None, "marketing"),
        (READER, "GET", f"/api/ui/checks/{shared.ads_check}", None, "marketing"),
        (READER, "GET", f"/api/whatif/row?version={shared.ads}", None, "marketing"),
        (READER, "POST", "/api/whatif/predict", {"models": ["scorer@1", "churn@1"], "row": row},
         "marketing"),
        (CI, "GET", "/api/ui/datasets/acs", None, "risk"),
        (CI, "GET", "/api/ui/pipeline", None, "risk"),
        (CI, "GET", "/api/ui/experiments/scorer-ab", None, "risk"),
        (CI, "GET", f"/api/whatif/pdp?model=scorer@1&version={shared.acs}&feature=AGEP", None,
         "risk"),
        (CI, "POST", "/api/whatif/counterfactual",
         {"model": "churn@1", "version": shared.acs, "row": row}, "risk"),
    ]  # fmt: skip
    for token, method, path, body, domain in refused:
        r = post(ui_url, path, token, body) if method == "POST" else get(ui_url, path, token)
        name = "reader" if token == READER else "ci"
        assert r.status_code == 403, (path, r.text)
        assert r.json()["detail"] == f"token {name!r} lacks 'read' on domain {domain!r}", path
    # Something that does not exist is a 404 for a token that passed, as in assay serve.
    assert get(ui_url, "/api/ui/datasets/nope", READER).status_code == 404


def test_lists_keep_only_the_domains_a_token_reads(ui_url: str, shared: Shared) -> None:
    def names(path: str, key: str, field: str, token: str) -> list[Any]:
        r = get(ui_url, path, token)
        assert r.status_code == 200, r.text
        return sorted(item[field] for item in r.json()[key])

    expected = {
        READER: (["acs"], ["scorer"], ["train-scorer"], ["acs"], ["scorer-ab"], ["acs"]),
        CI: (["ads"], ["churn"], ["ads-report"], ["ads"], [], ["ads"]),
        ADMIN: (["acs", "ads", "legacy"], ["churn", "scorer"], ["ads-report", "train-scorer"],
                ["acs", "ads"], ["scorer-ab"], ["acs", "ads", "legacy"]),
    }  # fmt: skip
    for token, (datasets, models, runs, checks, experiments, search) in expected.items():
        assert names("/api/ui/datasets", "datasets", "name", token) == datasets
        assert names("/api/ui/models", "models", "name", token) == models
        assert names("/api/ui/runs", "runs", "name", token) == runs
        assert names("/api/ui/checks", "checks", "dataset", token) == checks
        assert names("/api/ui/experiments", "experiments", "name", token) == experiments
        # The store's search, on the same app: ASSAY_SERVER may name assay ui.
        assert names("/api/datasets?q=a", "datasets", "dataset", token) == search
    # The what-if page offers only what the token may probe.
    page = get(ui_url, "/ui/whatif", CI).text
    assert "churn@1" in page and "scorer@1" not in page
    assert shared.ads in page and shared.acs not in page


def test_the_dashboard_answers_as_assay_serve_does(ui_url: str, shared: Shared) -> None:
    from assay.server import create_app

    access = load_access(shared.root / "tokens.yaml", SECRETS)
    move = {"alias": "production", "version": 1}
    with assay.open_store(shared.root / ".assay") as s:
        app = create_app(SERVE, s, access=access, weights_poll_s=None)
        with live(app) as serve_url:
            for token in (None, READER, CI, ADMIN):
                for path in ("/api/datasets", "/api/models"):
                    a, b = get(ui_url, path, token), get(serve_url, path, token)
                    assert (a.status_code, timeless(a)) == (b.status_code, timeless(b)), path
                for url in (ui_url, serve_url):  # promote is refused alike, nothing moves
                    r = post(url, "/api/models/scorer/aliases", READER, move)
                    assert (r.status_code, r.json()) == (403, {
                        "detail": "token 'reader' lacks 'promote' on domain 'risk'",
                        "field": None,
                    })  # fmt: skip
    # The CLI's remote store may be the dashboard: the same one line as through serve.
    env = {"ASSAY_SERVER": ui_url, "ASSAY_TOKEN": CI}
    r = run_assay("models", "alias", "scorer@1", "candidate", cwd=shared.root, env=env)
    assert r.rc == 2
    assert r.error_line() == (
        f"error: token 'ci' lacks 'promote' on domain 'risk' ({ui_url}); ask for the "
        "permission in the token file"
    )


def test_signing_in_sets_an_httponly_strict_cookie_and_out_clears_it(ui_url: str) -> None:
    with httpx.Client(base_url=ui_url, timeout=120, follow_redirects=False) as client:
        page = client.get("/ui/datasets")  # no token: the sign-in form, saying why
        assert page.status_code == 401 and 'name="token"' in page.text
        assert (
            NEEDS_A_TOKEN.replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;")
            in page.text
        )
        wrong = client.post("/ui/signin", data={"token": "nope"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        assert "is not one of" in wrong.text
        signed = client.post("/ui/signin", data={"token": READER})
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/datasets"
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith(f"assay_token={READER}".lower())
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert READER not in signed.headers["location"]
        listed = client.get("/ui/datasets")  # the cookie, kept by the client, is the token
        assert listed.status_code == 200
        assert ">acs</a>" in listed.text and ">ads</a>" not in listed.text
        assert 'id="account">reader</a>' in listed.text  # the header names the token
        assert client.get("/api/ui/datasets").json()["datasets"][0]["name"] == "acs"
        other = client.get("/ui/datasets/ads")
        assert other.status_code == 403
        assert (
            "token &#x27;reader&#x27; lacks &#x27;read&#x27; on domain &#x27;marketing&#x27;"
            in other.text
        )
        assert 'id="signed-in">reader<' in client.get("/ui/signin").text
        out = client.post("/ui/signout")
        assert out.status_code == 303 and out.headers["location"] == "/ui/signin"
        assert "max-age=0" in out.headers["set-cookie"].lower()
        assert client.get("/ui/datasets").status_code == 401


def test_a_browser_signs_in_and_sees_only_its_domain(
    browser: Any, ui_url: str, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(ui_url + "/ui/datasets")
    assert response is not None and response.status == 401
    assert page.locator(".error").inner_text() == NEEDS_A_TOKEN
    for folder in [tmp_path, *filter(None, [os.environ.get("ASSAY_SCREENSHOTS")])]:
        page.screenshot(path=str(Path(folder) / "signin-390.png"), full_page=True)
    page.fill("#token", CI)
    page.click("#signin")
    page.wait_for_url("**/ui/datasets")
    links = page.locator("main table a").all_inner_texts()
    assert links == ["ads"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the token
    for folder in [tmp_path, *filter(None, [os.environ.get("ASSAY_SCREENSHOTS")])]:
        page.screenshot(path=str(Path(folder) / "signed-in-390.png"), full_page=True)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    response = page.goto(ui_url + "/ui/datasets/acs")
    assert response is not None and response.status == 403
    assert page.locator(".error").inner_text() == "token 'ci' lacks 'read' on domain 'risk'"
    page.goto(ui_url + "/ui/signin")
    page.click("#signout")
    page.wait_for_url("**/ui/signin")
    response = page.goto(ui_url + "/ui/datasets")
    assert response is not None and response.status == 401
    assert errors == []
    context.close()


def test_assay_ui_auth_serves_only_what_a_token_reads(shared: Shared) -> None:
    r = run_assay("ui", "--auth", shared.root / "tokens.yaml", "--store", shared.root / ".assay",
                  cwd=shared.root, env={"UI_READER": "a", "UI_CI": "b"})  # fmt: skip
    assert r.rc == 2
    assert "UI_ADMIN is not set" in r.error_line() and "tokens.yaml" in r.error_line()
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_STORE"} | SECRETS | {"NO_COLOR": "1"}
    command = [str(ASSAY), "ui", "--port", "0", "--auth", str(shared.root / "tokens.yaml"),
               "--store", str(shared.root / ".assay"), "--json"]  # fmt: skip
    with subprocess.Popen(
        command, cwd=shared.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        try:
            lines: list[str] = []
            while not lines or lines[-1] != "}\n":
                line = proc.stdout.readline()
                assert line, "assay ui stopped before saying where it listens"
                lines.append(line)
            started = json.loads("".join(lines))
            assert started["auth"] == str(shared.root / "tokens.yaml")
            assert get(started["url"], "/api/ui/datasets", None).status_code == 401
            r = get(started["url"], "/api/ui/datasets", READER)
            assert [d["name"] for d in r.json()["datasets"]] == ["acs"]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stderr.read()


def test_a_thing_spans_every_domain_it_shows(shared: Shared) -> None:
    from assay.server.ui.visibility import Visibility

    access = load_access(shared.root / "tokens.yaml", SECRETS)
    reader = access.identify(f"Bearer {READER}")
    with assay.open_store(shared.root / ".assay") as s:
        v = Visibility(s, reader)
        evaluation = {
            "models": {"candidate": {"name": "churn", "version": 1}, "previous": "scorer"},
            "datasets": {"all": {"dataset": "acs", "fingerprint": shared.acs}},
        }
        assert v.evaluation_domains(evaluation) == {"marketing", "risk"}
        assert v.evaluation_domains({}) == {"default"}  # spans nothing: the default domain
        assert v.run_domains(shared.risk_run) == {"risk"}
        assert v.pipeline_domains(shared.root / "assay.yaml") == {"risk"}
        items = [
            {"n": 1, "d": {"risk"}},
            {"n": 2, "d": {"risk", "marketing"}},
            {"n": 3, "d": set()},
        ]
        assert [i["n"] for i in v.keep(items, lambda i: i["d"])] == [1, 3]
        assert [i["n"] for i in Visibility(s, None).keep(items, lambda i: i["d"])] == [1, 2, 3]
