"""Model flavors: how each kind of model is stored and loaded.

``sklearn`` (skops), ``onnx`` (ONNX Runtime), ``torch`` (TorchScript or a state dict),
``python`` (a ``module:function``) and ``pickle`` (only when trusted).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from assay.errors import UsageError
from assay.models.flavors._base import Flavor, Predictor, is_pickle
from assay.models.flavors.onnx import OnnxFlavor
from assay.models.flavors.pickle import PickleFlavor
from assay.models.flavors.python import PythonFlavor
from assay.models.flavors.sklearn import SklearnFlavor
from assay.models.flavors.torch import TorchFlavor

__all__ = ["FLAVORS", "Flavor", "Predictor", "flavor_for_file", "flavor_for_object", "get_flavor"]

FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (SklearnFlavor(), OnnxFlavor(), TorchFlavor(), PythonFlavor(), PickleFlavor())
}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; ``UsageError`` listing the known ones."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise UsageError(
            f"unknown model flavor {name!r}; use one of {', '.join(FLAVORS)}"
        ) from None


def flavor_for_file(path: Path) -> Flavor:
    """The flavor of a model file, by its suffix or, failing that, its first bytes."""
    for flavor in FLAVORS.values():
        if path.suffix.lower() in flavor.suffixes:
            return flavor
    with open(path, "rb") as f:
        head = f.read(4)
    if is_pickle(head):
        return FLAVORS["pickle"]
    if head == b"PK\x03\x04":  # a zip: skops or torch
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        return FLAVORS["sklearn" if "schema.json" in names else "torch"]
    raise UsageError(
        f"cannot tell the flavor of {path.name!r} from its name or content; give "
        f"--flavor ({', '.join(FLAVORS)})"
    )


def flavor_for_object(model: Any) -> Flavor:
    """The flavor of an in-memory model (an estimator, an ONNX graph, a torch module, …)."""
    for flavor in FLAVORS.values():
        if flavor.accepts(model):
            return flavor
    raise UsageError(
        f"cannot register a {type(model).__name__} directly; save it to a file (skops, "
        "ONNX, TorchScript) and register the file, or give 'module:function'"
    )
