"""PyTorch models: TorchScript, or a state dict plus the ``module:Class`` that holds it.

Two more formats come from MLflow model directories (``options["format"]``): ``pt2``, a
``torch.export`` program, and ``pickle``, a whole module saved with ``torch.save``,
which unpickles arbitrary code and so loads only when trusted.

torch is imported only here, and only when a torch model is saved or loaded; without
it the error gives the pip line. State dicts load with ``weights_only=True`` (no
pickle code runs); the class is imported from the user's code and built with the
keyword arguments recorded as ``init``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from assay.errors import UsageError
from assay.extras import require
from assay.models.flavors._base import Flavor, Predictor
from assay.models.flavors.pickle import refuse_pickle
from assay.models.flavors.python import import_object
from assay.models.signature import Batch
from assay.quiet import quiet

__all__ = ["TorchFlavor", "import_torch"]


def import_torch() -> Any:
    """The torch module, or ``MissingDependency`` with the pip line."""
    return require("torch", "PyTorch models")


class TorchFlavor(Flavor):
    name = "torch"
    suffixes = (".pt", ".pth", ".ptl")

    def accepts(self, model: Any) -> bool:
        return any(
            c.__module__.startswith("torch") and c.__name__ == "Module" for c in type(model).__mro__
        )

    def dump(self, model: Any, options: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
        torch = import_torch()
        buffer = io.BytesIO()
        if options.get("model_class"):
            torch.save(model.state_dict(), buffer)
            return buffer.getvalue(), dict(options)
        with _quiet_jit():
            scripted = (
                model
                if hasattr(model, "save") and hasattr(model, "code")
                else torch.jit.script(model)
            )
            torch.jit.save(scripted, buffer)
        return buffer.getvalue(), dict(options)

    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        torch = import_torch()
        assert data is not None
        class_path = options.get("model_class")
        fmt = options.get("format")
        if fmt == "pickle" and not trusted:
            raise refuse_pickle("the PyTorch model")
        try:
            if fmt == "pt2":  # an exported graph: no eval() (export fixed the mode)
                program = torch.export.load(io.BytesIO(data))
                return TorchPredictor(program.module(), torch)
            if fmt == "pickle":
                module = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
            elif class_path:
                cls = import_object(str(class_path))
                state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                module = cls(**dict(options.get("init") or {}))
                module.load_state_dict(state)
            else:
                with _quiet_jit():
                    module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        except (RuntimeError, ValueError, TypeError, AttributeError, ImportError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = (
                "check that the class matches the saved weights"
                if class_path
                else "install the code that defines the module's classes"
                if fmt == "pickle"
                else "a state dict needs its class: give model_class='module:Class' (--class)"
            )
            raise UsageError(f"cannot load the PyTorch model ({first}); {hint}") from None
        module.eval()
        return TorchPredictor(module, torch)


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript is deprecated upstream, but it is the format users' files are in."""
    with quiet(r".*torch\.jit", DeprecationWarning):
        yield


class TorchPredictor(Predictor):
    def __init__(self, module: Any, torch: Any):
        self.module = module
        self.torch = torch
        # A classifier module may give its probabilities (a TorchScript @torch.jit.export
        # method survives saving); forward then gives the class of each row.
        self.has_proba = callable(getattr(module, "predict_proba", None))

    @property
    def raw(self) -> Any:
        return self.module

    def predict(self, batch: Batch) -> np.ndarray:
        x = self.torch.from_numpy(np.ascontiguousarray(batch.matrix(np.float32)))
        with self.torch.no_grad():
            out = self.module(x)
        return np.asarray(out.detach().cpu().numpy())

    def predict_proba(self, batch: Batch) -> np.ndarray:
        if not self.has_proba:
            raise AttributeError("predict_proba")
        x = self.torch.from_numpy(np.ascontiguousarray(batch.matrix(np.float32)))
        with self.torch.no_grad():
            out = self.module.predict_proba(x)
        return np.asarray(out.detach().cpu().numpy())
