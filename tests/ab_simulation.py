"""A simulated A/B experiment on real ACS rows: registered models, a prediction log
written by two workers (with a shadow), and outcomes; shared by the analysis, CLI and
report tests (each builds it once per module)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.linear_model import LogisticRegression

import assay
from assay.experiments import LogWriter, assign
from assay.experiments.log import dumps
from assay.experiments.records import record_outcomes, start_experiment

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CONFIG = {
    "endpoint": "employment",
    "experiment": "lr-vs-lr",
    "routes": [
        {"model": "employment@production", "weight": 0.8, "arm": "control"},
        {"model": "employment@candidate", "weight": 0.2, "arm": "treatment"},
    ],
    "shadow": ["employment@experimental"],
    "sticky_key": "user_id",
}
RAMP = {"control": 0.5, "treatment": 0.5}  # from the middle of the experiment on
REQUESTS = 1500
USERS = 500
CORRUPTED = 4  # treatment answers logged wrong on purpose: the skew check must see them


@dataclass
class Simulated:
    """The store and, for the tests' independent computations, what was written."""

    root: Path
    store: assay.Store
    log: pd.DataFrame  # the live rows as written
    outcomes: pd.DataFrame  # by request_id: converted (0/1), revenue
    users: pd.DataFrame  # by sticky_key: retained (0/1)
    corrupted: int


def _fit(frame: pd.DataFrame, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=300).fit(frame[FEATURES], frame["employed"])


def simulate(root: Path, acs: pa.Table) -> Iterator[Simulated]:
    """Build the store under ``root`` and yield it (open) with what was written."""
    frame = acs.slice(0, 3000).to_pandas()
    train, traffic = frame.iloc[:1500], frame.iloc[1500:].reset_index(drop=True)
    models = {"production": _fit(train, 1.0), "candidate": _fit(train, 0.001)}
    shadow = _fit(train.iloc[:300], 0.01)
    with assay.init_store(root / ".assay") as store:
        sample = train[FEATURES].head(20)
        versions = {}
        for alias, model in models.items():
            versions[alias] = assay.register_model(
                "employment", model, sample=sample, aliases=[alias], store=store
            ).ref
        experimental = assay.register_model(
            "employment", shadow, sample=sample, aliases=["experimental"], store=store
        ).ref
        start_experiment(store, CONFIG)

        rng = np.random.default_rng(14)
        by_arm = {"control": versions["production"], "treatment": versions["candidate"]}
        fitted = {"control": models["production"], "treatment": models["candidate"]}
        writers = [
            LogWriter(store, "lr-vs-lr", worker=f"w{i}", flush_rows=200, flush_seconds=0.2)
            for i in range(2)
        ]
        rows = []
        corrupted = 0
        for i in range(REQUESTS):
            weights = {"control": 0.8, "treatment": 0.2} if i < REQUESTS // 2 else RAMP
            user = f"u-{int(rng.integers(USERS))}"
            arm = assign(user, "lr-vs-lr", weights)
            record = {k: int(v) for k, v in traffic.loc[i, FEATURES].items()}
            x = traffic.loc[[i], FEATURES]
            answer = fitted[arm].predict(x).tolist()
            logged = answer
            if arm == "treatment" and corrupted < CORRUPTED and i % 7 == 0:
                logged, corrupted = [1 - answer[0]], corrupted + 1
            status = "fallback" if i % 97 == 5 else "ok"
            model = by_arm["control"] if status == "fallback" else by_arm[arm]
            if status == "fallback":
                logged = fitted["control"].predict(x).tolist()
            row = {
                "request_id": f"{i:032x}",
                "time": START + dt.timedelta(seconds=20 * i),
                "experiment": "lr-vs-lr",
                "endpoint": "employment",
                "role": "live",
                "sticky_key": user,
                "arm": arm,
                "model": model,
                "inputs": dumps([record]),
                "outputs": dumps(logged),
                "latency_ms": float(1 + (i % 10)),
                "status": status,
                "error": None,
                "weights": json.dumps(weights),
            }
            writer = writers[i % 2]
            writer.append(row)
            rows.append(row)
            shadow_failed = i % 50 == 0
            writer.append(
                {
                    **row,
                    "role": "shadow",
                    "model": experimental,
                    "outputs": None if shadow_failed else dumps(shadow.predict(x).tolist()),
                    "status": "timeout" if shadow_failed else "ok",
                }
            )
        for writer in writers:
            writer.close()

        log = pd.DataFrame(rows)
        lift = np.where(log["arm"] == "treatment", 0.06, 0.0)
        outcomes = pd.DataFrame(
            {
                "request_id": log["request_id"],
                "converted": (rng.random(REQUESTS) < 0.2 + lift).astype(int),
                "revenue": rng.gamma(2.0, 10.0, REQUESTS) + 6 * lift / 0.06,
            }
        ).iloc[:-50]  # the last requests have no outcome yet
        path = root / "outcomes.csv"
        outcomes.to_csv(path, index=False)
        record_outcomes(store, "lr-vs-lr", path)

        first = log.drop_duplicates("sticky_key")
        users = pd.DataFrame(
            {
                "user_id": first["sticky_key"],
                "retained": (rng.random(len(first)) < 0.5).astype(bool),
            }
        )
        start_experiment(store, {**CONFIG, "experiment": "by-user"})
        user_log = [{**r, "experiment": "by-user"} for r in rows]
        writer = LogWriter(store, "by-user", worker="w0", flush_rows=10_000, flush_seconds=0.2)
        for r in user_log:
            writer.append(r)
        writer.close()
        record_outcomes(
            store, "by-user", pa.Table.from_pandas(users, preserve_index=False), by="sticky_key"
        )
        yield Simulated(root, store, log, outcomes, users, corrupted)
