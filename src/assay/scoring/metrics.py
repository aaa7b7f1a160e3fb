"""Metrics: scikit-learn's point estimates, and the same metrics under bootstrap weights.

Each metric has a point estimate computed by scikit-learn (the reference users trust)
and a *weighted* form that evaluates it for many bootstrap resamples at once: a resample
is a vector of row counts, so a (B × n) weight matrix gives B metric values in a few
matrix products instead of B calls. The tests hold the weighted forms to scikit-learn's
``sample_weight`` results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.extras import require

__all__ = ["METRICS", "Metric", "Predictions", "metric_names", "task_of"]

TASKS = ("binary", "multiclass", "regression")
ECE_BINS = 10


@dataclass(frozen=True)
class Predictions:
    """What a model said about a dataset's rows, aligned with the true labels.

    ``proba`` is (n × classes) for classifiers that give probabilities (None otherwise);
    ``label`` the predicted label (class value, or the regression value).
    """

    task: str
    y: np.ndarray  # true labels: class indices (classification) or values (regression)
    label: np.ndarray  # predicted class indices, or predicted values
    proba: np.ndarray | None = None
    classes: tuple[Any, ...] = ()

    def subset(self, mask: np.ndarray) -> Predictions:
        return Predictions(
            self.task,
            self.y[mask],
            self.label[mask],
            None if self.proba is None else self.proba[mask],
            self.classes,
        )

    @property
    def score(self) -> np.ndarray:
        """The positive class's probability (binary tasks)."""
        assert self.proba is not None
        return self.proba[:, 1]


