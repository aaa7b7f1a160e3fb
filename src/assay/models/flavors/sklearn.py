"""scikit-learn models, stored with skops — never with pickle.

Loading a skops file lists the types it would build (``skops.io.get_untrusted_types``);
those from scikit-learn, NumPy and SciPy are allowed, anything else is refused unless
the caller passes ``trusted=True``, because building an arbitrary type can run code.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InputFileError, UntrustedModel, UsageError
from assay.extras import require
from assay.models.flavors._base import Flavor, Predictor, is_pickle, table_hint
from assay.models.signature import Batch, Signature
from assay.quiet import quiet

__all__ = ["SAFE_MODULES", "SklearnFlavor", "safe_types"]

# Modules whose types skops may build without the user vouching for them: the
# estimators themselves and the array and sparse-matrix types they hold.
SAFE_MODULES = ("sklearn", "numpy", "scipy")
_SAFE_BUILTINS = {"builtins.slice", "collections.OrderedDict", "collections.defaultdict"}


def safe_types(untrusted: list[str]) -> tuple[list[str], list[str]]:
    """``untrusted`` split into (allowed, refused) by the allow-list."""
    allowed: list[str] = []
    refused: list[str] = []
    for name in untrusted:
        root = name.split(".", 1)[0]
        (allowed if root in SAFE_MODULES or name in _SAFE_BUILTINS else refused).append(name)
    return allowed, refused


class SklearnFlavor(Flavor):
    name = "sklearn"
    suffixes = (".skops",)

    def accepts(self, model: Any) -> bool:
        if "sklearn" not in sys.modules:  # no estimator exists before scikit-learn is imported
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def read(self, path: Path, options: Mapping[str, Any]) -> tuple[bytes | None, dict[str, Any]]:
        data = path.read_bytes()
        if is_pickle(data[:2]):  # skops would only say "BadZipFile"
            raise InputFileError(
                f"{path.name} is a pickle, not a skops file; register it with --flavor pickle "
                "--trusted if you trust it"
            )
        return data, dict(options)

    def dump(self, model: Any, options: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
        sio = require("skops.io", "scikit-learn models")
        from sklearn.exceptions import NotFittedError  # skops.io has imported scikit-learn
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except NotFittedError:
            raise UsageError(
                f"this {type(model).__name__} is not fitted; call fit() before registering it"
            ) from None
        return sio.dumps(model), dict(options)

    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        sio = require("skops.io", "scikit-learn models")
        assert data is not None
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as e:  # skops raises zipfile/json errors for bytes that are not skops
            raise UsageError(
                f"the model is not a readable skops file ({type(e).__name__}: {e}); save "
                "scikit-learn models with skops.io.dump, or give the right --flavor"
            ) from None
        allowed, refused = safe_types(untrusted)
        if refused and not trusted:
            raise UntrustedModel(
                f"the skops file would build types outside scikit-learn/NumPy/SciPy "
                f"({', '.join(refused)}), which can run code; load it only if you trust "
                "its source, with trusted=True (--trusted)"
            )
        model = sio.loads(data, trusted=untrusted if trusted else allowed)
        return SklearnPredictor(model)


def _takes_documents(model: Any) -> bool:
    """Whether ``model`` starts with a text vectorizer, which takes a 1-D sequence of
    documents (a table's one column), not a 2-D table."""
    while hasattr(model, "steps"):  # a Pipeline: its first step reads the input
        model = model.steps[0][1]
    # CountVectorizer, TfidfVectorizer and HashingVectorizer all build an analyzer.
    return callable(getattr(model, "build_analyzer", None))


def _documents(batch: Batch) -> np.ndarray:
    """The one column of ``batch`` as the 1-D array of documents a vectorizer reads."""
    matrix = batch.matrix()
    if matrix.ndim == 2 and matrix.shape[1] != 1:
        raise UsageError(
            f"this text model reads one column of documents; the input has {matrix.shape[1]} "
            "columns: give only the text column"
        )
    return matrix.reshape(-1)


class SklearnPredictor(Predictor):
    """A fitted estimator; tables go in as DataFrames when it was fitted on one."""

    def __init__(self, model: Any):
        self.model = model
        self.has_proba = hasattr(model, "predict_proba")
        self.names = getattr(model, "feature_names_in_", None)
        self.documents = _takes_documents(model)

    @property
    def raw(self) -> Any:
        return self.model

    def _input(self, batch: Batch) -> Any:
        if self.documents:
            return _documents(batch)
        if self.names is not None:
            frame = batch.frame()
            if frame is not None:
                if batch.columns is None:
                    frame.columns = list(self.names)
                return frame
        return batch.matrix()

    def _call(self, method: str, batch: Batch) -> np.ndarray:
        # Without pandas the named columns go in as an array in the fitted order.
        with quiet("X does not have valid feature names"):
            return np.asarray(getattr(self.model, method)(self._input(batch)))

    def predict(self, batch: Batch) -> np.ndarray:
        return self._call("predict", batch)

    def predict_proba(self, batch: Batch) -> np.ndarray:
        if not self.has_proba:
            raise AttributeError("predict_proba")
        return self._call("predict_proba", batch)

    def signature_hint(self) -> Signature | None:
        return table_hint(self.names)
