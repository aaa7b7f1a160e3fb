"""The MLflow bridge against directories the real mlflow wrote (bench/make_mlflow_fixture.py):
import, export, round trips, the trust rule, and ``models:/`` references."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import accuracy_score

import assay
from assay.errors import SignatureError, UntrustedModel, UsageError
from assay.evaluation import evaluate
from assay.evaluation.spec import OVERALL
from assay.models.mlflow import export_mlflow, import_mlflow, read_mlflow
from assay.models.registry import ModelRef, lineage, parse_ref
from assay.store.catalog import ModelVersion
from tests_helpers import run_assay

FIXTURES = Path(__file__).parent / "fixtures" / "mlflow"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "MLmodel").is_file())
PICKLED = {"sklearn-pickle", "pytorch-pickle"}  # saved with (cloud)pickle: trusted only


def expected(name: str) -> dict[str, Any]:
    """What mlflow's own pyfunc predicted on the directory's input example."""
    return json.loads((FIXTURES / name / "expected.json").read_text())


def mlmodel(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[assay.Store]:
    with assay.init_store(tmp_path_factory.mktemp("mlflow") / ".assay") as s:
        yield s


@pytest.fixture(scope="module")
def imported(store: assay.Store) -> dict[str, ModelVersion]:
    """Every fixture directory imported once, under its own name."""
    return {n: import_mlflow(FIXTURES / n, trusted=n in PICKLED, store=store) for n in NAMES}


def test_the_fixture_covers_each_flavor_and_stays_small() -> None:
    assert NAMES == [
        "onnx",
        "pytorch-pickle",
        "pytorch-pt2",
        "pytorch-script",
        "sklearn-pickle",
        "sklearn-skops",
    ]
    assert sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file()) < 200_000


@pytest.mark.parametrize("name", NAMES)
def test_imported_models_predict_what_mlflow_predicted(
    store: assay.Store, imported: dict[str, ModelVersion], name: str
) -> None:
    model = assay.load_model(imported[name].ref, trusted=name in PICKLED, store=store)
    example = read_mlflow(FIXTURES / name).example_input()
    want = expected(name)
    np.testing.assert_allclose(np.ravel(model.predict(example)), want["predict"], atol=1e-6)
    if "predict_proba" in want:
        np.testing.assert_allclose(model.predict_proba(example), want["predict_proba"], atol=1e-6)


def test_the_signature_and_the_example_come_from_mlmodel(
    imported: dict[str, ModelVersion],
) -> None:
    table = imported["sklearn-skops"]
    assert table.flavor == "sklearn" and table.options == {}
    assert table.signature is not None
    assert table.signature["inputs"] == {
        "kind": "table",
        "columns": [{"name": f"x{i}", "dtype": "float64"} for i in range(1, 5)],  # "double"
    }
    assert table.signature["output"] == {"dtype": "int64", "shape": [None]}
    assert table.signature["proba"] == {"dtype": "float64", "shape": [None, 2]}
    array = imported["onnx"]
    assert array.signature is not None
    assert array.signature["inputs"] == {"kind": "array", "dtype": "float32", "shape": [None, 4]}
    # The example is kept with the version, as the directory holds it.
    raw = json.loads((FIXTURES / "sklearn-skops" / "input_example.json").read_text())
    assert table.source["input_example"] == raw
    assert array.source["input_example"] == {
        "inputs": json.loads((FIXTURES / "onnx" / "input_example.json").read_text())
    }
    meta = mlmodel(FIXTURES / "sklearn-skops")
    assert table.source["kind"] == "mlflow" and table.source["flavor"] == "sklearn"
    assert table.source["model_uuid"] == meta["model_uuid"]
    assert table.source["path"] == str((FIXTURES / "sklearn-skops").resolve())
    # Each PyTorch format is told apart: TorchScript, torch.export, a pickled module.
    assert imported["pytorch-script"].options == {}
    assert imported["pytorch-pt2"].options == {"format": "pt2"}
    assert imported["pytorch-pickle"].options == {"format": "pickle"}
    assert imported["sklearn-pickle"].flavor == "pickle"


def test_the_mlflow_run_is_in_the_lineage(store: assay.Store, tmp_path: Path) -> None:
    logged = tmp_path / "model"
    shutil.copytree(FIXTURES / "onnx", logged)
    meta = mlmodel(logged)
    meta.update(run_id="4f1c0ffee", artifact_path="model")  # what mlflow.log_model adds
    (logged / "MLmodel").write_text(yaml.safe_dump(meta))
    info = import_mlflow(logged, name="logged", store=store)
    source = lineage(info.ref, store=store)["source"]
    assert (source["run_id"], source["artifact_path"]) == ("4f1c0ffee", "model")
    assert source["model_uuid"] == meta["model_uuid"]


def test_pickled_directories_need_trusted(store: assay.Store, tmp_path: Path) -> None:
    with pytest.raises(UntrustedModel, match="--trusted"):
        import_mlflow(FIXTURES / "pytorch-pickle", name="refused", store=store)
    assay.init_store(tmp_path / ".assay").close()
    args = ("models", "import-mlflow", FIXTURES / "sklearn-pickle", "--name", "m")
    refused = run_assay(*args, cwd=tmp_path)
    assert refused.rc == 2
    line = refused.error_line()
    assert "pickle" in line and "--trusted" in line and "sklearn-pickle" in line
    ok = run_assay(*args, "--trusted", "--json", cwd=tmp_path)
    assert ok.rc == 0, ok.err
    # Version 1: the refused import registered nothing.
    assert (ok.json()["ref"], ok.json()["flavor"]) == ("m@1", "pickle")


def test_a_pickled_import_loads_only_when_trusted(
    store: assay.Store, imported: dict[str, ModelVersion]
) -> None:
    for name in sorted(PICKLED):
        with pytest.raises(UntrustedModel):
            assay.load_model(imported[name].ref, store=store)


@pytest.mark.parametrize("name", NAMES)
def test_export_then_import_round_trips(
    store: assay.Store, imported: dict[str, ModelVersion], name: str, tmp_path: Path
) -> None:
    first = imported[name]
    out = tmp_path / "exported"
    done = export_mlflow(first.ref, out, store=store)
    written = mlmodel(out)
    original = mlmodel(FIXTURES / name)
    native = next(f for f in original["flavors"] if f != "python_function")
    assert done.flavor == native and set(written["flavors"]) == {"python_function", native}
    # The signature is written back as MLflow had it.
    for side in ("inputs", "outputs"):
        got = json.loads(written["signature"][side])
        want = json.loads(original["signature"][side])
        assert got == want, side
    assert (out / "requirements.txt").read_text().startswith("mlflow\n")
    again = import_mlflow(out, name=f"{name}-again", trusted=name in PICKLED, store=store)
    assert again.signature == first.signature
    assert again.sha256 == first.sha256  # the same bytes, not a re-save
    model = assay.load_model(again.ref, trusted=name in PICKLED, store=store)
    example = read_mlflow(out).example_input()
    np.testing.assert_allclose(
        np.ravel(model.predict(example)), expected(name)["predict"], atol=1e-6
    )


def test_an_example_the_model_cannot_answer_registers_nothing(
    store: assay.Store, tmp_path: Path
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(FIXTURES / "sklearn-skops", broken)
    example = json.loads((broken / "input_example.json").read_text())
    example["columns"], example["data"] = example["columns"][:3], [r[:3] for r in example["data"]]
    (broken / "input_example.json").write_text(json.dumps(example))
    with pytest.raises(SignatureError, match="'x4'"):
        import_mlflow(broken, name="broken", store=store)
    assert [m for m in assay.list_models(store=store) if m.name == "broken"] == []


def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    with assay.init_store(tmp_path / ".assay") as s:
        import_mlflow(FIXTURES / "onnx", name="m", store=s)
        assay.register_model("fn", "math:fsum", store=s)
    other = tmp_path / "xgb"
    other.mkdir()
    meta = {"flavors": {"python_function": {"loader_module": "mlflow.xgboost"}, "xgboost": {}}}
    (other / "MLmodel").write_text(yaml.safe_dump(meta))
    unknown = run_assay("models", "import-mlflow", other, cwd=tmp_path)
    assert unknown.rc == 2
    line = unknown.error_line()
    assert "python_function, xgboost" in line and "sklearn, onnx, pytorch" in line
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    refused = run_assay("models", "export-mlflow", "m@1", busy, cwd=tmp_path)
    assert refused.rc == 2 and "not empty" in refused.error_line()
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    callable_ = run_assay("models", "export-mlflow", "fn@1", tmp_path / "fn", cwd=tmp_path)
    assert callable_.rc == 2 and "callable" in callable_.error_line()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert "fn" not in before and not [n for n in before if n.endswith(".tmp")]
    done = run_assay(
        "models", "export-mlflow", "models:/m/1", tmp_path / "out", "--json", cwd=tmp_path
    )
    assert done.rc == 0, done.err
    assert done.json()["flavor"] == "onnx"
    assert sorted(done.json()["files"]) == sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    )


# --------------------------------------------------------------------------- models:/ refs


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("models:/churn@production", ModelRef("churn", alias="production")),
        ("models:/churn/3", ModelRef("churn", version=3)),
        ("models:/churn/latest", ModelRef("churn")),
        ("models:/churn", ModelRef("churn")),
        ("churn@3", ModelRef("churn", version=3)),
    ],
)
def test_mlflow_uris_parse_as_refs(text: str, ref: ModelRef) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["models:/churn/Production", "models:/churn/", "models:/a/1/2"])
def test_mlflow_stages_and_bad_uris_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="models:/NAME@ALIAS"):
        parse_ref(text)


def test_models_uris_in_the_library_and_the_cli(tmp_path: Path) -> None:
    with assay.init_store(tmp_path / ".assay") as s:
        import_mlflow(FIXTURES / "sklearn-skops", name="churn", store=s)
        import_mlflow(FIXTURES / "sklearn-skops", name="churn", aliases=["production"], store=s)
        example = read_mlflow(FIXTURES / "sklearn-skops").example_input()
        by_uri = assay.load_model("models:/churn@production", store=s)
        assert by_uri.info.version == 2
        np.testing.assert_array_equal(by_uri.predict(example), expected("sklearn-skops")["predict"])
        assert assay.load_model("models:/churn/1", store=s).info.version == 1
    shown = run_assay("models", "show", "models:/churn@production", "--json", cwd=tmp_path)
    assert shown.rc == 0, shown.err
    assert shown.json()["ref"] == "churn@2"
    assert (
        run_assay("models", "show", "models:/churn/1", "--json", cwd=tmp_path).json()["version"]
        == 1
    )
    stage = run_assay("models", "show", "models:/churn/Production", cwd=tmp_path)
    assert stage.rc == 2 and "alias" in stage.error_line()


def test_models_uris_in_an_eval_spec(tmp_path: Path) -> None:
    example = read_mlflow(FIXTURES / "sklearn-skops").example_input()
    labels = [1, 0, 1, 0, 1]
    rows = pa.table({"id": list(range(len(labels))), **example, "y": labels})
    pq.write_table(rows, tmp_path / "rows.parquet")
    (tmp_path / "all.yaml").write_text("dataset: d\ndeltas: {include: [base]}\n")
    with assay.init_store(tmp_path / ".assay") as s:
        assay.create_dataset(s, "d", ["id"], label="y")
        assay.add_delta(s, "d", tmp_path / "rows.parquet", name="base")
        import_mlflow(FIXTURES / "sklearn-skops", name="churn", aliases=["candidate"], store=s)
        spec = {
            "models": {"candidate": "models:/churn@candidate", "baseline": "models:/churn/1"},
            "datasets": {"all": {"recipe": str(tmp_path / "all.yaml")}},
            "metrics": ["accuracy"],
        }
        result = evaluate(spec, store=s, record=False)
    want = accuracy_score(labels, expected("sklearn-skops")["predict"])
    assert want == 0.8  # the model gets one of the five wrong: the test can tell
    for role in ("candidate", "baseline"):
        assert result.cell(role, "all", OVERALL, "accuracy").value == pytest.approx(want)


def test_a_state_dict_exports_as_torchscript(store: assay.Store, tmp_path: Path) -> None:
    import torch
    from test_flavors import Net

    torch.manual_seed(0)
    weights = tmp_path / "net.pt"
    torch.save(Net(width=4).state_dict(), weights)
    info = assay.register_model(
        "net", weights, model_class="test_flavors:Net", init={"width": 4}, store=store
    )
    export_mlflow(info.ref, tmp_path / "out", store=store)
    again = import_mlflow(tmp_path / "out", name="net-again", store=store)
    assert again.options == {}  # TorchScript: no class needed to load it
    rows = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    want = assay.load_model(info.ref, store=store).predict(rows)
    got = assay.load_model(again.ref, store=store).predict(rows)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert want.std() > 0  # distinct answers: a wrong module would not match
