"""The ACS project evaluation tests share: a store with three survey years and three
registered models, and the release spec over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

import assay

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "SEX", "RAC1P"]
RECIPE = """\
dataset: employment
deltas: {include: [base, y2016]}
split: {seed: 3, fractions: {train: 0.7, test: 0.3}}
slices: {women: "SEX = 2", men: "SEX = 1", over_65: "AGEP >= 65", tiny: "RAC1P = 5"}
"""


def build_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A store with two survey years and three registered models trained on them:
    a logistic-regression baseline, a gradient-boosting candidate, and a copy of the
    candidate trained with 40% of the women's labels flipped (worse for women only)."""
    import pyarrow.parquet as pq

    from tests_helpers import year

    root = tmp_path_factory.mktemp("eval")
    acs = pq.read_table(Path(__file__).parents[1] / "examples/data/acs_employment_ma.parquet")
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "employment", ["id"], label="employed")
    for name, y in [("base", 2015), ("y2016", 2016), ("y2017", 2017)]:
        pq.write_table(year(acs, y), root / f"{name}.parquet")
        assay.add_delta(store, "employment", root / f"{name}.parquet", name=name)
    (root / "recipe.yaml").write_text(RECIPE)
    (root / "newest.yaml").write_text("dataset: employment\ndeltas: {include: [y2017]}\n")
    version = assay.compose(root / "recipe.yaml", store=store)
    train = version.to_pandas(split="train").sample(15_000, random_state=0)
    X, y = train[FEATURES], train["employed"]
    # One OpenMP thread: on a shared 2-core runner, more threads only wait on each other.
    limits = threadpool_limits(1)
    baseline = LogisticRegression(max_iter=500).fit(X, y)
    candidate = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    noisy = y.to_numpy().copy()
    flip = (train.SEX.to_numpy() == 2) & (rng.random(len(noisy)) < 0.4)
    noisy[flip] = 1 - noisy[flip]
    degraded = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, noisy)
    limits.unregister()
    for m, alias in [(baseline, "baseline"), (candidate, "production"), (degraded, "degraded")]:
        assay.register_model("employment", m, sample=X.head(100), aliases=[alias], store=store)
    yield (
        root,
        store,
        version,
        {"baseline": baseline, "production": candidate, "degraded": degraded},
    )
    store.close()


def spec(root: Path, candidate: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "release",
        "models": {"candidate": f"employment@{candidate}", "previous": "employment@production", "baseline": "employment@baseline"},
        "datasets": {"test": {"recipe": str(root / "recipe.yaml"), "split": "test"}, "newest": {"recipe": str(root / "newest.yaml")}},
        "slices": ["women", "men", "over_65", "tiny"],
        "metrics": ["accuracy", "f1", "roc_auc", "log_loss", "ece"],
        "thresholds": [
            {"metric": "roc_auc", "min": 0.8},
            {"metric": "roc_auc", "vs": "previous", "max_drop": 0.005, "slices": ["women", "men", "tiny"]},
            {"metric": "accuracy", "vs": "baseline", "min_gain": 0.0, "slices": "all"},
        ],
        "min_slice_rows": 200,
        "bootstrap": {"samples": 200, "seed": 1},
    }  # fmt: skip
    doc.update(extra)
    return doc
