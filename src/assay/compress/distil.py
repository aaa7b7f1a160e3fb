"""Distillation: a small student trained on a teacher's soft targets (Hinton et al., 2015).

The teacher answers an unlabelled transfer set (``transfer="recipes/x.yaml:train"``);
its probabilities, softened at temperature T, are the student's targets. The teacher
may be an ensemble of registered versions (``teachers=[...]`` beside the parent), whose
probabilities are averaged, as in Buciluǎ, Caruana and Niculescu-Mizil's model
compression (2006). Students (``student=``):

* ``logistic``, ``mlp[:H1,H2…]``, ``gbm``: scikit-learn's ``LogisticRegression``,
  ``MLPClassifier`` and ``HistGradientBoostingClassifier``, fitted on the soft targets
  by giving each transfer row once per class with the target's probability as its
  sample weight. The weighted log-loss is then exactly the cross-entropy to the soft
  targets, the loss the paper minimises. The fitted model's output logits are then
  multiplied by T (its last linear layer, or its trees and baseline), which is the
  paper's "T = 1 at inference".
* ``module:Class``: a torch module built with ``student_init`` that maps the rows
  (standardised on the transfer set) to logits, trained with KL(soft ‖ softmax(z/T)) ×
  T² and registered as TorchScript, so it loads without the user's code.

Soft targets come from probabilities, not logits: softmax(log p / T) equals
softmax(z / T) for the logits z behind p, since log p and z differ by a per-row constant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.compress._data import versioned_rows
from assay.compress.methods import Compressed, Parent, refuse_extra
from assay.errors import UsageError
from assay.extras import require
from assay.models.flavors import get_flavor
from assay.models.registry import Model, load_version, resolve_ref
from assay.models.signature import infer_signature

__all__ = ["StudentSpec", "distil", "parse_student", "soften", "teacher_proba"]

STUDENTS = "logistic, mlp[:H1,H2…], gbm or module:Class"
_MLP = re.compile(r"^mlp(?::(?P<hidden>\d+(?:,\d+)*))?$")
_MODULE = re.compile(r"^(?P<target>[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
_TINY = 1e-12  # probabilities are clipped here before the log: a hard 0 has no logit


@dataclass(frozen=True)
class StudentSpec:
    """A parsed ``--student``: its kind, an MLP's hidden widths, a module's import path."""

    kind: str  # logistic | mlp | gbm | module
    hidden: tuple[int, ...] = ()
    target: str | None = None

    def __str__(self) -> str:
        if self.kind == "mlp":
            return "mlp:" + ",".join(map(str, self.hidden))
        return self.target if self.kind == "module" and self.target else self.kind


def parse_student(spec: str) -> StudentSpec:
    """``logistic``, ``gbm``, ``mlp[:H1,H2…]`` (default one layer of 32) or ``module:Class``."""
    text = spec.strip()
    if text in ("logistic", "gbm"):
        return StudentSpec(text)
    mlp = _MLP.match(text)
    if mlp is not None:
        hidden = tuple(int(h) for h in (mlp["hidden"] or "32").split(","))
        if min(hidden) < 1:
            raise UsageError(f"student {spec!r} has a layer of width 0; give widths ≥ 1")
        return StudentSpec("mlp", hidden)
    module = _MODULE.match(text)
    if module is not None:
        return StudentSpec("module", target=module["target"])
    raise UsageError(f"unknown student {spec!r}; give {STUDENTS}")


def soften(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Soft targets at ``temperature``: softmax(log p / T), row by row."""
    if not temperature > 0:
        raise UsageError(f"temperature is {temperature!r}; give a number > 0 (Hinton et al.: 1–20)")
    z = np.log(np.clip(np.asarray(proba, dtype=np.float64), _TINY, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def probabilities(model: Model, rows: Any) -> np.ndarray:
    """``model``'s class probabilities for ``rows``: ``predict_proba`` where it has one;
    else its answers read as probabilities (one column: P(class 1), or rows summing to 1)."""
    if model.has_proba:
        return np.asarray(model.predict_proba(rows, source="the transfer set"), dtype=np.float64)
    answers = np.asarray(model.predict(rows, source="the transfer set"))
    if answers.dtype.kind not in "f":  # classes (0/1 included), not probabilities
        raise UsageError(
            f"teacher {model.info.ref} gives classes, not probabilities (no predict_proba); "
            "distil from a classifier that gives them"
        )
    out = answers.astype(np.float64)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    finite = bool(np.all(np.isfinite(out)))
    if out.ndim == 1 and finite and out.min() >= 0 and out.max() <= 1:
        return np.column_stack([1 - out, out])
    if out.ndim == 2 and finite and out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        return out
    raise UsageError(
        f"teacher {model.info.ref} gives no probabilities (no predict_proba, and its answers "
        "are not probabilities); distil from a classifier that gives them"
    )


def classes_of(model: Model, width: int) -> tuple[Any, ...]:
    """The classes in the order of ``model``'s probability columns."""
    known = getattr(model.raw, "classes_", None)
    return tuple(np.asarray(known).tolist()) if known is not None else tuple(range(width))


def teacher_proba(teachers: Sequence[Model], rows: Any) -> np.ndarray:
    """The teachers' probabilities for ``rows``, averaged (one teacher: its own)."""
    answers = [probabilities(t, rows) for t in teachers]
    first, *others = teachers
    want = classes_of(first, answers[0].shape[1])
    for model, p in zip(others, answers[1:], strict=True):
        if classes_of(model, p.shape[1]) != want:
            raise UsageError(
                f"teachers {first.info.ref} and {model.info.ref} give different classes "
                f"({list(want)} vs {list(classes_of(model, p.shape[1]))}); an ensemble "
                "averages the probabilities of models of one task"
            )
    mean: np.ndarray = np.mean(answers, axis=0)
    return mean


def distil(
    parent: Parent,
    *,
    transfer: str | None = None,
    student: str = "logistic",
    temperature: float = 2.0,
    teachers: Sequence[str] = (),
    student_init: dict[str, Any] | None = None,
    epochs: int = 30,
    seed: int = 0,
    **rest: Any,
) -> Compressed:
    """A student of ``parent`` (with ``teachers``, an ensemble) taught on ``transfer``."""
    refuse_extra("distil", rest)
    if transfer is None:
        raise UsageError(
            "distil needs a transfer set: give --transfer RECIPE[:split] (labels not needed)"
        )
    spec = parse_student(student)
    soften(np.ones((1, 2)) / 2, temperature)  # checks T before any work
    if epochs < 1:
        raise UsageError(f"epochs is {epochs}; give a number ≥ 1")
    columns = parent.columns
    if columns is None:
        raise UsageError(
            f"teacher {parent.info.ref} has no table signature naming its inputs; register "
            "it with a sample (--sample) so the student knows which columns to read"
        )
    members = [parent.model]
    for ref in teachers:
        info = resolve_ref(parent.store, ref)
        if (info.name, info.version) != (parent.info.name, parent.info.version):
            members.append(load_version(parent.store, info))
    for m in members[1:]:
        theirs = (
            [c.name for c in m.signature.columns] if m.signature and m.signature.columns else None
        )
        if theirs != columns:
            raise UsageError(
                f"teacher {m.info.ref} reads columns {theirs} but {parent.info.ref} reads "
                f"{columns}; an ensemble's members read the same columns"
            )
    table, data_ref = versioned_rows(transfer, parent.store, columns, what="--transfer")
    frame = require("pandas", "distillation").DataFrame(
        {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}
    )
    proba = teacher_proba(members, frame)
    classes = classes_of(members[0], proba.shape[1])
    soft = soften(proba, temperature)
    params: dict[str, Any] = {
        "student": str(spec),
        "temperature": temperature,
        "teachers": [m.info.ref for m in members],
        "transfer_rows": len(frame),
        "seed": seed,
    }
    if spec.kind == "module":
        params.update(epochs=epochs, student_init=dict(student_init or {}))
        module = fit_module(
            spec, frame.to_numpy(dtype=np.float32), soft, temperature, student_init, epochs, seed
        )
        data, options = get_flavor("torch").dump(module, {})
    else:
        estimator = fit_estimator(spec, frame, soft, classes, temperature, seed)
        data, options = get_flavor("sklearn").dump(estimator, {})
        module = estimator
    sample = frame.head(200)
    answers = np.asarray(
        module(_tensor(sample)) if spec.kind == "module" else module.predict(sample)
    )
    signature = infer_signature(sample, answers, soft[:200])
    assert data is not None  # torch and sklearn dumps always give bytes
    return Compressed(
        flavor="torch" if spec.kind == "module" else "sklearn",
        data=data,
        params=params,
        options=options,
        data_ref=data_ref,
        signature=signature.to_dict(),
    )


def _tensor(frame: Any) -> Any:
    torch = require("torch", "torch students")
    return torch.tensor(frame.to_numpy(dtype=np.float32))


def fit_estimator(
    spec: StudentSpec,
    frame: Any,
    soft: np.ndarray,
    classes: Sequence[Any],
    temperature: float,
    seed: int = 0,
) -> Any:
    """A scikit-learn student fitted on ``soft`` targets (rows × classes), its logits × T."""
    require("sklearn", "scikit-learn students")
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = soft.shape[1]
    if len(classes) != k:
        raise UsageError(
            f"the teacher gives {k} probability columns for {len(classes)} classes; give "
            "soft targets with one column per class, in the order of classes"
        )
    # Each row once per class, weighted by the soft target: weighted log-loss = soft CE.
    rows = frame.loc[frame.index.repeat(k)].reset_index(drop=True)
    labels = np.tile(np.asarray(classes, dtype=object), len(frame))
    labels = labels.astype(np.asarray(classes).dtype)
    weights = soft.reshape(-1)
    if spec.kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1e4, max_iter=2000))
        model.fit(rows, labels, logisticregression__sample_weight=weights)
        last = model[-1]
        last.coef_ *= temperature
        last.intercept_ *= temperature
    elif spec.kind == "mlp":
        model = make_pipeline(
            StandardScaler(),
            MLPClassifier(spec.hidden, max_iter=300, random_state=seed, early_stopping=False),
        )
        model.fit(rows, labels, mlpclassifier__sample_weight=weights)
        last = model[-1]
        last.coefs_[-1] *= temperature
        last.intercepts_[-1] *= temperature
    else:
        model = HistGradientBoostingClassifier(max_iter=50, random_state=seed, early_stopping=False)
        model.fit(rows, labels, sample_weight=weights)
        model._baseline_prediction = model._baseline_prediction * temperature
        for per_class in model._predictors:
            for tree in per_class:
                tree.nodes["value"] *= temperature
    return model


def fit_module(
    spec: StudentSpec,
    x: np.ndarray,
    soft: np.ndarray,
    temperature: float,
    init: dict[str, Any] | None,
    epochs: int,
    seed: int,
) -> Any:
    """The user's ``module:Class`` student trained on ``soft`` targets, as a classifier."""
    torch = require("torch", "torch students")
    from assay.compress.nets import LogitsClassifier, fit_logits
    from assay.models.flavors.python import import_object

    assert spec.target is not None
    cls = import_object(spec.target)
    torch.manual_seed(seed)
    try:
        inner = cls(**dict(init or {}))
    except TypeError as e:
        raise UsageError(
            f"cannot build student {spec.target} ({e}); give its keyword arguments as student_init"
        ) from None
    if not isinstance(inner, torch.nn.Module):
        raise UsageError(f"student {spec.target} is not a torch.nn.Module; give a module class")
    module = LogitsClassifier(inner, x.shape[1])
    return fit_logits(module, x, soft, temperature=temperature, epochs=epochs, seed=seed)
