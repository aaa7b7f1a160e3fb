"""Which arm answers a request: a pure function of (sticky key, experiment, weights).

Any number of servers, on any number of machines, agree on every user's arm without
talking to each other, because nothing but these three inputs decides it. The key and the
experiment's name are hashed (BLAKE2b, 64 bits) to a point ``u`` in [0, 1); the arms own
consecutive intervals of [0, 1) in route order, each as wide as its weight. Hashing the
experiment's name with the key makes two experiments' assignments independent.

Ramping the *last* arm up (treatment 10% → 20%) only moves users into it: the interval
boundaries move left, so every user already in the last arm stays there, and a user
leaves the first arm only for a later one. A request without a sticky key gets a random
key, so it lands in an arm at random with the same shares.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence

__all__ = ["assign", "assign_many", "bucket"]

_SCALE = float(2**64)


def bucket(key: str, experiment: str) -> float:
    """Where ``key`` falls in [0, 1) for ``experiment`` (uniform over keys)."""
    digest = hashlib.blake2b(
        key.encode("utf-8"), digest_size=8, person=b"assay-route-v1", salt=_salt(experiment)
    ).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(key: str | None, experiment: str, weights: Mapping[str, float]) -> str:
    """The arm of ``key`` under ``weights`` (arm → share, in route order; scaled to sum to 1).

    ``None`` (no sticky key in the request) draws a random key.
    """
    point = bucket(secrets.token_hex(8) if key is None else key, experiment)
    return _arm_at(point, weights)


def assign_many(keys: Sequence[str], experiment: str, weights: Mapping[str, float]) -> list[str]:
    """``assign`` of each key, for analyses and tests over many users."""
    return [_arm_at(bucket(k, experiment), weights) for k in keys]


def _arm_at(point: float, weights: Mapping[str, float]) -> str:
    # Scaled by the total, so that weights that do not sum to 1 (a caller that passed a
    # config's raw weights) keep their ratios instead of handing the rest to the last arm.
    point *= sum(w for w in weights.values() if w > 0)
    edge = 0.0
    last = None
    for arm, weight in weights.items():
        if weight <= 0:
            continue
        edge += weight
        last = arm
        if point < edge:
            return arm
    if last is None:
        raise ValueError(f"no arm has a positive weight in {dict(weights)}")
    return last  # rounding: weights that sum to 0.9999… leave a sliver for the last arm


def _salt(experiment: str) -> bytes:
    # BLAKE2b's salt is at most 16 bytes: a digest of the name fits any length of name.
    return hashlib.blake2b(experiment.encode("utf-8"), digest_size=16).digest()
