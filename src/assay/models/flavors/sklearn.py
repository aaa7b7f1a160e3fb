"""scikit-learn models, stored with skops — never with pickle.

Loading a skops file lists the types it would build (``skops.io.get_untrusted_types``);
those from scikit-learn, NumPy and SciPy are allowed, anything else is refused unless
the caller passes ``trusted=True``, because building an arbitrary type can run code.

skops.io is imported through ``skops_io()``, which spares each process skops' walk over
every scikit-learn module (see there).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from assay.config import cache_dir
from assay.errors import InputFileError, UntrustedModel, UsageError
from assay.extras import require
from assay.models.flavors._base import Flavor, Predictor, is_pickle, table_hint
from assay.models.signature import Batch, Signature
from assay.quiet import quiet

__all__ = ["SAFE_MODULES", "SklearnFlavor", "safe_types", "skops_io"]

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


def skops_io() -> ModuleType:
    """``skops.io``, imported without walking every scikit-learn module.

    On import, skops lists scikit-learn's estimators (the types it trusts by default)
    with ``all_estimators()``, which imports all of scikit-learn: about two thirds of the
    time a model-loading command spends before it reads its first byte. The list is a
    function of the two packages' versions, so the first import on a machine keeps it in
    the cache and later imports hand the same names back to skops, as classes that carry
    only their module and name (all skops reads of them). skops' defaults, and so every
    trust decision, are the same either way.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    require("sklearn.utils", "scikit-learn models")
    names = _cached_estimator_names()
    if names is None:
        sio = require("skops.io", "scikit-learn models")
        # A skops that keeps no such list (another version) is simply not helped.
        kept = getattr(getattr(sio, "_trusted_types", None), "SKLEARN_ESTIMATOR_TYPE_NAMES", None)
        if isinstance(kept, list):
            _keep_estimator_names(list(kept))
        return sio
    with _estimators_named(names):
        return require("skops.io", "scikit-learn models")


def _names_file() -> Path:
    versions = "-".join(f"{d}{metadata.version(d)}" for d in ("scikit-learn", "skops"))
    return cache_dir("skops") / f"estimators-{versions}.json"


def _cached_estimator_names() -> list[str] | None:
    """The kept list, or None when there is none (or it is not a list of scikit-learn
    class paths, as skops would make it: then it is made again)."""
    try:
        names = json.loads(_names_file().read_text())
    except (OSError, ValueError, metadata.PackageNotFoundError):
        return None
    if not isinstance(names, list) or not names:
        return None
    ok = all(isinstance(n, str) and n.startswith("sklearn.") and "." in n[8:] for n in names)
    return names if ok else None


def _keep_estimator_names(names: list[str]) -> None:
    """Write the list atomically; a cache that cannot be written only costs time."""
    with contextlib.suppress(OSError, metadata.PackageNotFoundError):
        target = _names_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(names))
        os.replace(tmp, target)


@contextlib.contextmanager
def _estimators_named(names: list[str]) -> Iterator[None]:
    """``sklearn.utils.all_estimators`` answers with stand-ins for ``names`` meanwhile."""
    import sklearn.utils

    def stand_ins(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
        out = []
        for path in names:
            module, name = path.rsplit(".", 1)
            out.append((name, type(name, (), {"__module__": module})))
        return out

    real = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = stand_ins
    try:
        yield
    finally:
        sklearn.utils.all_estimators = real


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
        sio = skops_io()
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
        sio = skops_io()
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
