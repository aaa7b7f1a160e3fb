"""What every flavor provides: turning a model into bytes and bytes into a ``Predictor``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from assay.models.signature import Batch, Column, Signature

__all__ = ["Flavor", "Predictor", "is_pickle"]


class Predictor(ABC):
    """A loaded model, spoken to in normalised batches."""

    has_proba: bool = False
    # Whether the model reads its input columns by name (a table) rather than as one
    # unnamed matrix, whose columns only their order tells apart.
    reads_names: bool = False

    @abstractmethod
    def predict(self, batch: Batch) -> np.ndarray:
        """The model's answer for each row."""

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """Class probabilities, one row per input row (flavors that have them)."""
        raise AttributeError("predict_proba")

    def signature_hint(self) -> Signature | None:
        """What the model itself says about its inputs, when no sample is given."""
        return None

    @property
    def raw(self) -> Any:
        """The flavor's own object (estimator, session, module, function)."""
        return None


class Flavor(ABC):
    """A way to store and load models of one kind."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    needs_bytes: ClassVar[bool] = True  # False: the model is a reference (a Python callable)

    def accepts(self, model: Any) -> bool:
        """Whether an in-memory object is a model of this flavor."""
        return False

    def dump(self, model: Any, options: Mapping[str, Any]) -> tuple[bytes | None, dict[str, Any]]:
        """Bytes (and load options) for an in-memory model."""
        raise NotImplementedError(f"{self.name} models are registered from a file")

    def read(self, path: Path, options: Mapping[str, Any]) -> tuple[bytes | None, dict[str, Any]]:
        """Bytes (and load options) for a model file."""
        return path.read_bytes(), dict(options)

    @abstractmethod
    def load(self, data: bytes | None, options: Mapping[str, Any], *, trusted: bool) -> Predictor:
        """The model stored as ``data``; refuses what it cannot load safely."""


def table_hint(names: Any) -> Signature | None:
    """A signature that knows only column names (e.g. scikit-learn's ``feature_names_in_``)."""
    if names is None:
        return None
    return Signature(columns=tuple(Column(str(n)) for n in names))


def is_pickle(head: bytes) -> bool:
    """Whether bytes start like a pickle: the PROTO opcode and a protocol from 2 to 5 (what
    ``pickle`` and ``joblib`` have written since Python 3.0)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
