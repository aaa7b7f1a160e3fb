"""Real registered models for the behaviour and robustness tests: logistic regressions
trained on ACS rows of 2018, and a TF-IDF text classifier on seeded short reviews."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

import assay
from tests_helpers import year

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
IGNORED = "RELP"  # given to the `ignoring` model, which drops it before fitting
GOOD = ["good", "great", "fine", "lovely", "superb"]
BAD = ["bad", "awful", "dull", "poor", "boring"]
NOUNS = ["movie", "film", "plot", "cast", "story", "ending"]


@dataclass
class Project:
    """A store with the models registered, the test rows as a file and a recipe."""

    root: Path
    store: assay.Store
    lr: LogisticRegression  # employment@candidate: the FEATURES
    ignoring: Pipeline  # ignoring@candidate: FEATURES + RELP, RELP dropped inside
    text: Pipeline  # reviews@candidate: TF-IDF + logistic regression on `review`
    test: pd.DataFrame  # 1,000 people the models never saw (id, FEATURES, RELP, employed)
    reviews: pd.DataFrame  # 300 reviews (id, review, liked)


def reviews(n: int, seed: int) -> pd.DataFrame:
    """Short seeded reviews: liked ones hold a good word, the others a bad one."""
    rng = np.random.default_rng(seed)
    liked = rng.integers(0, 2, n)
    texts = [
        f"the {rng.choice(NOUNS)} was {rng.choice(GOOD if y else BAD)} and the "
        f"{rng.choice(NOUNS)} was {rng.choice(GOOD + BAD)}"
        for y in liked
    ]
    return pd.DataFrame({"id": np.arange(n), "review": texts, "liked": liked})


def make_project(root: Path, acs: pa.Table) -> Project:
    rows = year(acs, 2018).to_pandas().sample(4_000, random_state=7)
    columns = ["id", *FEATURES, IGNORED, "employed"]
    train, test = rows.iloc[:3_000][columns], rows.iloc[3_000:][columns].reset_index(drop=True)
    lr = LogisticRegression(max_iter=2000).fit(train[FEATURES], train.employed)
    ignoring = make_pipeline(
        ColumnTransformer([("keep", "passthrough", FEATURES)], remainder="drop"),
        LogisticRegression(max_iter=2000),
    ).fit(train[[*FEATURES, IGNORED]], train.employed)
    said = reviews(600, seed=3)
    text = make_pipeline(
        ColumnTransformer([("tfidf", TfidfVectorizer(), "review")]), LogisticRegression()
    ).fit(said[["review"]], said.liked)
    store = assay.init_store(root / ".assay")
    sample = train.head(50)
    assay.register_model(
        "employment", lr, sample=sample[FEATURES], aliases=["candidate"], store=store
    )
    assay.register_model(
        "ignoring", ignoring, sample=sample[[*FEATURES, IGNORED]], aliases=["candidate"],
        store=store,
    )  # fmt: skip
    assay.register_model(
        "reviews", text, sample=said[["review"]].head(20), aliases=["candidate"], store=store
    )
    test.to_parquet(root / "test.parquet", index=False)
    assay.create_dataset(store, "employment", ["id"], label="employed")
    assay.add_delta(store, "employment", root / "test.parquet", name="base")
    (root / "recipe.yaml").write_text("dataset: employment\nslices: {women: 'SEX = 2'}\n")
    shown = reviews(300, seed=11)
    shown.to_parquet(root / "reviews.parquet", index=False)
    return Project(root, store, lr, ignoring, text, test, shown)
