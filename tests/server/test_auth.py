"""A store many teams share: owners and domains, search, and tokens with per-domain
permissions enforced over a real socket (issue 18, item 4)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from fastapi import Depends, FastAPI, Request
from serve_helpers import FEATURES, live_server
from sklearn.linear_model import LogisticRegression

import assay
from assay.data.search import search_datasets
from assay.errors import TokenFileError, UsageError
from assay.server.auth import load_access, require
from assay.server.store_api import install_refusals, token_guard
from live_http import live
from tests_helpers import run_assay

SECRETS = {
    "T_READER": "reader-secret-0123456789",  # risk: read
    "T_CI": "ci-secret-0123456789",  # marketing: read, promote
    "T_ADMIN": "admin-secret-0123456789",  # *: admin
}
TOKENS = {
    "tokens": [
        {"name": "reader", "token_env": "T_READER", "domains": {"risk": ["read"]}},
        {"name": "ci", "token_env": "T_CI", "domains": {"marketing": ["read", "promote"]}},
        {"name": "platform", "token_env": "T_ADMIN", "domains": {"*": ["admin"]}},
    ]
}
CONFIG = {
    "endpoint": "scorer",
    "experiment": "auth-test",
    "routes": [{"model": "scorer@1", "weight": 1.0, "arm": "control"}],
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Path]:
    """A store two teams share: ``scorer`` (2 versions) and dataset ``acs`` in domain
    ``risk``; ``churn`` and dataset ``ads`` in ``marketing``; ``legacy`` in ``default``."""
    root = tmp_path_factory.mktemp("shared")
    rows = acs.slice(0, 300)
    X, y = rows.select(FEATURES).to_pandas(), rows.column("employed").to_pandas()
    with assay.init_store(root / ".assay") as s:
        assay.create_dataset(
            s, "acs", ["id"], "employed", owner="risk-team", domain="risk",
            description="ACS employment rows, Massachusetts",
        )  # fmt: skip
        assay.add_delta(s, "acs", rows, name="y2015", tags=["survey", "2015"])
        assay.add_delta(s, "acs", rows.slice(0, 20).select(["id"]), op="delete", name="gone")
        assay.create_dataset(s, "ads", ["id"], owner="growth", domain="marketing")
        ads = pa.table({"id": list(range(50)), "spend": [float(i) for i in range(50)]})
        assay.add_delta(s, "ads", ads, name="first", message="ad spend per user")
        assay.create_dataset(s, "legacy", ["id"])
        model = LogisticRegression(max_iter=300).fit(X, y)
        sample = X.head(20)
        kw: dict[str, Any] = {"sample": sample, "store": s}
        assay.register_model("scorer", model, owner="risk-team", domain="risk", **kw)
        assay.register_model("scorer", model, aliases=["production"], **kw)  # inherits
        assay.register_model("churn", model, owner="growth", domain="marketing", **kw)
    (root / "tokens.yaml").write_text(yaml.safe_dump(TOKENS))
    (root / "serve.yaml").write_text(yaml.safe_dump(CONFIG))
    return root


@pytest.fixture(scope="module")
def server(shared: Path) -> Iterator[str]:
    access = load_access(shared / "tokens.yaml", SECRETS)
    with assay.open_store(shared / ".assay") as s, live_server(CONFIG, s, access=access) as url:
        yield url


def call(url: str, method: str, path: str, token: str | None, body: Any = None) -> Any:
    """(status, JSON answer, headers) of one request over the socket."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def alias_of(shared: Path, ref: str) -> int:
    with assay.open_store(shared / ".assay") as s:
        return assay.get_model(ref, store=s).version


# --------------------------------------------------------------------------- ownership


def test_owner_and_domain_are_recorded_and_inherited(shared: Path) -> None:
    with assay.open_store(shared / ".assay") as s:
        scorer = assay.list_models("scorer", store=s)
        assert [(m.owner, m.domain) for m in scorer] == [("risk-team", "risk")] * 2
        legacy = s.catalog.get_dataset("legacy")
        assert (legacy.owner, legacy.domain, legacy.description) == (None, "default", "")
        with pytest.raises(UsageError, match="model 'scorer' is in domain 'risk', not 'x'"):
            assay.register_model("scorer", "misbehaving_models:boom", domain="x", store=s)
        with pytest.raises(UsageError, match=r"domain '\*' is not allowed"):
            assay.create_dataset(s, "bad", ["id"], domain="*")
        assert [m.version for m in assay.list_models("scorer", store=s)] == [1, 2]


