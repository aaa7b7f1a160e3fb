"""Aggregation: several annotators' labels turned into one label per item.

Three aggregators follow the scikit-learn contract: hyper-parameters in ``__init__``,
``fit(annotations)`` returns ``self``, and what they learn lives in trailing-underscore
attributes. Each gives, per item, a posterior over the labels (``probas_``, rows in
``items_`` order, columns in ``classes_`` order) and its most probable label
(``labels_``). Ties go to the first label in sorted order, as crowd-kit's ``idxmax``
does, so the same votes always give the same label.

* ``MajorityVote``: the posterior is each label's share of the item's votes.
* ``DawidSkene`` (Dawid & Skene 1979): each annotator has a confusion matrix
  ``errors_[j, k, l] = P(annotator j says l | the true label is k)`` and the labels have
  priors ``priors_``. EM starts from the majority-vote posterior (an M-step first) and
  alternates E- and M-steps as crowd-kit's ``DawidSkene`` does.
* ``GLAD`` (Whitehill et al. 2009): annotator ``j`` has an ability ``alphas_[j]`` and
  item ``i`` an easiness ``betas_[i] > 0``; ``j`` labels ``i`` correctly with probability
  ``sigmoid(alpha_j * beta_i)`` and otherwise picks one of the other labels uniformly.
  The M-step takes Fisher-scoring steps on ``alpha`` and ``log beta`` under Gaussian
  priors (``alpha ~ N(1, 1)``, ``log beta ~ N(0, 1)``), which keep both finite when an
  annotator or item agrees perfectly.

Convergence (both EM methods): after each iteration, the objective per vote (DS: the
evidence lower bound exactly as crowd-kit computes it, the label prior counted once
per vote; GLAD: the log posterior of the votes and the parameters) is compared with the last
one; EM stops when it grew by less than ``tol`` (``converged_ = True``) or after
``n_iter`` iterations (``converged_ = False``). ``n_iter_`` counts the iterations run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import UsageError
from assay.labels.annotations import Annotations, read_annotations

if TYPE_CHECKING:
    from assay.data.deltas import AddResult
    from assay.store import Store

__all__ = [
    "GLAD",
    "METHODS",
    "Aggregation",
    "DawidSkene",
    "MajorityVote",
    "aggregate",
    "as_annotations",
    "write_into",
    "write_labels",
]

_EPS = float(np.finfo(np.float64).eps)


def as_annotations(annotations: Any) -> Annotations:
    """``annotations`` as ``Annotations``: encoded already, or a frame with the columns
    ``item``, ``annotator`` and ``label``."""
    if isinstance(annotations, Annotations):
        return annotations
    return read_annotations(annotations, item="item", annotator="annotator", label="label")


class _Votes:
    """The votes sorted by item, so that per-item sums are one ``np.add.reduceat``."""

    def __init__(self, a: Annotations) -> None:
        order = np.argsort(a.item, kind="stable")
        self.item = a.item[order]
        self.annotator = a.annotator[order]
        self.label = a.label[order]
        self.starts = np.flatnonzero(np.r_[True, self.item[1:] != self.item[:-1]])
        self.sizes = np.diff(np.r_[self.starts, self.item.size])
        self.cell = self.annotator * a.n_classes + self.label  # (annotator, label said)
        self.n_items, self.n_annotators, self.n_classes = a.n_items, a.n_annotators, a.n_classes

    def per_item(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (one row per vote) over each item's votes."""
        return np.add.reduceat(values, self.starts, axis=0)


