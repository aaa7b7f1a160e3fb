"""ONNX models, run with ONNX Runtime on the CPU.

A graph with one input gets the whole table as one matrix (columns in the signature's
order, cast to the input's element type); a graph with several inputs gets one column
per input of the same name. ``predict`` is the first output; ``predict_proba`` is the
output called ``probabilities`` (skl2onnx's name), or the second output when it is a
2-D float tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.errors import UsageError
from assay.extras import require
from assay.models.flavors._base import Flavor, Predictor
from assay.models.signature import Batch, Column, Signature, TensorSpec

__all__ = ["OnnxFlavor"]

_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxFlavor(Flavor):
    name = "onnx"
    suffixes = (".onnx",)

    def accepts(self, model: Any) -> bool:
        return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")

    def dump(self, model: Any, options: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
        return model.SerializeToString(), dict(options)

    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        ort = require("onnxruntime", "ONNX models")
        assert data is not None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no warnings on stderr
        try:
            session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(
                f"the model is not a loadable ONNX graph ({first}); check the file, or give "
                "the right --flavor"
            ) from None
        return OnnxPredictor(session)


class OnnxPredictor(Predictor):
    def __init__(self, session: Any):
        self.session = session
        self.inputs = session.get_inputs()
        self.outputs = session.get_outputs()
        self.proba_name = next((o.name for o in self.outputs if o.name == "probabilities"), None)
        if self.proba_name is None and len(self.outputs) >= 2:
            second = self.outputs[1]
            if second.type in ("tensor(float)", "tensor(double)") and len(second.shape) == 2:
                self.proba_name = second.name
        self.has_proba = self.proba_name is not None

    @property
    def raw(self) -> Any:
        return self.session

    def _feed(self, batch: Batch) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            node = self.inputs[0]
            return {node.name: batch.matrix(_TYPES.get(node.type))}
        if batch.columns is None:
            names = ", ".join(i.name for i in self.inputs)
            raise UsageError(f"this ONNX model takes named inputs ({names}); pass a table")
        return {
            i.name: np.asarray(batch.columns[i.name]).astype(_TYPES.get(i.type)).reshape(-1, 1)
            for i in self.inputs
        }

    def predict(self, batch: Batch) -> np.ndarray:
        out = self.session.run([self.outputs[0].name], self._feed(batch))[0]
        return np.asarray(out)

    def predict_proba(self, batch: Batch) -> np.ndarray:
        if self.proba_name is None:
            raise AttributeError("predict_proba")
        return np.asarray(self.session.run([self.proba_name], self._feed(batch))[0])

    def signature_hint(self) -> Signature | None:
        if len(self.inputs) == 1:
            node = self.inputs[0]
            shape = tuple(d if isinstance(d, int) else None for d in node.shape)
            return Signature(array=TensorSpec(_TYPES.get(node.type, "float32"), shape))
        return Signature(columns=tuple(Column(i.name, _TYPES.get(i.type)) for i in self.inputs))