def test_search_finds_by_name_tag_column_and_owner(shared: Path) -> None:
    at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    with assay.open_store(shared / ".assay") as s:
        names = lambda **kw: [h.name for h in search_datasets(s, at=at, **kw)]  # noqa: E731
        assert names() == ["acs", "ads", "legacy"]
        assert names(query="SPEND") == ["ads"]  # a column, any case
        assert names(query="massachusetts") == ["acs"]  # the description
        assert names(query="grow") == ["ads"]  # the owner
        assert names(query="2015") == ["acs"]  # a tag
        assert names(tag="survey") == ["acs"] and names(tag="surv") == []  # exact filter
        assert names(column="AGEP") == ["acs"] and names(owner="growth") == ["ads"]
        assert names(domain="risk") == ["acs"] and names(domains=["marketing"]) == ["ads"]
        (acs,) = search_datasets(s, "survey", at=at)
        deltas = s.catalog.list_deltas("acs")
    assert acs.matched == ("tag",)
    assert (acs.owner, acs.domain, acs.deltas, acs.rows) == ("risk-team", "risk", 2, 300 - 20)
    assert acs.tags == ("survey", "2015") and "AGEP" in acs.columns
    assert acs.last_delta_at == deltas[-1].created_at
    expected_age = (at - dt.datetime.fromisoformat(deltas[-1].created_at)).total_seconds()
    assert acs.age_seconds == pytest.approx(expected_age, abs=0.01)


def test_search_cli_says_description_and_freshness(shared: Path) -> None:
    r = run_assay("data", "search", "--owner", "GROWTH", "--json", "--store", shared / ".assay",
                  cwd=shared)  # fmt: skip
    assert r.rc == 0, r.err
    (hit,) = r.json()["datasets"]
    # No description given: the first delta's message stands in.
    assert hit["description"] == "ad spend per user"
    assert (hit["dataset"], hit["rows"], hit["columns"]) == ("ads", 50, ["id", "spend"])
    assert hit["age_seconds"] >= 0 and hit["last_delta_at"].startswith("20")
    listed = run_assay("data", "list", "--json", "--store", shared / ".assay", cwd=shared)
    got = {d["dataset"]: (d["owner"], d["domain"]) for d in listed.json()["datasets"]}
    assert got == {"acs": ("risk-team", "risk"), "ads": ("growth", "marketing"),
                   "legacy": (None, "default")}  # fmt: skip


def test_recover_keeps_owner_domain_and_description(tmp_path: Path, acs: pa.Table) -> None:
    with assay.init_store(tmp_path / ".assay") as s:
        assay.create_dataset(s, "acs", ["id"], owner="risk-team", domain="risk",
                             description="rows")  # fmt: skip
        assay.add_delta(s, "acs", acs.slice(0, 10).select(["id", "AGEP"]), name="d1")
        assay.register_model("f", "misbehaving_models:boom", owner="ops", domain="risk", store=s)
    for f in (tmp_path / ".assay").glob("catalog.db*"):
        f.unlink()
    r = run_assay("recover", "--store", tmp_path / ".assay", cwd=tmp_path)
    assert r.rc == 0, r.err
    data = run_assay("data", "list", "--json", "--store", tmp_path / ".assay", cwd=tmp_path)
    (d,) = data.json()["datasets"]
    assert (d["owner"], d["domain"], d["description"]) == ("risk-team", "risk", "rows")
    models = run_assay("models", "show", "f", "--json", "--store", tmp_path / ".assay",
                       cwd=tmp_path)  # fmt: skip
    assert (models.json()["owner"], models.json()["domain"]) == ("ops", "risk")


# --------------------------------------------------------------------------- tokens


def test_token_file_problems_are_named() -> None:
    bad = {"tokens": [{"name": "ci", "token_env": "T_CI", "domains": {"risk": ["deploy"]}}]}
    with pytest.raises(TokenFileError, match="'deploy' is not a permission; use read, write"):
        load_access(bad, SECRETS)
    with pytest.raises(TokenFileError) as e:
        load_access(TOKENS, {"T_READER": "x", "T_CI": "y"})
    assert str(e.value) == (
        "token file: tokens[2].token_env: T_ADMIN is not set; export "
        "T_ADMIN=<a long random secret> before serving"
    )


def test_no_token_or_a_wrong_one_is_401(server: str) -> None:
    for token in (None, "not-a-token"):
        status, body, headers = call(server, "GET", "/api/models", token)
        assert status == 401 and headers["www-authenticate"] == "Bearer", body
        status, body, _ = call(server, "POST", "/api/models/scorer/aliases", token,
                               {"alias": "production", "version": 1})  # fmt: skip
        assert status == 401, body


def test_a_token_without_the_permission_is_403_naming_it(server: str, shared: Path) -> None:
    move = {"alias": "production", "version": 1}
    before = alias_of(shared, "scorer@production")
    status, body, _ = call(server, "POST", "/api/models/scorer/aliases", SECRETS["T_READER"], move)
    assert (status, body["detail"]) == (403, "token 'reader' lacks 'promote' on domain 'risk'")
    # promote, but on another domain
    status, body, _ = call(server, "POST", "/api/models/scorer/aliases", SECRETS["T_CI"], move)
    assert (status, body["detail"]) == (403, "token 'ci' lacks 'promote' on domain 'risk'")
    assert alias_of(shared, "scorer@production") == before  # nothing moved


