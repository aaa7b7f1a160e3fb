"""Annotator trust: how often each annotator is right, and how much all of them agree.

Per annotator (``AnnotatorScore``):

* ``accuracy``: agreement with the leave-one-out consensus, the majority vote of the
  *other* annotators on the same item. Leaving the annotator out keeps them from
  agreeing with themselves (with three votes an item, one's own vote is a third of the
  consensus). Items where the others tie, or where nobody else voted, have no
  consensus and are not counted (``compared`` says how many were).
* ``confusion``: rows the consensus, columns the annotator's label, over those items.
* ``trust``: Dawid–Skene's estimate of the probability that the annotator's label is
  the true one, ``sum_k prior_k * errors[k, k]``. It weighs every other annotator by
  their own reliability, so it stays meaningful where a plain majority is weak.

Overall, Krippendorff's alpha (nominal or ordinal) and Fleiss' kappa (see
``assay.labels.agreement``). With ``min_trust``, an annotator below it is flagged and
the report fails (``TrustReason.LOW_TRUST``), so a gate can ask "no annotator below 0.7".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import UsageError
from assay.labels.aggregation import DawidSkene, as_annotations
from assay.labels.agreement import Level, fleiss_kappa, krippendorff_alpha
from assay.labels.annotations import Annotations
from assay.results import GateStatus, ReasonCode, verdict

__all__ = ["AnnotatorReport", "AnnotatorScore", "TrustReason", "score_annotators"]


class TrustReason(ReasonCode):
    """Why an annotator report failed."""

    LOW_TRUST = "low_trust"


@dataclass(frozen=True)
class AnnotatorScore:
    """One annotator's numbers (see the module docstring)."""

    annotator: Any
    items: int
    compared: int
    accuracy: float | None
    trust: float
    confusion: np.ndarray = field(repr=False)
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "annotator": _plain(self.annotator),
            "items": self.items,
            "compared": self.compared,
            "accuracy": self.accuracy,
            "trust": self.trust,
            "flagged": self.flagged,
            "confusion": self.confusion.astype(int).tolist(),
        }


@dataclass(frozen=True)
class AnnotatorReport:
    """Every annotator's trust and the overall agreement; fails when one is below
    ``min_trust``."""

    annotators: tuple[AnnotatorScore, ...]
    classes: tuple[Any, ...]
    level: Level
    krippendorff_alpha: float | None
    fleiss_kappa: float | None
    fleiss_items: int
    items: int
    votes: int
    min_trust: float | None = None

    @property
    def flagged(self) -> list[AnnotatorScore]:
        return [a for a in self.annotators if a.flagged]

    @property
    def passed(self) -> bool:
        return not self.flagged

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[TrustReason]:
        return [TrustReason.LOW_TRUST for _ in self.flagged]

    def value(self, name: str) -> float | None:
        """A number a threshold may bound: ``lowest_trust`` (the least trusted
        annotator's trust), ``krippendorff_alpha``, ``fleiss_kappa`` or ``flagged``."""
        if name == "lowest_trust":
            return min((a.trust for a in self.annotators), default=None)
        if name == "flagged":
            return float(len(self.flagged))
        if name in ("krippendorff_alpha", "fleiss_kappa"):
            value: float | None = getattr(self, name)
            return value
        return None

    def summary(self) -> str:
        alpha = "—" if self.krippendorff_alpha is None else f"{self.krippendorff_alpha:.3f}"
        line = (
            f"{len(self.annotators)} annotators, {self.items:,} items, {self.votes:,} votes; "
            f"Krippendorff's alpha ({self.level}) {alpha}"
        )
        if self.min_trust is None:
            return line
        names = ", ".join(str(a.annotator) for a in self.flagged)
        below = f"{len(self.flagged)} below trust {self.min_trust:g}" + (
            f" ({names})" if names else ""
        )
        return f"{line}; {below}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "summary": self.summary(),
            "reasons": list(self.reasons),
            "min_trust": self.min_trust,
            "items": self.items,
            "votes": self.votes,
            "classes": [_plain(c) for c in self.classes],
            "level": self.level,
            "krippendorff_alpha": self.krippendorff_alpha,
            "fleiss_kappa": self.fleiss_kappa,
            "fleiss_items": self.fleiss_items,
            "annotators": [a.to_dict() for a in self.annotators],
        }


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON takes."""
    return value.item() if isinstance(value, np.generic) else value


def _leave_one_out(a: Annotations) -> np.ndarray:
    """Each vote's consensus of the other votes on its item: the label code, or -1
    where the others tie or there are none."""
    others = a.counts()[a.item]
    others[np.arange(a.n_votes), a.label] -= 1
    top = others.max(axis=1)
    unique = (others == top[:, None]).sum(axis=1) == 1
    return np.where((top > 0) & unique, others.argmax(axis=1), -1)


def score_annotators(
    annotations: Any,
    *,
    level: Level = "nominal",
    min_trust: float | None = None,
) -> AnnotatorReport:
    """Score every annotator of ``annotations`` (``Annotations`` or a long frame with
    ``item``, ``annotator``, ``label``) and the overall agreement."""
    if min_trust is not None and not 0.0 <= min_trust <= 1.0:
        raise UsageError(f"--min-trust {min_trust:g} is outside 0–1; give e.g. --min-trust 0.7")
    a = as_annotations(annotations)
    k = a.n_classes
    consensus = _leave_one_out(a)
    compared = consensus >= 0
    agree = np.bincount(
        a.annotator[compared], consensus[compared] == a.label[compared], a.n_annotators
    )
    n_compared = np.bincount(a.annotator[compared], minlength=a.n_annotators)
    cells = (a.annotator[compared] * k + consensus[compared]) * k + a.label[compared]
    confusion = np.bincount(cells, minlength=a.n_annotators * k * k).reshape(a.n_annotators, k, k)
    pairs = np.unique(a.annotator * a.n_items + a.item)
    items = np.bincount(pairs // a.n_items, minlength=a.n_annotators)
    ds = DawidSkene().fit(a)
    trust = np.einsum("k,jkk->j", ds.priors_, ds.errors_)
    scores = tuple(
        AnnotatorScore(
            annotator=_plain(a.annotators[j]),
            items=int(items[j]),
            compared=int(n_compared[j]),
            accuracy=float(agree[j] / n_compared[j]) if n_compared[j] else None,
            trust=float(trust[j]),
            confusion=confusion[j],
            flagged=min_trust is not None and bool(trust[j] < min_trust),
        )
        for j in range(a.n_annotators)
    )
    counts = a.counts()
    kappa, fleiss_items = fleiss_kappa(counts)
    return AnnotatorReport(
        annotators=scores,
        classes=tuple(_plain(c) for c in a.labels),
        level=level,
        krippendorff_alpha=krippendorff_alpha(counts, level),
        fleiss_kappa=kappa,
        fleiss_items=fleiss_items,
        items=a.n_items,
        votes=a.n_votes,
        min_trust=min_trust,
    )
