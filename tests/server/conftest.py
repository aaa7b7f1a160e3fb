"""A store with real models trained on ACS rows, shared by the serving tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from serve_helpers import FEATURES, TOKEN, TOKEN_ENV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import assay


@pytest.fixture(scope="module")
def frame(acs: pa.Table) -> pd.DataFrame:
    """3,000 real rows of 2015: 2,000 to train on, the rest as traffic."""
    return acs.slice(0, 3000).to_pandas()


@pytest.fixture(scope="module")
def traffic(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """1,000 records the models did not see, as a client sends them (JSON numbers)."""
    return [
        {k: int(v) for k, v in row.items()}
        for row in frame[FEATURES].iloc[2000:].to_dict("records")
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[assay.Store]:
    """A store with ``employment`` v1 (logistic regression, @production) and v2 (boosted
    trees, @candidate), ``boom`` (raises), ``slow`` (sleeps past any shadow timeout) and ``gaps`` (NaN
    for everyone over 80)."""
    train = frame.iloc[:2000]
    X, y = train[FEATURES], train["employed"]
    logreg = LogisticRegression(max_iter=1000).fit(X, y)
    trees = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    root: Path = tmp_path_factory.mktemp("served")
    with assay.init_store(root / ".assay") as store:
        sample = X.head(50)
        assay.register_model(
            "employment", logreg, sample=sample, aliases=["production"], store=store
        )
        assay.register_model("employment", trees, sample=sample, aliases=["candidate"], store=store)
        assay.register_model("boom", "misbehaving_models:boom", store=store)
        assay.register_model("slow", "misbehaving_models:slow", store=store)
        assay.register_model("gaps", "misbehaving_models:gaps", store=store)
        yield store


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The admin token, in the environment variable the configs name."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN
