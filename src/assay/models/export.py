"""Export a registered scikit-learn model to ONNX, proven equal on a sample first.

The export converts the estimator with skl2onnx (one float input holding the columns in
the signature's order; class probabilities as a plain tensor, no ZipMap), answers a
sample with both, and registers the ONNX graph as a new version only when the largest
absolute difference of ``predict_proba`` (``predict`` for regressors) is within the
tolerance. The new version's lineage points to the version it came from, and it keeps
that version's golden examples.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from assay.errors import ModelCheckFailed, UsageError
from assay.extras import require
from assay.models.flavors import get_flavor
from assay.models.registry import (
    Model,
    check_alias,
    hold_back_registration,
    load_version,
    read_sample,
    resolve_ref,
    run_sample,
)
from assay.models.signature import Signature, TensorSpec, to_batch
from assay.runs import ARTIFACT_PREFIX, sandbox
from assay.store import Store, opened
from assay.store.catalog import ModelVersion
from assay.store.manifests import write_model_manifests

__all__ = ["DEFAULT_TOLERANCE", "Parity", "export_onnx", "onnx_graph", "onnx_parity"]

DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Parity:
    """How closely the ONNX graph reproduces the model on a sample."""

    compared: str  # predict_proba | predict
    rows: int
    max_abs_diff: float
    tolerance: float
    labels_differ: int  # rows whose predicted label differs

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.labels_differ == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "labels_differ": self.labels_differ,
            "passed": self.passed,
        }


def _convert(estimator: Any, n_features: int) -> Any:
    convert_sklearn = require("skl2onnx", "ONNX exports").convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter deprecation chatter, not our users'
            return convert_sklearn(
                estimator,
                initial_types=[("X", FloatTensorType([None, n_features]))],
                options=options,
            )
    except Exception as e:  # skl2onnx raises many types for unsupported models
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(
            f"skl2onnx cannot convert this {type(estimator).__name__} ({first}); only "
            "estimators over numeric columns that skl2onnx supports export to ONNX"
        ) from None


def onnx_parity(source: Model, exported: Model, sample: Any, tolerance: float) -> Parity:
    """Compare two loaded models on ``sample``."""
    if source.has_proba and exported.has_proba:
        a = np.asarray(source.predict_proba(sample), dtype=np.float64)
        b = np.asarray(exported.predict_proba(sample), dtype=np.float64)
        compared = "predict_proba"
    else:
        a = np.asarray(source.predict(sample), dtype=np.float64)
        b = np.asarray(exported.predict(sample), dtype=np.float64)
        compared = "predict"
    if a.shape != b.shape:
        raise ModelCheckFailed(
            f"the ONNX graph answers with shape {list(b.shape)}, the model with "
            f"{list(a.shape)}; not registered"
        )
    labels = 0
    if compared == "predict_proba":
        labels = int(
            np.sum(np.asarray(source.predict(sample)) != np.asarray(exported.predict(sample)))
        )
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return Parity(compared, int(a.shape[0]), diff, float(tolerance), labels)


def onnx_graph(
    source: Model, sample: Any, tolerance: float = DEFAULT_TOLERANCE
) -> tuple[bytes, Parity]:
    """The loaded scikit-learn ``source`` as a serialized ONNX graph, checked on ``sample``
    as ``export_onnx`` checks it, without registering anything (``assay compress``
    quantizes the graph in memory). ``ModelCheckFailed`` when it does not match."""
    signature = source.signature
    columns = [c.name for c in signature.columns] if signature and signature.columns else None
    n = len(columns) if columns else int(getattr(source.raw, "n_features_in_", 0) or 0)
    if not n:
        n = to_batch(sample).matrix().shape[1]
    data = _convert(source.raw, n).SerializeToString()
    predictor = get_flavor("onnx").load(data, {}, trusted=False)
    exported = Model(replace(source.info, flavor="onnx"), predictor, signature)
    parity = onnx_parity(source, exported, sample, tolerance)
    if not parity.passed:
        raise ModelCheckFailed(
            f"the ONNX graph of {source.info.ref} does not match it on {parity.rows} rows "
            f"(max |Δ {parity.compared}| = {parity.max_abs_diff:.3g}, {parity.labels_differ} "
            f"labels differ, tolerance {tolerance:g}); nothing was registered"
        )
    return data, parity


def export_onnx(
    ref: str,
    *,
    sample: Any = None,
    tolerance: float = DEFAULT_TOLERANCE,
    aliases: Sequence[str] = (),
    store: Store | None = None,
) -> tuple[ModelVersion, Parity]:
    """Export the scikit-learn model ``ref`` names to ONNX and register it as a new version.

    ``sample`` (rows of the model's input) defaults to rows of the data its run read.
    ``ModelCheckFailed`` (and nothing registered) if the graph's answers differ from the
    model's by more than ``tolerance``.
    """
    wanted = [check_alias(a) for a in aliases]
    if not isinstance(tolerance, int | float) or not tolerance >= 0:
        raise UsageError(f"tolerance {tolerance!r} is not a number >= 0")
    with opened(store) as s:
        info = resolve_ref(s, ref)
        if info.flavor != "sklearn":
            raise UsageError(
                f"model {info.ref} is flavor {info.flavor!r}; only scikit-learn models "
                "export to ONNX"
            )
        source = load_version(s, info)
        signature = source.signature
        columns = [c.name for c in signature.columns] if signature and signature.columns else None
        sample = read_sample(sample)
        if sample is None:
            if info.run_id is not None and columns:
                sample = run_sample(s, s.catalog.get_run(info.run_id), columns)
            if sample is None:
                raise UsageError(
                    f"model {info.ref} records no run whose data could check the export; "
                    "give a sample of its input (--sample FILE)"
                )
        batch = to_batch(sample)
        n = len(columns) if columns else int(getattr(source.raw, "n_features_in_", 0) or 0)
        if not n:
            n = batch.matrix().shape[1]
        graph = _convert(source.raw, n)
        data = graph.SerializeToString()
        predictor = get_flavor("onnx").load(data, {}, trusted=False)
        sha = hashlib.sha256(data).hexdigest()
        draft = ModelVersion(
            name=info.name,
            version=0,
            flavor="onnx",
            object_key=f"{ARTIFACT_PREFIX}/{sha[:2]}/{sha}",
            sha256=sha,
            size=len(data),
            signature=None,
            source={"kind": "onnx-export", "from": {"name": info.name, "version": info.version}},
            description=f"ONNX export of {info.ref}",
            aliases=tuple(wanted),
            golden=info.golden,
        )
        exported = Model(draft, predictor, signature)
        parity = onnx_parity(source, exported, sample, tolerance)
        if not parity.passed:
            why = (
                f"{parity.labels_differ} predicted labels differ"
                if parity.labels_differ
                else f"max |Δ {parity.compared}| = {parity.max_abs_diff:.3g}"
            )
            raise ModelCheckFailed(
                f"the ONNX export of {info.ref} does not match it on {parity.rows} rows "
                f"({why}, tolerance {tolerance:g}); nothing was registered"
            )
        checked = exported._batch(sample)
        out = predictor.predict(checked)
        proba = predictor.predict_proba(checked) if predictor.has_proba else None
        sig = Signature(
            columns=signature.columns if signature else None,
            array=None if signature and signature.columns else TensorSpec("float32", (None, n)),
            output=TensorSpec.of(out),
            proba=TensorSpec.of(proba) if proba is not None else None,
        )
        draft = replace(
            draft,
            signature=sig.to_dict(),
            source={**draft.source, "parity": parity.to_dict()},
        )
        assert draft.object_key is not None
        if sandbox() is not None:  # under assay test reproduce/smoke: recorded, not registered
            return hold_back_registration(s, draft), parity
        if not s.objects.exists(draft.object_key):
            s.objects.put_bytes(draft.object_key, data)
        model = s.catalog.register_model_version(draft)
        write_model_manifests(s.objects, model)  # `assay recover` restores it from this
        return model, parity