def _normalise_log(log_post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of log scores as probabilities, and each row's log normaliser."""
    top = log_post.max(axis=1, keepdims=True)
    scaled = np.exp(log_post - top)
    total = scaled.sum(axis=1, keepdims=True)
    return scaled / total, (np.log(total) + top)[:, 0]


def _entropy(probas: np.ndarray) -> float:
    # p log p is 0 at p = 0: the floor only keeps log finite there.
    return float(-(probas * np.log(np.maximum(probas, 1e-300))).sum())


class _Aggregator:
    """What the three aggregators share: the fitted labels and the fitting bookkeeping."""

    probas_: np.ndarray
    classes_: np.ndarray
    items_: np.ndarray
    n_iter_: int
    converged_: bool

    @property
    def labels_(self) -> np.ndarray:
        """Each item's most probable label (ties: the first in ``classes_`` order)."""
        return self.classes_[np.argmax(self.probas_, axis=1)]

    @property
    def confidences_(self) -> np.ndarray:
        """Each item's posterior of its chosen label."""
        return np.max(self.probas_, axis=1)

    def _start(self, annotations: Any) -> tuple[Annotations, np.ndarray]:
        a = as_annotations(annotations)
        self.classes_, self.items_ = a.labels, a.items
        counts = a.counts().astype(np.float64)
        return a, counts / counts.sum(axis=1, keepdims=True)


class MajorityVote(_Aggregator):
    """Each item's most frequent label; its posterior is the share of votes."""

    def fit(self, annotations: Any) -> Self:
        """Count the votes of ``annotations`` (``Annotations`` or a long frame)."""
        _, self.probas_ = self._start(annotations)
        self.n_iter_, self.converged_ = 0, True
        return self


class DawidSkene(_Aggregator):
    """Dawid–Skene EM: a confusion matrix per annotator and a prior per label.

    Parameters
    ----------
    n_iter : the most EM iterations (crowd-kit's default, 100).
    tol : stop once the evidence lower bound per vote grows by less than this.
    """

    errors_: np.ndarray
    priors_: np.ndarray
    loss_history_: list[float]

    def __init__(self, n_iter: int = 100, tol: float = 1e-5) -> None:
        self.n_iter = n_iter
        self.tol = tol

    def fit(self, annotations: Any) -> Self:
        """Run EM on ``annotations`` (``Annotations`` or a long frame)."""
        a, probas = self._start(annotations)
        votes = _Votes(a)
        priors = probas.mean(axis=0)
        errors = self._m_step(votes, probas)
        # Each item's summed log P(votes | true label): the M-step's errors give it once
        # for both the objective and the next E-step.
        evidence = self._evidence(votes, errors)
        self.loss_history_, last = [], -np.inf
        self.converged_, self.n_iter_ = False, 0
        for _ in range(self.n_iter):
            self.n_iter_ += 1
            probas = _normalise_log(np.log(priors) + evidence)[0]  # E-step
            priors = probas.sum(axis=0) / probas.sum()
            errors = self._m_step(votes, probas)
            evidence = self._evidence(votes, errors)
            # crowd-kit counts the prior once per vote, not once per item: so do we, so
            # that both stop after the same iterations on the same votes.
            joint = probas * (votes.sizes[:, None] * np.log(priors) + evidence)
            loss = (float(joint.sum()) + _entropy(probas)) / a.n_votes
            self.loss_history_.append(loss)
            if loss - last < self.tol:
                self.converged_ = True
                break
            last = loss
        self.probas_, self.priors_, self.errors_ = probas, priors, errors
        return self

    @staticmethod
    def _m_step(votes: _Votes, probas: np.ndarray) -> np.ndarray:
        """Each annotator's confusion matrix from the items' posteriors."""
        k = votes.n_classes
        weights = probas[votes.item]  # (votes, true label)
        counts = np.stack(
            [
                np.bincount(votes.cell, weights=weights[:, t], minlength=votes.n_annotators * k)
                for t in range(k)
            ],
            axis=-1,
        ).reshape(votes.n_annotators, k, k)  # (annotator, said, true)
        clipped: np.ndarray = np.clip(counts, _EPS, None)
        clipped /= clipped.sum(axis=1, keepdims=True)
        return clipped.transpose(0, 2, 1)  # (annotator, true, said)

    @staticmethod
    def _evidence(votes: _Votes, errors: np.ndarray) -> np.ndarray:
        """Per item and true label, the log-probability of its votes: (items, classes)."""
        # log once per (annotator, said) cell, then one row per vote.
        logs = np.log(errors.transpose(0, 2, 1)).reshape(-1, votes.n_classes)
        return votes.per_item(logs[votes.cell])


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


class GLAD(_Aggregator):
    """GLAD EM (Whitehill et al. 2009): annotator abilities and item easiness.

    Parameters
    ----------
    n_iter : the most EM iterations.
    tol : stop once the log posterior per vote grows by less than this.
    m_steps : Fisher-scoring rounds (alphas, then betas) per M-step.
    """

    alphas_: np.ndarray
    betas_: np.ndarray
    priors_: np.ndarray
    loss_history_: list[float]

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, m_steps: int = 3) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.m_steps = m_steps

    def fit(self, annotations: Any) -> Self:
        """Run EM on ``annotations`` (``Annotations`` or a long frame)."""
        a, probas = self._start(annotations)
        votes = _Votes(a)
        alphas = np.ones(a.n_annotators)
        log_betas = np.zeros(a.n_items)
        priors = probas.mean(axis=0)
        alphas, log_betas = self._m_step(votes, probas, alphas, log_betas)
        self.loss_history_, last = [], -np.inf
        self.converged_, self.n_iter_ = False, 0
        for _ in range(self.n_iter):
            self.n_iter_ += 1
            probas, evidence = self._e_step(votes, priors, alphas, log_betas)
            priors = np.clip(probas.mean(axis=0), _EPS, None)
            priors /= priors.sum()
            alphas, log_betas = self._m_step(votes, probas, alphas, log_betas)
            loss = (evidence + self._log_prior(alphas, log_betas)) / a.n_votes
            self.loss_history_.append(loss)
            if loss - last < self.tol:
                self.converged_ = True
                break
            last = loss
        self.probas_, self.priors_ = probas, priors
        self.alphas_, self.betas_ = alphas, np.exp(log_betas)
        return self

    @staticmethod
    def _log_prior(alphas: np.ndarray, log_betas: np.ndarray) -> float:
        return float(-0.5 * ((alphas - 1.0) ** 2).sum() - 0.5 * (log_betas**2).sum())

    @staticmethod
    def _e_step(
        votes: _Votes, priors: np.ndarray, alphas: np.ndarray, log_betas: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """The posterior over each item's label, and the log-likelihood of the votes."""
        x = alphas[votes.annotator] * np.exp(log_betas[votes.item])
        wrong = -np.logaddexp(0.0, x) - np.log(max(votes.n_classes - 1, 1))
        logs = np.repeat(wrong[:, None], votes.n_classes, axis=1)
        logs[np.arange(votes.label.size), votes.label] = _log_sigmoid(x)
        probas, normaliser = _normalise_log(np.log(priors) + votes.per_item(logs))
        return probas, float(normaliser.sum())

    def _m_step(
        self, votes: _Votes, probas: np.ndarray, alphas: np.ndarray, log_betas: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # The posterior that each vote is right is all the M-step needs of the E-step.
        right = probas[votes.item, votes.label]
        j, i = votes.annotator, votes.item
        for _ in range(self.m_steps):
            beta = np.exp(log_betas[i])
            x = alphas[j] * beta
            p = np.exp(_log_sigmoid(x))
            grad = np.bincount(j, (right - p) * beta, alphas.size) - (alphas - 1.0)
            info = np.bincount(j, p * (1 - p) * beta**2, alphas.size) + 1.0
            alphas = alphas + np.clip(grad / info, -2.0, 2.0)
            x = alphas[j] * beta
            p = np.exp(_log_sigmoid(x))
            grad = np.bincount(i, (right - p) * x, log_betas.size) - log_betas
            info = np.bincount(i, p * (1 - p) * x**2, log_betas.size) + 1.0
            log_betas = log_betas + np.clip(grad / info, -2.0, 2.0)
        return alphas, log_betas


METHODS = {"mv": MajorityVote, "ds": DawidSkene, "glad": GLAD}
NAMES = {"mv": "majority vote", "ds": "Dawid–Skene", "glad": "GLAD"}
# Past this many items, --json gives the counts and the --out file, not every label.
JSON_LABELS_LIMIT = 1000


@dataclass(frozen=True)
class Aggregation:
    """One label per item, its confidence (the posterior of that label) and the whole
    posterior, from one aggregator."""

    method: str
    items: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    probas: np.ndarray = field(repr=False)
    classes: np.ndarray = field(repr=False)
    annotators: int
    votes: int
    iterations: int
    converged: bool

    @property
    def n_items(self) -> int:
        return int(self.items.size)

    def summary(self) -> str:
        rounds = f" after {self.iterations} iterations" if self.method != "mv" else ""
        state = "" if self.converged else " (not converged: raise n_iter)"
        return (
            f"{NAMES[self.method]}: {self.n_items:,} items from {self.votes:,} votes of "
            f"{self.annotators} annotators{rounds}{state}; mean confidence "
            f"{float(self.confidence.mean()):.3f}"
        )

    def by_label(self) -> list[dict[str, Any]]:
        """Per class: how many items got it and their mean confidence (``None`` if none)."""
        codes = np.searchsorted(self.classes, self.labels)
        n = np.bincount(codes, minlength=self.classes.size)
        total = np.bincount(codes, self.confidence, minlength=self.classes.size)
        return [
            {
                "label": _plain(c),
                "items": int(n[k]),
                "confidence": float(total[k] / n[k]) if n[k] else None,
            }
            for k, c in enumerate(self.classes)
        ]

    def confidence_histogram(self, bins: int = 20) -> list[dict[str, Any]]:
        """How many items have a confidence in each of ``bins`` equal intervals of
        [0, 1] (the last one closed): where the labels are unsure."""
        counts, edges = np.histogram(self.confidence, bins=bins, range=(0.0, 1.0))
        return [
            {"from": float(edges[b]), "to": float(edges[b + 1]), "items": int(counts[b])}
            for b in range(bins)
        ]

    def to_arrow(self) -> pa.Table:
        """The labels as a table: ``item``, ``label``, ``confidence``."""
        return pa.table({"item": self.items, "label": self.labels, "confidence": self.confidence})

    def to_dict(self, *, labels_file: str | None = None) -> dict[str, Any]:
        """Plain data; every label when there are at most ``JSON_LABELS_LIMIT`` items,
        else ``labels`` is ``None`` and ``labels_file`` says where they are."""
        out: dict[str, Any] = {
            "method": self.method,
            "items": self.n_items,
            "iterations": self.iterations,
            "converged": self.converged,
            "annotators": self.annotators,
            "votes": self.votes,
            "classes": [_plain(c) for c in self.classes],
            "mean_confidence": float(self.confidence.mean()),
            "summary": self.summary(),
            "by_label": self.by_label(),
            "confidence_histogram": self.confidence_histogram(),
            "labels_file": labels_file,
            "labels": None,
        }
        if self.n_items <= JSON_LABELS_LIMIT:
            out["labels"] = [
                {"item": _plain(i), "label": _plain(v), "confidence": float(c)}
                for i, v, c in zip(self.items, self.labels, self.confidence, strict=True)
            ]
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def aggregate(
    annotations: Any,
    *,
    item: str = "item",
    annotator: str = "annotator",
    label: str = "label",
    method: str = "mv",
    time: str | None = None,
    store: Store | None = None,
) -> Aggregation:
    """One label per item of ``annotations`` (``Annotations``, a frame, or a file,
    recipe[:split] or fingerprint[:split], see ``assay.labels.annotations``) by ``method``: ``mv``,
    ``ds`` or ``glad``."""
    if method not in METHODS:
        raise UsageError(f"--method {method!r} is unknown; use one of {', '.join(METHODS)}")
    a = (
        annotations
        if isinstance(annotations, Annotations)
        else read_annotations(
            annotations, item=item, annotator=annotator, label=label, time=time, store=store
        )
    )
    fitted = METHODS[method]().fit(a)
    return Aggregation(
        method=method,
        items=a.items,
        labels=fitted.labels_,
        confidence=fitted.confidences_,
        probas=fitted.probas_,
        classes=a.labels,
        annotators=a.n_annotators,
        votes=a.n_votes,
        iterations=fitted.n_iter_,
        converged=fitted.converged_,
    )


def write_labels(result: Aggregation, path: str | os.PathLike[str]) -> Path:
    """Write the labels to ``path``, CSV or Parquet by its extension, atomically."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise UsageError(f"--out {str(target)!r}: end the name in .csv or .parquet")
    if target.is_dir():
        raise UsageError(f"--out {str(target)!r} is a folder; give a file name ending in .csv")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from assay.files import atomic_write

    with atomic_write(target) as tmp:
        if suffix == ".csv":
            pacsv.write_csv(result.to_arrow(), tmp)
        else:
            pq.write_table(result.to_arrow(), tmp)
    return target


def write_into(
    result: Aggregation, dataset: str, *, delta: str, store: Store, message: str = ""
) -> AddResult:
    """Commit the labels to ``dataset`` as an upsert delta named ``delta``: each item is
    a key of the dataset, and its row comes back with the dataset's label column set to
    the aggregated label (the other columns as they are now), so relabelling is one
    more version of the data."""
    from assay.data.compose import SPLIT_COLUMN, resolve_version
    from assay.data.deltas import add_delta

    info = store.catalog.get_dataset(dataset)
    if info.label is None:
        raise UsageError(
            f"dataset {dataset!r} has no label column to write into; create it with --label"
        )
    if len(info.key) != 1:
        raise UsageError(
            f"dataset {dataset!r} is keyed by {', '.join(info.key)}; --into needs a "
            "dataset keyed by one column, the items"
        )
    key = info.key[0]
    current = resolve_version({"dataset": dataset}, store=store).table
    if SPLIT_COLUMN in current.column_names and SPLIT_COLUMN not in info.columns:
        current = current.drop_columns([SPLIT_COLUMN])
    key_type = current.schema.field(key).type
    try:
        items = pa.array(result.items).cast(key_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UsageError(
            f"the items ({pa.array(result.items).type}) are not keys of dataset {dataset!r} "
            f"({key} is {key_type}); aggregate by the column that holds its keys"
        ) from None
    rows = current.filter(pc.is_in(current[key], value_set=items))
    if rows.num_rows < result.n_items:
        missing = pc.filter(items, pc.invert(pc.is_in(items, value_set=rows[key])))
        raise UsageError(
            f"{len(missing):,} of {result.n_items:,} items are not rows of dataset "
            f"{dataset!r} (e.g. {missing[0].as_py()!r}); add them first or leave them out"
        )
    order = pc.index_in(rows[key], value_set=items)
    label_type = current.schema.field(info.label).type
    try:
        new = pa.array(result.labels).take(order).cast(label_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UsageError(
            f"the aggregated labels ({pa.array(result.labels).type}) do not fit dataset "
            f"{dataset!r}'s label {info.label!r} ({label_type})"
        ) from None
    rows = rows.set_column(rows.column_names.index(info.label), info.label, new)
    return add_delta(store, dataset, rows, op="upsert", name=delta, message=message)
