"""Pickled models (``.pkl``, ``.pickle``, ``.joblib``): loaded only when trusted.

Unpickling runs whatever code the file names, so a pickle is registered and loaded
only with an explicit ``trusted=True`` (``--trusted``); prefer skops or ONNX.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.errors import MissingDependency, UntrustedModel, UsageError
from assay.extras import EXTRAS, missing, require
from assay.models.flavors._base import Flavor, Predictor
from assay.models.flavors.sklearn import SklearnPredictor

__all__ = ["PickleFlavor", "refuse_pickle"]


def refuse_pickle(what: str) -> UntrustedModel:
    return UntrustedModel(
        f"{what} is a pickle, and unpickling runs any code the file names; pass "
        "trusted=True (--trusted) if you trust its source, or save it with skops/ONNX"
    )


class PickleFlavor(Flavor):
    name = "pickle"
    suffixes = (".pkl", ".pickle", ".joblib")

    def read(self, path: Path, options: Mapping[str, Any]) -> tuple[bytes | None, dict[str, Any]]:
        fmt = "joblib" if path.suffix == ".joblib" else "pickle"
        return path.read_bytes(), {**options, "format": fmt}

    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        assert data is not None
        if not trusted:
            raise refuse_pickle("the model")
        try:
            if options.get("format") == "joblib":
                model = _joblib_load(data)
            else:
                try:
                    model = pickle.loads(data)
                except pickle.UnpicklingError:  # joblib's arrays, in a file not named .joblib
                    model = _joblib_load(data)
        except MissingDependency:
            raise
        except Exception as e:  # whatever unpickling the file's classes raises
            if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in EXTRAS:
                # A scikit-learn (or torch) model in an install without that extra.
                raise missing(e.name or "", "this pickle's classes") from None
            raise UsageError(
                f"the model is not a readable pickle ({type(e).__name__}: {e}); check the "
                "file, or give the right --flavor"
            ) from None
        return SklearnPredictor(model)  # anything with predict (and predict_proba)


def _joblib_load(data: bytes) -> Any:
    return require("joblib", "joblib files").load(io.BytesIO(data))
