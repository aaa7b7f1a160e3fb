"""Annotator trust: leave-one-out accuracy and confusion by hand, trust from
Dawid–Skene, the gate on --min-trust."""

from __future__ import annotations

import numpy as np
import pytest

from assay.errors import UsageError
from assay.labels.aggregation import DawidSkene
from assay.labels.annotations import Annotations
from assay.labels.annotators import TrustReason, score_annotators
from assay.results import GateStatus, Result

# Four items, three annotators (a, b, c), labels 0/1.
#   item 1: a=0 b=0 c=1    item 2: a=1 b=1 c=1
#   item 3: a=0 b=1 c=1    item 4: a=0 b=1 (c did not label it)
SMALL = Annotations.from_arrays(
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4],
    ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b"],
    [0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1],
)


def test_leave_one_out_accuracy_and_confusion_by_hand() -> None:
    report = score_annotators(SMALL)
    a, b, c = report.annotators
    # a: item 1 others {0,1} tie -> not compared; item 2 others {1,1} -> 1 right;
    # item 3 others {1,1} -> 0 wrong; item 4 other {1} -> 0 wrong. 1 of 3.
    assert (a.items, a.compared, a.accuracy) == (4, 3, pytest.approx(1 / 3))
    assert a.confusion.tolist() == [[0, 0], [2, 1]]  # rows consensus, columns a's label
    # b: item 1 others {0,1} tie; item 2 {1,1} right; item 3 {0,1} tie; item 4 {0} wrong.
    assert (b.items, b.compared, b.accuracy) == (4, 2, pytest.approx(1 / 2))
    assert b.confusion.tolist() == [[0, 1], [0, 1]]
    # c: item 1 others {0,0} -> wrong; item 2 {1,1} right; item 3 {0,1} tie.
    assert (c.items, c.compared, c.accuracy) == (3, 2, pytest.approx(1 / 2))


def test_trust_is_dawid_skenes_probability_of_being_right() -> None:
    report = score_annotators(SMALL)
    ds = DawidSkene().fit(SMALL)
    expected = [sum(ds.priors_[k] * ds.errors_[j, k, k] for k in range(2)) for j in range(3)]
    assert [s.trust for s in report.annotators] == pytest.approx(expected)
    assert all(0.0 <= s.trust <= 1.0 for s in report.annotators)


def test_min_trust_flags_and_fails() -> None:
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 600)
    item = np.repeat(np.arange(600), 4)
    annotator = np.tile(np.arange(4), 600)
    right = rng.random(item.size) < np.array([0.95, 0.9, 0.9, 0.55])[annotator]
    said = np.where(right, truth[item], 1 - truth[item])
    report = score_annotators(Annotations.from_arrays(item, annotator, said), min_trust=0.7)
    assert isinstance(report, Result)
    assert [s.annotator for s in report.flagged] == [3]
    assert not report.passed and report.status is GateStatus.FAIL
    assert report.reasons == [TrustReason.LOW_TRUST]
    trusts = [s.trust for s in report.annotators]
    assert trusts[0] > 0.9 and 0.45 < trusts[3] < 0.65
    data = report.to_dict()
    assert data["status"] == "fail" and data["reasons"] == ["low_trust"]
    assert set(data["annotators"][0]) >= {"annotator", "items", "accuracy", "trust", "flagged"}
    assert data["annotators"][3]["flagged"] is True
    assert "1 below trust 0.7 (3)" in report.summary()
    lenient = score_annotators(Annotations.from_arrays(item, annotator, said), min_trust=0.4)
    assert lenient.passed and lenient.reasons == []


def test_min_trust_outside_0_1_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--min-trust 7 is outside 0–1"):
        score_annotators(SMALL, min_trust=7)
