"""Routing: a pure function of (sticky key, experiment, weights).

The hash is deterministic, so every statistical check here runs on a fixed key set and
gives the same answer on every run: the bounds are there to say what "uniform" and
"independent" mean, not to absorb randomness. The one check of random draws (requests
without a sticky key) uses a 6-sigma bound: it fails by chance about once in 10^9 runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from assay.experiments.routing import assign, assign_many, bucket

KEYS = [f"user-{i}" for i in range(100_000)]
SPLIT = {"control": 0.9, "treatment": 0.1}


def within_6_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 6 * math.sqrt(n * p * (1 - p))


def reference_bucket(key: str, experiment: str) -> float:
    """The construction the module documents, written out: BLAKE2b-64 of the key,
    personalised for routing and salted with a digest of the experiment's name."""
    salt = hashlib.blake2b(experiment.encode(), digest_size=16).digest()
    h = hashlib.blake2b(key.encode(), digest_size=8, person=b"assay-route-v1", salt=salt)
    return int(h.hexdigest(), 16) / 2**64


def test_buckets_are_pinned() -> None:
    # A change here moves users between arms in every running experiment: it must be
    # deliberate (a new `person`), never a side effect.
    pinned = {
        ("u-17", "new-gbm-vs-lr"): 0.5025821336790017,
        ("", "x"): 0.06493839397211945,
        ("héllo", "exp"): 0.16484111141288316,
        ("user-0001", "a" * 64): 0.292351049196556,
    }
    for (key, experiment), point in pinned.items():
        assert bucket(key, experiment) == point == reference_bucket(key, experiment)


def test_the_same_key_gets_the_same_arm() -> None:
    first = assign_many(KEYS[:2000], "exp", SPLIT)
    assert assign_many(KEYS[:2000], "exp", SPLIT) == first
    assert [assign(k, "exp", SPLIT) for k in KEYS[:2000]] == first
    assert set(first) == {"control", "treatment"}


def test_another_process_assigns_every_key_the_same_arm() -> None:
    """What lets several servers agree without talking: nothing process-specific (hash
    randomisation, a seed, the clock) enters the assignment."""
    keys = KEYS[:5000]
    code = (
        "import json, sys; from assay.experiments.routing import assign_many; "
        "keys, weights = json.load(sys.stdin); "
        "print(json.dumps(assign_many(keys, 'exp', weights)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([keys, SPLIT]),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
        timeout=120,
    )
    assert json.loads(done.stdout) == assign_many(keys, "exp", SPLIT)


def test_the_split_over_100k_keys_is_the_weights() -> None:
    for weights in (SPLIT, {"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.99, "b": 0.01}):
        counts = Counter(assign_many(KEYS, "exp", weights))
        assert set(counts) == set(weights)
        for arm, share in weights.items():
            assert within_6_sigma(counts[arm], len(KEYS), share), (arm, counts)
    # And the points themselves are uniform on [0, 1) (Kolmogorov–Smirnov).
    points = np.array([bucket(k, "exp") for k in KEYS[:20_000]])
    assert points.min() >= 0 and points.max() < 1
    assert stats.kstest(points, "uniform").pvalue > 0.001


def test_two_experiments_assign_independently() -> None:
    """Being in treatment of one experiment says nothing about the other: a chi-square
    test of independence on the 2×2 table of the same users' arms."""

    def table(a: list[str], b: list[str]) -> np.ndarray:
        counts = Counter(zip(a, b, strict=True))
        return np.array([[counts[(x, y)] for y in SPLIT] for x in SPLIT])

    first = assign_many(KEYS, "exp-a", SPLIT)
    other = table(first, assign_many(KEYS, "exp-b", SPLIT))
    assert stats.chi2_contingency(other).pvalue > 0.001
    # Treated together 1% of the time, as independence says (0.1 × 0.1).
    assert within_6_sigma(int(other[1, 1]), len(KEYS), 0.01)
    # The test can tell: the same experiment twice is as dependent as can be.
    same = table(first, assign_many(KEYS, "exp-a", SPLIT))
    assert same[0, 1] == same[1, 0] == 0
    assert stats.chi2_contingency(same).pvalue < 1e-100


def test_ramping_the_last_arm_up_only_moves_users_into_it() -> None:
    before = assign_many(KEYS, "exp", SPLIT)
    after = assign_many(KEYS, "exp", {"control": 0.8, "treatment": 0.2})
    moves = Counter(zip(before, after, strict=True))
    assert moves[("treatment", "control")] == 0  # nobody treated goes back
    assert within_6_sigma(moves[("control", "treatment")], len(KEYS), 0.1)
    # Three arms: a user moves only to a later arm, and the last arm keeps everyone.
    order = {"a": 0, "b": 1, "c": 2}
    three = assign_many(KEYS, "exp", {"a": 0.5, "b": 0.3, "c": 0.2})
    ramped = assign_many(KEYS, "exp", {"a": 0.4, "b": 0.3, "c": 0.3})
    moved = Counter((x, y) for x, y in zip(three, ramped, strict=True) if x != y)
    assert all(order[y] > order[x] for x, y in moved)
    assert set(moved) == {("a", "b"), ("b", "c")}  # each boundary moved left by 0.1


def test_an_arm_with_weight_0_gets_nobody() -> None:
    stopped = Counter(assign_many(KEYS, "exp", {"a": 0.5, "b": 0.0, "c": 0.5}))
    assert stopped["b"] == 0 and within_6_sigma(stopped["a"], len(KEYS), 0.5)
    # The kill switch: all traffic to control, whatever the key.
    assert set(assign_many(KEYS, "exp", {"control": 1.0, "treatment": 0.0})) == {"control"}
    assert set(assign_many(KEYS, "exp", {"control": 0.0, "treatment": 1.0})) == {"treatment"}
    with pytest.raises(ValueError, match="no arm has a positive weight"):
        assign("u", "exp", {"a": 0.0})


def test_weights_that_do_not_sum_to_1_keep_their_ratios() -> None:
    # Raw route weights (0.3 each): the last arm must not take the missing 0.1.
    counts = Counter(assign_many(KEYS, "exp", {"a": 0.3, "b": 0.3, "c": 0.3}))
    for arm in "abc":
        assert within_6_sigma(counts[arm], len(KEYS), 1 / 3), counts
    nine_to_one = {"control": 9.0, "treatment": 1.0}
    assert assign_many(KEYS, "exp", nine_to_one) == assign_many(KEYS, "exp", SPLIT)


def test_requests_without_a_key_are_assigned_at_random_with_the_shares() -> None:
    n = 20_000
    counts = Counter(assign(None, "exp", SPLIT) for _ in range(n))
    assert within_6_sigma(counts["treatment"], n, 0.1), counts
