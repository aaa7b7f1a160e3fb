"""Seeded, paired bootstrap: the same resamples for every model on a dataset slice.

A resample is a vector of row counts (multinomial, n draws over n rows). Every model
is scored on the same resamples of the same rows, so the interval of a *difference*
between two models reflects the noise of the rows, not of two independent draws.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Bootstrap", "interval", "resamples"]

CHUNK_CELLS = 4_000_000  # rows × resamples per weight matrix: ~32 MB of float64


class Bootstrap(BaseModel):
    """Paired bootstrap settings for confidence intervals (seeded: same spec, same CIs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(1000, ge=0, le=100_000)
    seed: int = 0
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


def _seed(seed: int, *parts: str) -> int:
    """A seed for one (dataset, slice): stable across runs, machines and Python versions."""
    text = "\x1f".join([str(seed), *parts]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little")


def resamples(n: int, samples: int, seed: int, *key: str) -> Iterator[np.ndarray]:
    """Weight matrices (chunk × n) of bootstrap row counts, ``samples`` rows in all."""
    if n == 0 or samples == 0:
        return
    rng = np.random.default_rng(_seed(seed, *key))
    per_chunk = max(1, CHUNK_CELLS // n)
    done = 0
    while done < samples:
        b = min(per_chunk, samples - done)
        draws = rng.integers(0, n, size=(b, n))
        weights = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)
        done += b
        yield weights


def interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The percentile interval of bootstrap values (None without enough finite ones)."""
    finite = values[np.isfinite(values)]
    if len(finite) < 20:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
