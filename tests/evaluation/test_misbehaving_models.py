"""Evaluations of models that fail, miscount or answer NaN, that take an unnamed tensor,
or that are compared with themselves: each is told, never measured silently wrong."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

import assay
from assay.errors import PredictError, SpecError
from assay.evaluation import WarningCode, evaluate
from assay.evaluation.spec import OVERALL
from tests_helpers import run_assay

TESTS = Path(__file__).parents[1]  # where misbehaving_models lives, for subprocesses
TENSOR = ["AGEP", "SCHL", "MAR", "SEX", "RAC1P"]  # the ONNX model's columns, in order
RECIPE = """\
dataset: employment
deltas: {include: [base]}
where: "id < 3000"
split: {seed: 1, fractions: {train: 0.5, test: 0.5}}
slices: {women: "SEX = 2"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A store with 3,000 rows of 2015, the misbehaving callables, and an ONNX logistic
    regression over five columns that takes one unnamed float tensor [*, 5]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from tests_helpers import year

    root = tmp_path_factory.mktemp("misbehaving")
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "employment", ["id"], label="employed")
    pq.write_table(year(acs, 2015), root / "base.parquet")
    assay.add_delta(store, "employment", root / "base.parquet", name="base")
    (root / "recipe.yaml").write_text(RECIPE)
    version = assay.compose(root / "recipe.yaml", store=store)
    train = version.to_pandas(split="train")
    fitted = LogisticRegression(max_iter=500).fit(train[TENSOR], train["employed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skl2onnx's own deprecation warnings
        graph = convert_sklearn(
            fitted,
            initial_types=[("X", FloatTensorType([None, len(TENSOR)]))],
            options={id(fitted): {"zipmap": False}},
        )
    (root / "tensor.onnx").write_bytes(graph.SerializeToString())
    assay.register_model("tensor", root / "tensor.onnx", store=store)
    for name in ("boom", "short", "by_age", "gaps"):
        assay.register_model(name, f"misbehaving_models:{name}", store=store)
    yield root, store, version
    store.close()


def spec(root: Path, candidate: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "models": {"candidate": candidate},
        "datasets": {"test": {"recipe": str(root / "recipe.yaml"), "split": "test"}},
        "slices": ["women"],
        "metrics": ["accuracy"],
        "bootstrap": {"samples": 20},
    }
    doc.update(extra)
    return doc


def test_a_model_that_raises_names_itself_the_dataset_and_the_rows(project: Any) -> None:
    root, store, version = project
    with pytest.raises(PredictError) as caught:
        evaluate(spec(root, "boom@1"), store=store, record=False)
    rows = version.table.num_rows
    assert str(caught.value) == (
        f"model boom@1 failed on dataset test, version {version.short} "
        f"(rows 0–{rows - 1:,}): RuntimeError: boom"
    )


def test_a_model_answering_too_few_rows_is_refused(project: Any) -> None:
    root, store, version = project
    with pytest.raises(PredictError, match=r"^model short@1 returned (\S+) predictions for the"):
        evaluate(spec(root, "short@1"), store=store, record=False)
    assert store.catalog.find_predictions("short", 1, version.fingerprint) is None  # not cached


def test_key_label_and_split_are_never_given_to_a_model(project: Any) -> None:
    root, store, version = project
    result = evaluate(spec(root, "by_age@1"), store=store, record=False)
    test = version.to_pandas(split="test")
    want = skm.accuracy_score(test.employed, test.AGEP.between(25, 64).astype(int))
    assert result.cell("candidate", "test", OVERALL, "accuracy").value == pytest.approx(
        want, abs=1e-12
    )
    with pytest.raises(SpecError) as caught:
        evaluate(spec(root, "by_age@1", features=["AGEP", "id"]), store=store, record=False)
    assert caught.value.problems == [
        "features (candidate): 'id', the key of dataset employment; models are never given "
        "the key, the label or the split; remove it"
    ]


def test_a_stale_cache_of_the_wrong_length_is_not_used(project: Any) -> None:
    root, store, version = project
    from assay.store.catalog import PredictionsInfo

    # A cache entry written before answers were counted: 10 rows for a 3,000-row version.
    assay.register_model("stale", "misbehaving_models:by_age", store=store)
    buf = io.BytesIO()
    pq.write_table(pa.table({"label": np.ones(10, dtype=np.int64)}), buf)
    store.objects.put_bytes("predictions/stale.parquet", buf.getvalue())
    store.catalog.record_predictions(
        PredictionsInfo("stale", 1, version.fingerprint, "predictions/stale.parquet", "0", 10)
    )
    result = evaluate(spec(root, "stale@1"), store=store, record=False)
    test = version.to_pandas(split="test")
    want = skm.accuracy_score(test.employed, test.AGEP.between(25, 64).astype(int))
    assert result.cell("candidate", "test", OVERALL, "accuracy").value == pytest.approx(want)
    assert result.curves["cached_predictions"] == {"candidate:test": False}


def test_nan_answers_are_refused_or_counted_and_left_out(project: Any) -> None:
    root, store, version = project
    test = version.to_pandas(split="test")
    old = (test.AGEP > 80).to_numpy()
    with pytest.raises(PredictError) as caught:
        evaluate(spec(root, "gaps@1"), store=store, record=False)
    message = str(caught.value)
    assert message.startswith(
        f"model gaps@1 answered NaN for {old.sum():,} of the {len(test):,} rows of dataset test"
    )
    assert message.endswith(
        "fix the model, or set `allow_nan: true` in the spec to leave those rows out of the metrics"
    )

    both = {"candidate": "gaps@1", "reference": "by_age@1"}
    result = evaluate(spec(root, "gaps@1", models=both, allow_nan=True), store=store, record=False)
    kept = test[~old]
    want = skm.accuracy_score(kept.employed, kept.AGEP.between(25, 64).astype(int))
    for role in both:  # the reference is measured on the same rows: comparisons stay paired
        cell = result.cell(role, "test", OVERALL, "accuracy")
        assert (cell.value, cell.rows) == (pytest.approx(want, abs=1e-12), len(kept))
    women = result.cell("candidate", "test", "women", "accuracy")
    assert women.rows == int(((test.SEX == 2) & ~old).sum())
    assert result.datasets["test"]["nan_rows"] == old.sum() > 0
    [warning] = result.warnings
    assert (warning.code, warning.models, warning.dataset) == (
        WarningCode.NAN_PREDICTIONS,
        ("candidate",),
        "test",
    )
    assert f"answered NaN for {old.sum():,} of the {len(test):,} rows" in warning.message


def test_an_unnamed_tensor_needs_its_columns_stated(project: Any) -> None:
    root, store, version = project
    with pytest.raises(SpecError) as caught:
        evaluate(spec(root, "tensor@1"), store=store, record=False)
    [problem] = caught.value.problems
    assert problem.startswith(
        f"models.candidate: model tensor@1 takes an unnamed tensor [*, 5], and nothing says "
        f"which columns of version {version.short} go in it, in which order (candidates: AGEP, "
    )
    assert "id," not in problem and "employed" not in problem
    assert problem.endswith(
        "register it with --sample FILE holding its input columns, or list them under "
        "`features:` in the spec"
    )
    with pytest.raises(SpecError, match=r"4 columns, but model tensor@1 takes 5 per row"):
        evaluate(spec(root, "tensor@1", features=TENSOR[:4]), store=store, record=False)

    result = evaluate(spec(root, "tensor@1", features=TENSOR), store=store, record=False)
    # What the model answers on exactly those columns, in that order, on the same batch.
    model = assay.load_model("tensor@1", store=store)
    label = model.predict(version.table.select(TENSOR).to_pandas().to_numpy())
    split = version.table.column("split").to_numpy(zero_copy_only=False) == "test"
    want = skm.accuracy_score(version.table.column("employed").to_numpy()[split], label[split])
    got = result.cell("candidate", "test", OVERALL, "accuracy").value
    assert got == pytest.approx(want, abs=1e-12) and 0.6 < got < 0.95


def test_comparing_the_candidate_with_itself_after_a_promotion_is_flagged(
    project: Any, tmp_path: Path
) -> None:
    root, store, _ = project
    assay.register_model(
        "age", "misbehaving_models:by_age_unguarded", aliases=["production"], store=store
    )
    assay.register_model(
        "age", "misbehaving_models:by_age_unguarded", aliases=["candidate"], store=store
    )
    doc = spec(
        root,
        "age@candidate",
        models={"candidate": "age@candidate", "previous": "age@production"},
        thresholds=[{"metric": "accuracy", "vs": "previous", "max_drop": 0.01}],
    )
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(doc))
    env = {"PYTHONPATH": str(TESTS)}
    args = ("eval", tmp_path / "eval.yaml", "--store", store.url)
    first = run_assay(*args, "--promote", "production", "--json", cwd=tmp_path, env=env)
    assert first.rc == 0, first.err
    assert first.json()["promoted"] == "production" and first.json()["warnings"] == []

    html = tmp_path / "again.html"
    again = run_assay(*args, "--json", "--html", html, cwd=tmp_path, env=env)
    assert again.rc == 0, again.err
    [warning] = again.json()["warnings"]
    assert warning == {
        "code": "self_comparison",
        "message": "previous is the candidate itself (age@2), so every comparison with "
        "previous is 0 and its rules pass without testing anything; point previous at the "
        "version the candidate should beat",
        "models": ["candidate", "previous"],
        "dataset": None,
    }
    assert 'data-code="self_comparison"' in html.read_text()
    people = run_assay(*args, "--no-record", cwd=tmp_path, env=env)
    assert "warning: previous is the candidate itself (age@2)" in " ".join(people.out.split())
