"""What-if probing as a library (``assay.diagnostics.whatif``), on a tiny real store;
the dashboard's tests (tests/ui) check the same answers over HTTP against sklearn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import assay
from assay.diagnostics.whatif import counterfactual, distances, partial_dependence, predict
from assay.errors import UsageError
from assay.models.registry import set_alias

FEATURES = ["AGEP", "SCHL", "SEX"]


@pytest.fixture(scope="module")
def probed(
    tmp_path_factory: pytest.TempPathFactory, acs: pa.Table
) -> Iterator[tuple[assay.Store, str, pd.DataFrame]]:
    """500 ACS rows, a logistic regression on three features, the version's fingerprint."""
    root: Path = tmp_path_factory.mktemp("whatif")
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "people", ["id"], label="employed")
        assay.add_delta(
            store, "people", acs.slice(0, 500).select(["id", *FEATURES, "employed"]), name="base"
        )
        version = assay.compose({"dataset": "people", "slices": {"women": "SEX = 2"}}, store=store)
        frame = version.to_pandas()
        model = LogisticRegression(max_iter=1000).fit(frame[FEATURES], frame["employed"])
        assay.register_model("people", model, sample=frame[FEATURES].head(20), store=store)
        yield store, version.fingerprint, frame


def test_distance_standardises_numbers_and_counts_other_mismatches() -> None:
    frame = pd.DataFrame({"age": [20.0, 30.0, 40.0], "city": ["a", "b", "a"]})
    types = {"age": pa.float64(), "city": pa.string()}
    std = np.std([20.0, 30.0, 40.0])
    got = distances(frame, {"age": 30.0, "city": "a"}, types)
    assert got == pytest.approx([10 / std, 1.0, 10 / std])


def test_a_loaded_version_and_its_fingerprint_give_one_answer(
    probed: tuple[assay.Store, str, pd.DataFrame],
) -> None:
    store, fingerprint, frame = probed
    row = {f: int(v) for f, v in frame[FEATURES].iloc[0].items()}
    by_name = counterfactual(store, "people@1", fingerprint, row)
    loaded = assay.load_version(fingerprint, store=store)
    assert counterfactual(store, "people@1", loaded, row) == by_name
    assert by_name.output != by_name.prediction
    curve = partial_dependence(store, "people@1", loaded, "SEX")
    assert curve.grid == [1, 2] and set(curve.slices) == {"women"}


def test_mistakes_are_one_line_naming_the_fix(
    probed: tuple[assay.Store, str, pd.DataFrame],
) -> None:
    store, fingerprint, _ = probed
    with pytest.raises(UsageError, match=r"the row has no 'SCHL'.*give every feature"):
        predict(store, ["people@1"], {"AGEP": 30, "SEX": 1})
    with pytest.raises(UsageError, match="no model to ask"):
        predict(store, [], {})
    with pytest.raises(UsageError, match="does not read 'employed'; pick one of AGEP, SCHL, SEX"):
        partial_dependence(store, "people@1", fingerprint, "employed")


def test_an_alias_is_followed_when_it_moves_though_loaded_models_are_kept(
    probed: tuple[assay.Store, str, pd.DataFrame],
) -> None:
    # The page asks at every edit: versions are loaded once, aliases resolved each time.
    store, _, frame = probed
    row = {f: int(v) for f, v in frame[FEATURES].iloc[3].items()}
    flipped = LogisticRegression(max_iter=1000).fit(frame[FEATURES], 1 - frame["employed"])
    second = assay.register_model("people", flipped, sample=frame[FEATURES].head(20), store=store)
    set_alias("people", 1, "live", store=store)
    (before,) = predict(store, ["people@live"], row)
    assert before.model == "people@1"
    assert predict(store, ["people@1"], row)[0] == before  # the same answer, kept model
    set_alias("people", second.version, "live", store=store)
    (after,) = predict(store, ["people@live"], row)
    expected = flipped.predict_proba(pd.DataFrame([row]))[0]
    assert after.model == f"people@{second.version}"
    assert after.proba == pytest.approx(
        dict(zip(map(str, flipped.classes_), expected, strict=True))
    )
    assert after.output != before.output or after.proba != before.proba