Point = Callable[[Predictions], float]
Weighted = Callable[[Predictions, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A named metric: where it applies, which way is better, how to compute it."""

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    point: Point
    weighted: Weighted
    needs_proba: bool = False
    description: str = ""


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


# -- classification -----------------------------------------------------------------


def _onehot(values: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(values), k), dtype=np.float64)
    out[np.arange(len(values)), values.astype(np.int64)] = 1.0
    return out


def _accuracy(p: Predictions, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ (p.y == p.label).astype(np.float64), w.sum(axis=1))


def _prf(p: Predictions, w: np.ndarray, what: str) -> np.ndarray:
    """Precision, recall or F1: of the positive class (binary) or macro-averaged."""
    k = max(len(p.classes), 2)
    truth, guess = _onehot(p.y, k), _onehot(p.label, k)
    tp = w @ (truth * guess)
    predicted, actual = w @ guess, w @ truth
    if what == "precision":
        per = _ratio(tp, predicted)
    elif what == "recall":
        per = _ratio(tp, actual)
    else:
        per = _ratio(2 * tp, predicted + actual)
    # scikit-learn's zero_division=0: an undefined per-class value counts as 0.
    per = np.nan_to_num(per, nan=0.0)
    if p.task == "binary":
        return per[:, 1]
    # Macro average over the classes present in the resample's truth or predictions.
    present = (predicted + actual) > 0
    return _ratio((per * present).sum(axis=1), present.sum(axis=1))


def _log_loss(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    proba = p.proba / p.proba.sum(axis=1, keepdims=True)
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba[np.arange(len(p.y)), p.y.astype(np.int64)], eps, 1 - eps)
    return _ratio(w @ -np.log(picked), w.sum(axis=1))


def _brier(p: Predictions, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ (p.score - p.y) ** 2, w.sum(axis=1))


def _auc_binary(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC for every row of ``w``: ties count one half, as in sklearn.

    AUC = Σ over positives i of w_i · (weight of negatives scored below s_i + half the
    weight of those scored equal) / (W₊ · W₋), with the negatives' weights summed
    cumulatively once, in score order.
    """
    pos = np.flatnonzero(positive)
    neg = np.flatnonzero(~positive)
    order = neg[np.argsort(score[neg], kind="mergesort")]
    neg_scores = score[order]
    below = np.searchsorted(neg_scores, score[pos], side="left")
    up_to = np.searchsorted(neg_scores, score[pos], side="right")
    cum = np.zeros((w.shape[0], len(order) + 1))
    np.cumsum(w[:, order], axis=1, out=cum[:, 1:])
    w_pos = w[:, pos]
    num = (w_pos * (cum[:, below] + cum[:, up_to])).sum(axis=1) / 2
    return _ratio(num, w_pos.sum(axis=1) * cum[:, -1])


def _roc_auc(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    if p.task == "binary":
        return _auc_binary(p.score, p.y == 1, w)
    # One-vs-rest, macro: the mean of each class's AUC against the rest.
    per = [_auc_binary(p.proba[:, c], p.y == c, w) for c in range(p.proba.shape[1])]
    return np.mean(np.stack(per, axis=1), axis=1)


def _ece_parts(p: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: its bin, its confidence and its outcome, for the calibration error."""
    assert p.proba is not None
    if p.task == "binary":
        conf, hit = p.score, (p.y == 1).astype(np.float64)
    else:  # top-label calibration
        conf = p.proba.max(axis=1)
        hit = (p.proba.argmax(axis=1) == p.y).astype(np.float64)
    bins = np.minimum((conf * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    return bins, conf, hit


def _ece(p: Predictions, w: np.ndarray) -> np.ndarray:
    bins, conf, hit = _ece_parts(p)
    onehot = _onehot(bins, ECE_BINS)
    gap = np.abs(w @ (onehot * hit[:, None]) - w @ (onehot * conf[:, None]))
    return _ratio(gap.sum(axis=1), w.sum(axis=1))


def ece_point(p: Predictions) -> float:
    """Expected calibration error: Σ over 10 equal-width bins of (n_b / n)·|outcome − confidence|."""
    return float(_ece(p, np.ones((1, len(p.y))))[0])


# -- regression ---------------------------------------------------------------------


def _mae(p: Predictions, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ np.abs(p.label - p.y), w.sum(axis=1))


def _mse(p: Predictions, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ (p.label - p.y) ** 2, w.sum(axis=1))


def _r2(p: Predictions, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    mean = _ratio(w @ p.y, total)
    sst = w @ p.y**2 - total * mean**2
    return 1 - _ratio(w @ (p.label - p.y) ** 2, sst)


# -- the registry --------------------------------------------------------------------


def _sk(name: str) -> Point:
    """A scikit-learn point estimate, imported when first used."""

    def point(p: Predictions) -> float:
        skm = require("sklearn.metrics", "evaluation metrics")

        if name == "accuracy":
            return float(skm.accuracy_score(p.y, p.label))
        if name in ("precision", "recall", "f1"):
            fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
            average = "binary" if p.task == "binary" else "macro"
            return float(fn[name](p.y, p.label, average=average, zero_division=0))
        if name == "roc_auc":
            assert p.proba is not None
            if p.task == "binary":
                return float(skm.roc_auc_score(p.y, p.score))
            return float(
                skm.roc_auc_score(
                    p.y, p.proba, multi_class="ovr", labels=list(range(p.proba.shape[1]))
                )
            )
        if name == "log_loss":
            assert p.proba is not None
            # A float32 model's (ONNX) probabilities sum to 1 only to float32 precision,
            # which scikit-learn warns about: normalise, as the bootstrap's version does.
            proba = p.proba.astype(np.float64)
            proba /= proba.sum(axis=1, keepdims=True)
            return float(skm.log_loss(p.y, proba, labels=list(range(proba.shape[1]))))
        if name == "brier":
            return float(skm.brier_score_loss(p.y, p.score))
        if name == "mae":
            return float(skm.mean_absolute_error(p.y, p.label))
        if name == "mse":
            return float(skm.mean_squared_error(p.y, p.label))
        if name == "rmse":
            return float(np.sqrt(skm.mean_squared_error(p.y, p.label)))
        if name == "r2":
            return float(skm.r2_score(p.y, p.label))
        raise AssertionError(name)

    return point


_CLS = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _CLS, True, _sk("accuracy"), _accuracy),
        Metric("precision", _CLS, True, _sk("precision"), lambda p, w: _prf(p, w, "precision")),
        Metric("recall", _CLS, True, _sk("recall"), lambda p, w: _prf(p, w, "recall")),
        Metric("f1", _CLS, True, _sk("f1"), lambda p, w: _prf(p, w, "f1")),
        Metric("roc_auc", _CLS, True, _sk("roc_auc"), _roc_auc, needs_proba=True),
        Metric("log_loss", _CLS, False, _sk("log_loss"), _log_loss, needs_proba=True),
        Metric("brier", ("binary",), False, _sk("brier"), _brier, needs_proba=True),
        Metric(
            "ece",
            _CLS,
            False,
            ece_point,
            _ece,
            needs_proba=True,
            description="expected calibration error, 10 equal-width bins",
        ),
        Metric("mae", ("regression",), False, _sk("mae"), _mae),
        Metric("mse", ("regression",), False, _sk("mse"), _mse),
        Metric("rmse", ("regression",), False, _sk("rmse"), lambda p, w: np.sqrt(_mse(p, w))),
        Metric("r2", ("regression",), True, _sk("r2"), _r2),
    )
}


def metric_names(task: str) -> list[str]:
    """The metrics that apply to ``task``."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def task_of(y: np.ndarray, declared: str | None = None) -> str:
    """The task a label column implies: few integer/text/bool values → classification."""
    if declared is not None:
        return declared
    if y.dtype.kind in "OUSb":
        values = np.unique(y[~_isnan(y)]) if y.dtype.kind == "O" else np.unique(y)
        return "binary" if len(values) <= 2 else "multiclass"
    values = np.unique(y[~np.isnan(y)]) if y.dtype.kind == "f" else np.unique(y)
    if y.dtype.kind == "f" and not np.all(values == np.round(values)):
        return "regression"
    if len(values) <= 2:
        return "binary"
    return "multiclass" if len(values) <= 50 else "regression"


def _isnan(values: np.ndarray) -> np.ndarray:
    return np.array([v is None or (isinstance(v, float) and v != v) for v in values])
