"""A plain Python callable, ``module:function``: the model is code the user ships.

Nothing is stored but the reference; the function is imported where the model is
loaded. It is called with a pandas DataFrame for tabular input (a mapping of column
arrays when pandas is not installed) and with the array otherwise, and returns one
answer per row.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.errors import UsageError
from assay.models.flavors._base import Flavor, Predictor
from assay.models.signature import Batch

__all__ = ["PythonFlavor", "import_object", "is_entry_point"]

_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_entry_point(text: str) -> bool:
    """Whether ``text`` looks like ``package.module:name``."""
    return bool(_ENTRY.match(text))


def import_object(path: str) -> Any:
    """The object ``module:attr.attr`` names; ``UsageError`` saying what is missing."""
    if not is_entry_point(path):
        raise UsageError(f"{path!r} is not 'module:name' (e.g. 'mypkg.models:score')")
    module_name, _, attrs = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(
            f"cannot import module {module_name!r} for {path!r} ({e}); install it or put "
            "it on PYTHONPATH"
        ) from None
    for attr in attrs.split("."):
        if not hasattr(obj, attr):
            raise UsageError(f"module {module_name!r} has no {attrs!r}; check {path!r}")
        obj = getattr(obj, attr)
    return obj


class PythonFlavor(Flavor):
    name = "python"
    needs_bytes = False

    def accepts(self, model: Any) -> bool:
        return isinstance(model, str) and is_entry_point(model)

    def dump(self, model: Any, options: Mapping[str, Any]) -> tuple[None, dict[str, Any]]:
        import_object(model)  # refuse now what could never load
        return None, {**options, "entry_point": model}

    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        function = import_object(str(options.get("entry_point", "")))
        if not callable(function):
            raise UsageError(f"{options.get('entry_point')!r} is not callable")
        return PythonPredictor(function)


class PythonPredictor(Predictor):
    reads_names = True  # called with a DataFrame

    def __init__(self, function: Any):
        self.function = function

    @property
    def raw(self) -> Any:
        return self.function

    def predict(self, batch: Batch) -> np.ndarray:
        if batch.columns is not None:
            frame = batch.frame()
            arg = frame if frame is not None else dict(batch.columns)
        else:
            arg = batch.array
        return np.asarray(self.function(arg))
