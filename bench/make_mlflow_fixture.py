"""Write the MLflow model directories assay's MLflow bridge is tested against.

Run with the peer venv (never the project's), from the repository root::

    bench/.venv-mlflow/bin/python bench/make_mlflow_fixture.py

Trains tiny seeded models (4 features, 40 rows) and saves each with the real mlflow,
with a signature and an input example, under ``tests/models/fixtures/mlflow/<name>/``;
beside each MLmodel, ``expected.json`` holds what mlflow's own pyfunc predicts on the
example (and, for classifiers, the probabilities the native model gives).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import mlflow
import mlflow.onnx
import mlflow.pytorch
import mlflow.sklearn
import numpy as np
import pandas as pd
import torch
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parent.parent / "tests" / "models" / "fixtures" / "mlflow"
FEATURES = ["x1", "x2", "x3", "x4"]
ROWS = 40
EXAMPLE_ROWS = 5


def data() -> tuple[pd.DataFrame, np.ndarray]:
    """40 seeded rows of 4 features and a label that depends on them."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(ROWS, 4)).round(3), columns=FEATURES)
    y = ((X["x1"] + 0.5 * X["x2"] - X["x3"]) > 0).astype("int64").to_numpy()
    return X, y


def fresh(name: str) -> Path:
    path = OUT / name
    if path.exists():
        shutil.rmtree(path)
    return path


def expected(path: Path, **values: Any) -> None:
    """What mlflow predicts on the saved example, as the model directory's ``expected.json``."""
    model = mlflow.pyfunc.load_model(str(path))
    example = model.input_example
    got = model.predict(example)
    if isinstance(got, dict):  # mlflow.onnx answers every output by name
        got = got[next(iter(got))]
    record = {"predict": np.asarray(got).ravel().tolist(), **values}
    (path / "expected.json").write_text(json.dumps(record, indent=1) + "\n")


def sklearn_models(X: pd.DataFrame, y: np.ndarray) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    example = X.head(EXAMPLE_ROWS)
    signature = infer_signature(example, model.predict(example))
    proba = model.predict_proba(example).tolist()
    for name, fmt in (("sklearn-skops", "skops"), ("sklearn-pickle", "cloudpickle")):
        path = fresh(name)
        mlflow.sklearn.save_model(
            model, str(path), serialization_format=fmt, signature=signature, input_example=example
        )
        expected(path, predict_proba=proba)


def onnx_model(X: pd.DataFrame, y: np.ndarray) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    model = LogisticRegression().fit(X.to_numpy(np.float32), y)
    graph = convert_sklearn(
        model,
        initial_types=[("X", FloatTensorType([None, 4]))],
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    example = X.head(EXAMPLE_ROWS).to_numpy(np.float32)
    signature = infer_signature(example, model.predict(example))
    path = fresh("onnx")
    mlflow.onnx.save_model(graph, str(path), signature=signature, input_example=example)
    expected(path, predict_proba=model.predict_proba(example).tolist())


def torch_models(X: pd.DataFrame) -> None:
    torch.manual_seed(0)
    # Modules from torch itself, so the pickled one loads wherever torch is installed.
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    net.eval()
    example = X.head(EXAMPLE_ROWS).to_numpy(np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(example)).numpy()
    signature = infer_signature(example, out)
    saves = (
        ("pytorch-pt2", net, "pt2"),  # mlflow's default since 3.x: torch.export
        ("pytorch-pickle", net, "pickle"),
        ("pytorch-script", torch.jit.script(net), "pickle"),  # saved with torch.jit.save
    )
    for name, model, fmt in saves:
        path = fresh(name)
        mlflow.pytorch.save_model(
            model,
            str(path),
            serialization_format=fmt,
            signature=signature,
            input_example=example,
        )
        expected(path)


def main() -> None:
    os.environ.setdefault("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "true")  # to load what we saved
    warnings.filterwarnings("ignore")
    OUT.mkdir(parents=True, exist_ok=True)
    X, y = data()
    sklearn_models(X, y)
    onnx_model(X, y)
    torch_models(X)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1024:.0f} KB) with mlflow {mlflow.__version__}")


if __name__ == "__main__":
    main()
