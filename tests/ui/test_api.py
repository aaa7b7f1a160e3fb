"""The dashboard's JSON API over a real socket, each answer checked against the
library or scikit-learn computed independently."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
from ui_project import FEATURES, Project

import assay


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def frame(project: Project) -> pd.DataFrame:
    return assay.load_version(project.new, store=project.store).to_pandas()


def test_openapi_lists_every_api_endpoint(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/api/ui/datasets",
        "/api/ui/datasets/{name}",
        "/api/ui/diff",
        "/api/ui/runs",
        "/api/ui/runs/{run_id}",
        "/api/ui/models",
        "/api/ui/checks",
        "/api/ui/evaluations",
        "/api/ui/experiments",
        "/api/ui/pipeline",
        "/api/whatif/predict",
        "/api/whatif/counterfactual",
        "/api/whatif/pdp",
    ]:
        assert path in paths, path
    assert "post" in paths["/api/whatif/predict"]
    assert not any(p.startswith("/ui") for p in paths)


def test_dataset_history_with_impact_and_versions(client: httpx.Client, project: Project) -> None:
    data = client.get("/api/ui/datasets/employment").json()
    assert [(d["name"], d["rows"]) for d in data["deltas"]] == [("base", 2000), ("y2016", 1000)]
    impact = data["deltas"][1]["impact"]
    assert impact["rows_before"] == 2000 and impact["rows_after"] == 3000
    assert {v["fingerprint"] for v in data["versions"]} == {project.old, project.new}
    assert client.get("/api/ui/datasets/nope").status_code == 404
    # The page: counts with separators; the feature that moved most, by its distance.
    page = client.get("/ui/datasets/employment").text
    assert "<td>2,000</td>" in page and "<td>3,000</td>" in page
    top = max(impact["features"], key=lambda f: f["distance"])
    measure = "TVD" if top["test"] == "chi2" else "KS"
    assert f"{top['column']} ({measure} {top['distance']:.3f})" in page


def test_diff_counts_the_added_year(client: httpx.Client, project: Project) -> None:
    data = client.get("/api/ui/diff", params={"a": project.old, "b": project.new}).json()
    assert (data["added"], data["removed"], data["changed"], data["unchanged"]) == (
        1000,
        0,
        0,
        2000,
    )


def test_run_lineage_links_versions_commit_and_models(
    client: httpx.Client, project: Project
) -> None:
    data = client.get(f"/api/ui/runs/{project.run_id}").json()
    run = f"run:{project.run_id}"
    edges = {(e["from"], e["to"]) for e in data["edges"]}
    assert (f"version:{project.new}", run) in edges
    assert {(run, "model:employment@1"), (run, "model:employment@2")} <= edges
    commit = data["run"]["git"]["commit"]
    if commit:  # the tests run from a git checkout, usually
        assert (f"commit:{commit}", run) in edges
    kinds = sorted(n["kind"] for n in data["nodes"])
    assert kinds == sorted(["version", "run", "model", "model"] + (["commit"] if commit else []))


def test_models_aliases_and_checks(client: httpx.Client, project: Project) -> None:
    models = {m["ref"]: m["aliases"] for m in client.get("/api/ui/models").json()["models"]}
    assert models == {"employment@1": ["production"], "employment@2": ["candidate"]}
    checks = client.get("/api/ui/checks").json()["checks"]
    assert [c["id"] for c in checks] == [project.check_id]
    assert checks[0]["passed"] is False  # ages above 80 are in the data
    page = client.get(f"/ui/checks/{project.check_id}/report")
    assert page.status_code == 200 and "AGEP" in page.text


def test_predict_equals_the_models_own_predict_proba(
    client: httpx.Client, project: Project, frame: pd.DataFrame
) -> None:
    row = {f: int(v) for f, v in frame[FEATURES].iloc[7].items()}
    refs = ["employment@production", "employment@candidate"]
    got = client.post("/api/whatif/predict", json={"models": refs, "row": row}).json()[
        "predictions"
    ]
    assert [p["model"] for p in got] == ["employment@1", "employment@2"]
    for p, ref in zip(got, refs, strict=True):
        raw = assay.load_model(ref, store=project.store).raw
        X = pd.DataFrame([row])[FEATURES]
        assert p["output"] == int(raw.predict(X)[0])
        expected = raw.predict_proba(X)[0]
        assert [p["proba"][str(c)] for c in raw.classes_] == pytest.approx(expected, abs=1e-12)
    missing = client.post("/api/whatif/predict", json={"models": refs[:1], "row": {"AGEP": 30}})
    assert missing.status_code == 422 and "SCHL" in missing.json()["detail"]


def test_counterfactual_is_the_closest_row_with_another_prediction(
    client: httpx.Client, project: Project, frame: pd.DataFrame
) -> None:
    row = {f: int(v) for f, v in frame[FEATURES].iloc[11].items()}
    got = client.post(
        "/api/whatif/counterfactual",
        json={"model": "employment@candidate", "version": project.new, "row": row},
    ).json()
    raw = assay.load_model("employment@candidate", store=project.store).raw
    X = frame[FEATURES]
    predicted = raw.predict(X)
    probed = raw.predict(pd.DataFrame([row]))[0]
    assert got["prediction"] == probed and got["output"] != probed
    assert predicted[got["index"]] == got["output"]
    # Brute force: every row the model answers differently, at its stated distance.
    std = X.to_numpy(dtype=float).std(axis=0)
    d = (
        np.abs(X.to_numpy(dtype=float) - np.array([row[f] for f in FEATURES]))
        / np.where(std > 0, std, np.inf)
    ).sum(axis=1)
    others = predicted != probed
    assert got["distance"] == pytest.approx(d[others].min(), rel=1e-9)
    assert got["distance"] == pytest.approx(d[got["index"]], rel=1e-9)
    assert got["row"] == {f: int(v) for f, v in X.iloc[got["index"]].items()}


def test_pdp_equals_sklearns_partial_dependence(
    client: httpx.Client, project: Project, frame: pd.DataFrame
) -> None:
    from sklearn.inspection import partial_dependence

    raw = assay.load_model("employment@candidate", store=project.store).raw
    for feature in ["AGEP", "SCHL"]:
        got = client.get(
            "/api/whatif/pdp",
            params={"model": "employment@candidate", "version": project.new, "feature": feature},
        ).json()
        grid = np.array(got["grid"])
        # sklearn refuses integer columns; the grid is whole numbers, so floats are the same.
        X = frame[FEATURES].astype(float)
        assert np.array_equal(grid, np.round(grid))
        expected = partial_dependence(
            raw, X, [feature], kind="average", method="brute", custom_values={feature: grid}
        )
        assert got["overall"] == pytest.approx(expected["average"][0], abs=1e-9)
        women = X[frame["SEX"].to_numpy() == 2]
        in_slice = partial_dependence(
            raw, women, [feature], kind="average", method="brute", custom_values={feature: grid}
        )
        assert got["slices"]["women"] == pytest.approx(in_slice["average"][0], abs=1e-9)
        assert set(got["slices"]) == {"women", "over_65"}
        if feature == "SCHL":  # 25 values: the grid spans the 5th to 95th percentile
            low, high = np.percentile(X[feature], [5, 95])
            assert grid[0] == round(low) and grid[-1] == round(high)
    few = client.get(
        "/api/whatif/pdp",
        params={"model": "employment@production", "version": project.new, "feature": "MAR"},
    ).json()
    assert few["grid"] == sorted(frame["MAR"].unique().tolist())  # 5 values: every one
    assert few["target"] == "P(1)" and few["rows"] == len(frame)
    bad = client.get(
        "/api/whatif/pdp", params={"model": "employment@1", "version": project.new, "feature": "id"}
    )
    assert bad.status_code == 422 and "does not read 'id'" in bad.json()["detail"]


def test_evaluations_and_their_embedded_report(client: httpx.Client, project: Project) -> None:
    stored = project.store.catalog.get_evaluation(project.evaluation_id)
    listed = client.get("/api/ui/evaluations").json()["evaluations"]
    assert [(e["id"], e["passed"]) for e in listed] == [(project.evaluation_id, stored["passed"])]
    assert listed[0]["models"]["candidate"] == "employment@2"
    page = client.get(f"/ui/evaluations/{project.evaluation_id}")
    assert f'src="/ui/evaluations/{project.evaluation_id}/report"' in page.text
    report = client.get(f"/ui/evaluations/{project.evaluation_id}/report")
    assert report.status_code == 200 and "roc_auc" in report.text
    assert client.get("/ui/evaluations/ffffffff/report").status_code == 404


def test_experiment_counts_every_answered_request(client: httpx.Client) -> None:
    from ui_project import REQUESTS

    (experiment,) = client.get("/api/ui/experiments").json()["experiments"]
    assert experiment["name"] == "trees-vs-logreg"
    counts = experiment["counts"]
    assert set(counts) == {"control", "treatment"} and sum(counts.values()) == REQUESTS
    assert all(n > 0 for n in counts.values())


def test_an_experiment_is_analysed_on_its_first_outcome_metric_unless_asked(
    client: httpx.Client, project: Project
) -> None:
    from assay.experiments.analysis import analyze

    # A page cannot pass --metric: the analysis compares the arms on the first recorded
    # outcome, and the page links the others.
    url = "/api/ui/experiments/trees-vs-logreg"
    first = client.get(url).json()
    assert first["metric"] == "clicked"
    assert first == json.loads(
        json.dumps(analyze(project.store, "trees-vs-logreg", "clicked").to_dict())
    )
    assert client.get(url, params={"metric": "spend"}).json()["metric"] == "spend"
    page = client.get("/ui/experiments/trees-vs-logreg").text
    assert 'src="/ui/experiments/trees-vs-logreg/report?metric=clicked"' in page
    assert 'href="/ui/experiments/trees-vs-logreg?metric=spend"' in page
    other = client.get("/ui/experiments/trees-vs-logreg", params={"metric": "spend"}).text
    assert 'report?metric=spend"' in other
    report = client.get("/ui/experiments/trees-vs-logreg/report", params={"metric": "spend"})
    assert report.status_code == 200 and "spend" in report.text
    # Without --auth no token is needed: no sign-in link in the header.
    assert 'href="/ui/signin"' not in page


def test_pipeline_status_is_the_librarys(client: httpx.Client, project: Project) -> None:
    from assay.pipeline import status

    data = client.get("/api/ui/pipeline").json()
    expected = status(project.root / "assay.yaml", store=project.store).to_dict()
    assert data == expected
    assert [(s["name"], s["state"]) for s in data["stages"]] == [
        ("compose-all", "stale"),
        ("check-ages", "stale"),
    ]
    page = client.get("/ui/pipeline").text
    assert "compose-all" in page and "check-ages" in page


def test_the_dashboard_mounts_in_assay_serves_app(project: Project) -> None:
    from ui_project import EXPERIMENT

    from assay.server import create_app
    from assay.server.ui import router
    from live_http import live

    app = create_app(EXPERIMENT, project.store, weights_poll_s=None)
    app.include_router(router(project.store))
    with live(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.get("/healthz").status_code == 200  # serve's own routes stay
        models = client.get("/api/ui/models").json()["models"]
        assert [m["ref"] for m in models] == ["employment@1", "employment@2"]
        paths = client.get("/openapi.json").json()["paths"]
        assert "/v1/predict" in paths and "/api/whatif/pdp" in paths
