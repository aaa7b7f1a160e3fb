"""The dashboard tests' project: a small real store, and a server on a loopback socket.

Two survey years of ACS rows (2,000 + 1,000), two recorded versions of a recipe with
slices, a run that composed one of them and registered two scikit-learn models
(logistic regression @production, boosted trees @candidate), a recorded check, a
recorded evaluation, an experiment over both models that answered 40 requests, and an
``assay.yaml`` (compose, then check) that has never run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import assay
from assay.server.ui import create_app
from live_http import live

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
RECIPE = """\
dataset: employment
slices: {women: "SEX = 2", over_65: "AGEP >= 65"}
"""

EVALUATION = {
    "name": "release",
    "models": {"candidate": "employment@candidate", "previous": "employment@production"},
    "slices": ["women", "over_65"],
    "metrics": ["accuracy", "roc_auc"],
    "thresholds": [{"metric": "roc_auc", "min": 0.6}],
    "bootstrap": {"samples": 50, "seed": 1},
}
EXPERIMENT = {
    "endpoint": "employment",
    "experiment": "trees-vs-logreg",
    "routes": [
        {"model": "employment@production", "weight": 0.5, "arm": "control"},
        {"model": "employment@candidate", "weight": 0.5, "arm": "treatment"},
    ],
    "sticky_key": "user_id",
}
PIPELINE = """\
name: employment
stages:
  compose-all: {kind: compose, recipe: recipe.yaml}
  check-ages: {kind: check, suite: ages.yaml, inputs: [compose-all]}
"""
REQUESTS = 40  # answered by the experiment: the experiments page counts them


@dataclass
class Project:
    root: Path
    store: assay.Store
    old: str  # fingerprint: the first year only
    new: str  # fingerprint: both years (the run's input, the models' training data)
    run_id: str
    check_id: str
    evaluation_id: str


@contextmanager
def build_project(root: Path, acs: pa.Table) -> Iterator[Project]:
    """The project in ``root`` (see the module docstring); the store closes after."""
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        for name, y, rows in [("base", 2015, 2000), ("y2016", 2016, 1000)]:
            pq.write_table(
                acs.filter(pc.equal(acs["year"], y)).slice(0, rows), root / f"{name}.parquet"
            )
        assay.add_delta(store, "employment", root / "base.parquet", name="base")
        (root / "recipe.yaml").write_text(RECIPE)
        old = assay.compose(root / "recipe.yaml", store=store).fingerprint
        assay.add_delta(store, "employment", root / "y2016.parquet", name="y2016")
        with assay.start_run("train", store=store) as run:
            version = assay.compose(root / "recipe.yaml", store=store)
            frame = version.to_pandas()
            X, y = frame[FEATURES], frame["employed"]
            logreg = LogisticRegression(max_iter=1000).fit(X, y)
            trees = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
            for model, alias in [(logreg, "production"), (trees, "candidate")]:
                assay.register_model(
                    "employment", model, sample=X.head(50), aliases=[alias], store=store
                )
        suite = {"suite": "ages", "expectations": [{"between": {"column": "AGEP", "max": 80}}]}
        report = assay.check(suite, version, store=store)
        evaluation = assay.evaluate(
            EVALUATION | {"datasets": {"all": {"recipe": str(root / "recipe.yaml")}}}, store=store
        )
        serve_a_little(store, frame[FEATURES].head(REQUESTS))
        (root / "ages.yaml").write_text(json.dumps(suite))
        (root / "assay.yaml").write_text(PIPELINE)
        yield Project(root, store, old, version.fingerprint, run.id, report.id, evaluation.id)


def serve_a_little(store: assay.Store, rows: pd.DataFrame) -> None:
    """An experiment over both models that answered ``len(rows)`` requests (its log),
    with two outcome metrics per user: ``clicked`` and ``spend``."""
    import pyarrow as pa

    from assay.experiments.records import record_outcomes
    from assay.server import Endpoint

    endpoint = Endpoint(EXPERIMENT, store, weights_poll_s=None)
    endpoint.open()
    try:
        for i, row in enumerate(rows.to_dict("records")):
            endpoint.predict({"user_id": f"u{i}", "inputs": {k: int(v) for k, v in row.items()}})
    finally:
        endpoint.close()
    users = [f"u{i}" for i in range(len(rows))]
    outcomes = {"sticky_key": users, "clicked": [i % 3 == 0 for i in range(len(rows))]}
    outcomes["spend"] = [float(i % 7) for i in range(len(rows))]
    record_outcomes(store, str(EXPERIMENT["experiment"]), pa.table(outcomes), by="sticky_key")


@contextmanager
def live_dashboard(project: Project) -> Iterator[str]:
    """The dashboard over the project's store, served by uvicorn in a thread on a free
    loopback port; yields its base URL."""
    with live(create_app(project.store, pipeline=project.root / "assay.yaml")) as url:
        yield url
