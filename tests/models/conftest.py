"""Real models trained on a few thousand rows of the ACS data, and stores holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from models_helpers import FEATURES, LABEL, SMALL
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def frame(acs: pa.Table) -> pd.DataFrame:
    """4,000 real rows of 2015 (features, label and key)."""
    return acs.slice(0, 4000).to_pandas()


@pytest.fixture(scope="session")
def X(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[FEATURES]


@pytest.fixture(scope="session")
def logreg(frame: pd.DataFrame) -> Any:
    """A scaled logistic regression, fitted on 3,000 rows."""
    train = frame.iloc[:3000]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        train[FEATURES], train[LABEL]
    )


@pytest.fixture(scope="session")
def gboost(frame: pd.DataFrame) -> Any:
    """Histogram gradient boosting (deterministic), fitted on 3,000 rows."""
    train = frame.iloc[:3000]
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0, early_stopping=False)
    return model.fit(train[FEATURES], train[LABEL])


@pytest.fixture
def held_out(frame: pd.DataFrame) -> pd.DataFrame:
    """The 1,000 rows the models did not see, every column (key and label included)."""
    return frame.iloc[3000:].reset_index(drop=True)


@pytest.fixture
def small_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path
