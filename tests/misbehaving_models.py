"""Models (``module:function`` callables) that misbehave at predict time, or report how
they were called, for the tests.

Each takes the DataFrame assay passes a callable. Registered as
``misbehaving_models:NAME``; a subprocess finds this module through ``PYTHONPATH``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEVER_INPUTS = {"id", "employed", "split"}


def boom(frame: pd.DataFrame) -> np.ndarray:
    """Fails on every input."""
    raise RuntimeError("boom")


def short(frame: pd.DataFrame) -> np.ndarray:
    """One answer too few."""
    return np.zeros(len(frame) - 1, dtype=np.int64)


def by_age(frame: pd.DataFrame) -> np.ndarray:
    """A well-behaved model: employed when 25 to 64. It refuses the key, label and split,
    which no model may be given."""
    given = sorted(NEVER_INPUTS & set(frame.columns))
    if given:
        raise ValueError(f"given {given}")
    return frame["AGEP"].between(25, 64).astype(np.int64).to_numpy()


def gaps(frame: pd.DataFrame) -> np.ndarray:
    """``by_age`` with NaN for everyone over 80."""
    out = by_age(frame).astype(np.float64)
    out[frame["AGEP"].to_numpy() > 80] = np.nan
    return out


def by_age_unguarded(frame: pd.DataFrame) -> np.ndarray:
    """``by_age`` without its guard, as most callables are written."""
    return frame["AGEP"].between(25, 64).astype(np.int64).to_numpy()


SLOW_SECONDS = 5.0


def slow(frame: pd.DataFrame) -> np.ndarray:
    """``by_age_unguarded``, after sleeping ``SLOW_SECONDS`` (a shadow slower than its
    timeout)."""
    import time

    time.sleep(SLOW_SECONDS)
    return by_age_unguarded(frame)


def openmp_threads(frame: pd.DataFrame) -> np.ndarray:
    """For every row, how many threads an OpenMP loop started by the calling thread would
    use (scikit-learn's OpenMP runtime, as threadpoolctl reads it)."""
    from threadpoolctl import threadpool_info

    (count,) = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"}
    return np.full(len(frame), count, dtype=np.int64)
