"""Real teachers for the compression tests: models fitted on 8,000 ACS rows of 2015.

A module of its own (not ``conftest``): the other compression tests keep their fixtures.
The store holds dataset ``employment`` (one delta) and ``RECIPE`` splits it into
``train`` (the teachers learn on it), ``transfer`` (the students' unlabelled rows) and
``test`` (held out from both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import assay

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
LABEL = "employed"
ROWS = 8000
RECIPE = (
    "dataset: employment\n"
    "deltas: {include: [base]}\n"
    "split: {seed: 1, fractions: {train: 0.5, transfer: 0.25, test: 0.25}}\n"
)


def build_store(root: Path, acs: pa.Table) -> tuple[Path, Path]:
    """A store at ``root/.assay`` with the rows, and the recipe file beside it."""
    data = root / "base.parquet"
    pq.write_table(acs.slice(0, ROWS), data)
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label=LABEL)
        assay.add_delta(store, "employment", data, name="base")
    recipe = root / "employment.yaml"
    recipe.write_text(RECIPE)
    return root / ".assay", recipe


def split(store: assay.Store, recipe: Path, name: str) -> pd.DataFrame:
    """One split of the recipe's version, every column."""
    table = assay.compose(str(recipe), store=store).to_arrow(split=name)
    return table.to_pandas()


def fit_teachers(train: pd.DataFrame) -> dict[str, Any]:
    """A scaled logistic regression and a gradient-boosted model (both deterministic)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = train[FEATURES], train[LABEL]
    return {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y),
        "gbm": HistGradientBoostingClassifier(
            max_iter=40, random_state=0, early_stopping=False
        ).fit(x, y),
    }
