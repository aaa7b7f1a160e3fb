"""Training tests of the employment model, run by pytest with assay's plugin.

``assay_dataset`` composes a recipe from the store (cached for the session) and
``assay_model`` loads a registered version the way serving does. With
``--junitxml``, each test case records the dataset fingerprints and model versions it
used as properties (``assay.dataset``, ``assay.model``).
"""

from __future__ import annotations

from typing import Any


def accuracy(model: Any, rows: Any) -> float:
    """The share of rows whose prediction is their label."""
    return float((model.predict(rows) == rows["employed"]).mean())


def test_candidate_beats_the_majority_class(assay_dataset: Any, assay_model: Any) -> None:
    test = assay_dataset("recipes/train.yaml", split="test").to_pandas()
    majority = max(test["employed"].mean(), 1 - test["employed"].mean())
    assert accuracy(assay_model("employment@candidate"), test) > majority + 0.05


def test_candidate_is_as_good_for_women_as_for_men(assay_dataset: Any, assay_model: Any) -> None:
    test = assay_dataset("recipes/train.yaml", split="test").to_pandas()
    model = assay_model("employment@candidate")
    women, men = test[test["SEX"] == 2], test[test["SEX"] == 1]
    assert abs(accuracy(model, women) - accuracy(model, men)) < 0.05