def test_promotion_moves_the_alias_in_the_catalog(server: str, shared: Path) -> None:
    status, body, _ = call(server, "POST", "/api/models/churn/aliases", SECRETS["T_CI"],
                           {"alias": "candidate", "version": 1})  # fmt: skip
    assert status == 200, body
    assert (body["ref"], body["by"], body["moved_from"]) == ("churn@1", "ci", None)
    assert alias_of(shared, "churn@candidate") == 1
    status, body, _ = call(server, "POST", "/api/models/churn/aliases", SECRETS["T_CI"],
                           {"alias": "candidate", "version": 7})  # fmt: skip
    assert status == 404 and "has no version 7" in body["detail"]
    huge = {"alias": "a" * 70_000, "version": 1}
    status, body, _ = call(server, "POST", "/api/models/churn/aliases", SECRETS["T_CI"], huge)
    assert status == 413 and "65,536 bytes" in body["detail"]
    status, body, _ = call(server, "POST", "/api/models/churn/aliases", SECRETS["T_CI"],
                           {"alias": "candidate", "version": "1"})  # fmt: skip
    assert (status, body["field"]) == (422, "version")


def test_listing_shows_only_the_domains_a_token_reads(server: str) -> None:
    def listed(path: str, key: str, token: str) -> set[str]:
        status, body, _ = call(server, "GET", path, token)
        assert status == 200, body
        return {m["name" if key == "models" else "dataset"] for m in body[key]}

    assert listed("/api/models", "models", SECRETS["T_READER"]) == {"scorer"}
    assert listed("/api/models", "models", SECRETS["T_CI"]) == {"churn"}
    assert listed("/api/models", "models", SECRETS["T_ADMIN"]) == {"scorer", "churn"}
    assert listed("/api/datasets", "datasets", SECRETS["T_READER"]) == {"acs"}
    assert listed("/api/datasets", "datasets", SECRETS["T_ADMIN"]) == {"acs", "ads", "legacy"}
    assert listed("/api/datasets?q=spend", "datasets", SECRETS["T_READER"]) == set()


def test_the_cli_promotes_through_the_server(server: str, shared: Path) -> None:
    env = {"ASSAY_SERVER": server, "ASSAY_TOKEN": SECRETS["T_READER"]}
    r = run_assay("models", "alias", "scorer@1", "production", cwd=shared, env=env)
    assert r.rc == 2
    assert r.error_line() == (
        f"error: token 'reader' lacks 'promote' on domain 'risk' ({server}); ask for the "
        "permission in the token file"
    )
    env["ASSAY_TOKEN"] = SECRETS["T_ADMIN"]
    r = run_assay("models", "alias", "scorer@1", "production", "--json", cwd=shared, env=env)
    assert r.rc == 0, r.err
    assert (r.json()["moved_from"], r.json()["by"]) == (2, "platform")
    assert alias_of(shared, "scorer@production") == 1


# --------------------------------------------------------------------------- startup


def test_serve_refuses_an_unset_secret_and_an_open_host(shared: Path) -> None:
    store = ("--store", shared / ".assay")
    r = run_assay("serve", shared / "serve.yaml", "--auth", shared / "tokens.yaml", *store,
                  cwd=shared, env={"T_READER": "a", "T_CI": "b"})  # fmt: skip
    assert r.rc == 2
    assert "T_ADMIN is not set" in r.error_line() and "tokens.yaml" in r.error_line()
    r = run_assay("serve", shared / "serve.yaml", "--host", "0.0.0.0", *store, cwd=shared)
    assert r.rc == 2
    assert r.error_line() == (
        "error: --host 0.0.0.0 without --auth would open the store to the network; give "
        "--auth TOKENS.yaml (docs/access.md) or serve on --host 127.0.0.1"
    )


def test_token_guard_protects_another_router() -> None:
    """The dependency the dashboard's routes use: 401 without a token, the token kept."""
    app = FastAPI()
    install_refusals(app)

    @app.get("/page", dependencies=[Depends(token_guard(load_access(TOKENS, SECRETS)))])
    def page(request: Request) -> dict[str, str]:
        require(request.state.token, "write", "risk")
        return {"token": request.state.token.name}

    with live(app) as url:
        assert call(url, "GET", "/page", None)[0] == 401
        assert call(url, "GET", "/page", SECRETS["T_ADMIN"])[:2] == (200, {"token": "platform"})
        status, body, _ = call(url, "GET", "/page", SECRETS["T_READER"])
        assert (status, body["detail"]) == (403, "token 'reader' lacks 'write' on domain 'risk'")
