"""Silencing one known warning around a call, safely across threads.

``warnings.catch_warnings`` saves the process's whole filter list on entry and puts it
back on exit, so a thread leaving its block takes away the filters another thread set
inside its own: in a server that predicts and composes on worker threads, a warning
silenced in one thread reappeared in another (and raised, under pytest's
``filterwarnings = error``). ``quiet`` instead puts one narrow filter first and leaves
it there; putting the same filter first again moves it, so the list does not grow.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet"]


@contextmanager
def quiet(message: str, category: type[Warning] = Warning) -> Iterator[None]:
    """Ignore warnings of ``category`` whose text starts with the regular expression
    ``message`` in this block (and, for the process, from now on: that is the price of
    not restoring a list other threads share; keep ``message`` narrow)."""
    warnings.filterwarnings("ignore", message=message, category=category)
    yield
