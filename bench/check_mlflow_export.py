"""Check that the real mlflow loads what ``assay models export-mlflow`` writes.

Run with the peer venv, from the repository root (the project's ``.venv`` must exist)::

    bench/.venv-mlflow/bin/python bench/check_mlflow_export.py

For each MLflow directory in ``tests/models/fixtures/mlflow/``, the project's ``assay``
imports it into a fresh store (``--trusted``: two of them are pickles) and exports it
again; then mlflow loads each export with ``mlflow.pyfunc.load_model`` and with its
native loader (``mlflow.sklearn`` / ``mlflow.onnx`` / ``mlflow.pytorch``), predicts on
the export's input example and compares with the fixture's ``expected.json``. Prints one
line per model and exits 1 if any differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "models" / "fixtures" / "mlflow"
ASSAY = ROOT / ".venv" / "bin" / "assay"


def assay(*args: str, cwd: Path) -> None:
    subprocess.run([str(ASSAY), *args], cwd=cwd, check=True, capture_output=True, text=True)


def native(path: Path, flavor: str, example: Any) -> np.ndarray:
    """What the flavor's own loader gives: the model object, asked the mlflow way."""
    if flavor == "sklearn":
        return np.asarray(mlflow.sklearn.load_model(str(path)).predict(example))
    if flavor == "onnx":
        import onnxruntime as ort

        graph = mlflow.onnx.load_model(str(path))
        session = ort.InferenceSession(
            graph.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: np.asarray(example, dtype=np.float32)}
        return np.asarray(session.run(None, feed)[0])
    import torch

    module = mlflow.pytorch.load_model(str(path))
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(example, dtype=np.float32))).numpy()


def main() -> int:
    os.environ.setdefault("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "true")  # mlflow 3's opt-in
    warnings.filterwarnings("ignore")
    import mlflow.onnx
    import mlflow.pytorch
    import mlflow.sklearn

    failed = 0
    with tempfile.TemporaryDirectory(prefix="assay-mlflow-") as tmp:
        work = Path(tmp)
        assay("init", "store", cwd=work)
        for source in sorted(p for p in FIXTURES.iterdir() if (p / "MLmodel").is_file()):
            name = source.name
            assay("models", "import-mlflow", str(source), "--trusted", "--store", "store", cwd=work)
            out = work / f"export-{name}"
            assay(
                "models",
                "export-mlflow",
                f"models:/{name}/1",
                str(out),
                "--store",
                "store",
                cwd=work,
            )
            expected = np.asarray(json.loads((source / "expected.json").read_text())["predict"])
            model = mlflow.pyfunc.load_model(str(out))
            example = model.input_example
            got = model.predict(example)
            if isinstance(got, dict):  # mlflow.onnx answers every output by name
                got = got[next(iter(got))]
            flavor = next(f for f in model.metadata.flavors if f != "python_function")
            by_native = native(out, flavor, example)
            ok = np.allclose(np.ravel(got), expected, atol=1e-6) and np.allclose(
                np.ravel(by_native), expected, atol=1e-6
            )
            failed += not ok
            print(
                f"{'ok  ' if ok else 'FAIL'} {name:15} {flavor:8} pyfunc and mlflow.{flavor}."
                f"load_model predict {len(expected)} rows "
                f"{'equal to' if ok else 'unlike'} expected.json"
            )
    print(f"mlflow {mlflow.__version__}: {failed} of {len(list(FIXTURES.iterdir()))} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
