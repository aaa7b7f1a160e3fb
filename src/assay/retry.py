"""One retry policy for every writer: exponential backoff with full jitter, in a time budget.

Concurrent writers race in the catalog (the next delta number, a model version's number,
a run's revision) and in its schema upgrade. The loser of a round retries; with W busy
writers a given one loses k rounds in a row with odds near ((W-1)/W)^k, so a fixed count
of attempts fails routinely while a time budget does not. Each pause is drawn uniformly
below an exponentially growing, capped ceiling ("full jitter"), so losers spread out
instead of colliding again, and a loser is never starved by a long sleep. Only the named
transient errors are retried; anything else propagates at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from assay.errors import AssayError, ConcurrentWriteError

__all__ = ["BUDGET_SECONDS", "retry"]

T = TypeVar("T")

#: How long a writer keeps trying before it gives up (decision in docs/decisions.md).
BUDGET_SECONDS = 120.0
_FIRST_PAUSE = 0.005  # the ceiling of the first pause; it doubles per lost round
_MAX_PAUSE = 0.2  # short: a long sleep would make a loser miss the next free round


def retry(
    attempt: Callable[[], T],
    *,
    on: tuple[type[BaseException], ...],
    what: str,
    budget: float = BUDGET_SECONDS,
) -> T:
    """``attempt()``, called again after a jittered pause while it raises one of ``on``.

    Gives up once ``budget`` seconds have passed since the first call and raises
    ``ConcurrentWriteError`` (exit 75: the caller may run the command again) with one
    line: ``what`` (who is busy), how many attempts were made, and the last error's
    first line.
    Errors not in ``on`` propagate unchanged, at the first attempt that raises them.
    """
    started = time.monotonic()
    deadline = started + budget
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except on as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConcurrentWriteError(
                    f"{what}: gave up after {tries} attempts in "
                    f"{time.monotonic() - started:.3g} s (last: {_first_line(error)}); "
                    "run the command again"
                ) from None
            ceiling = min(_MAX_PAUSE, _FIRST_PAUSE * 2 ** min(tries - 1, 32))
            time.sleep(min(left, random.uniform(0.0, ceiling)))


def _first_line(error: BaseException) -> str:
    """An error's message on one line (a database error adds its SQL on later lines)."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    if not isinstance(error, AssayError) and not line.startswith("("):
        line = f"{type(error).__name__}: {line}"
    return line if len(line) <= 300 else line[:299] + "…"
