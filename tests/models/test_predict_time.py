"""Models that misbehave at predict time, and model files that are not what they say."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from models_helpers import FEATURES

import assay
from assay.errors import InputFileError, PredictError
from assay.models import list_models, load_model, register_model
from tests_helpers import run_assay

TESTS = Path(__file__).parents[1]  # where misbehaving_models lives, for subprocesses


def test_a_model_that_raises_is_named_with_the_rows(
    store: assay.Store, held_out: pd.DataFrame
) -> None:
    register_model("boom", "misbehaving_models:boom", store=store)
    model = load_model("boom", store=store)
    with pytest.raises(PredictError) as caught:
        model.predict(held_out.head(10))
    assert str(caught.value) == "model boom@1 failed on the input (rows 0–9): RuntimeError: boom"
    assert isinstance(caught.value, RuntimeError) and caught.value.exit_code == 1
    with pytest.raises(PredictError, match=r"failed on dataset x \(row 0\): RuntimeError: boom"):
        model.predict(held_out.head(1), source="dataset x")


def test_the_answer_count_is_checked_at_registration_and_every_predict(
    store: assay.Store, held_out: pd.DataFrame
) -> None:
    with pytest.raises(
        PredictError,
        match=r"^the model returned 19 predictions for the 20 rows of the sample; a model "
        r"must answer once per input row, in order$",
    ):
        register_model("short", "misbehaving_models:short", sample=held_out.head(20), store=store)
    assert list_models(store=store) == []  # nothing registered
    # Without a sample nothing can be checked at registration; every predict checks.
    register_model("short", "misbehaving_models:short", store=store)
    with pytest.raises(PredictError, match=r"^model short@1 returned 1,999 predictions for "):
        load_model("short", store=store).predict(pd.concat([held_out, held_out]))


@pytest.mark.parametrize("dump", [pickle.dump, joblib.dump])
def test_a_pickle_named_skops_is_called_a_pickle(
    store: assay.Store, logreg: Any, tmp_path: Path, dump: Any
) -> None:
    path = tmp_path / "model.skops"
    with open(path, "wb") as f:
        dump(logreg, f)
    with pytest.raises(InputFileError) as caught:
        register_model("disguised", path, store=store)
    assert str(caught.value) == (
        "model.skops is a pickle, not a skops file; register it with --flavor pickle "
        "--trusted if you trust it"
    )
    assert list_models(store=store) == []
    # The advice works.
    info = register_model("disguised", path, flavor="pickle", trusted=True, store=store)
    assert info.flavor == "pickle"


def test_cli_names_the_model_that_fails(
    store: assay.Store, logreg: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(TESTS)}
    fake = tmp_path / "fake.skops"
    fake.write_bytes(pickle.dumps(logreg))
    refused = run_assay("models", "register", "fake", fake, "--store", store.url, cwd=tmp_path)
    assert refused.rc == 2
    assert refused.error_line() == (
        "error: fake.skops is a pickle, not a skops file; register it with --flavor pickle "
        "--trusted if you trust it"
    )

    sample = tmp_path / "sample.parquet"
    held_out.head(50).to_parquet(sample)
    short = run_assay(
        "models", "register", "short", "misbehaving_models:short", "--sample", sample,
        "--store", store.url, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert short.rc == 1
    assert "returned 49 predictions for the 50 rows of the sample" in short.error_line()

    boom = run_assay(
        "models", "register", "boom", "misbehaving_models:boom", "--store", store.url,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert boom.rc == 0, boom.err
    golden = tmp_path / "golden.jsonl"
    row = {f: int(v) for f, v in held_out[FEATURES].iloc[0].items()}
    golden.write_text(json.dumps({"input": row, "expected": 1}) + "\n")
    checked = run_assay(
        "models", "golden", "boom@1", golden, "--json", "--store", store.url,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert checked.rc == 0, checked.err  # attached; the report says how it did
    result = checked.json()["golden_report"]["results"][0]
    assert not result["passed"]
    assert result["error"] == "model boom@1 failed on the example (row 0): RuntimeError: boom"
