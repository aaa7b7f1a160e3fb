"""How many OpenMP threads a served model's call may use.

A server answers requests side by side, each on a thread of its own. A model whose
library spreads every call over all the cores (scikit-learn's gradient boosting and
other OpenMP loops, XGBoost, LightGBM) then runs cores × requests threads, and
OpenMP's idle threads spin while they wait for the next loop: on 2 cores the demo's
one-row gradient boosting calls spent half the machine's time in the kernel, and the
server answered about 120 requests a second instead of about 150 (decision 105).

OpenMP's thread count belongs to the calling thread, so ``ModelThreads.hold`` sets it
around each call and puts it back after: nothing leaks into the caller's thread when
the endpoint is embedded in a script. BLAS's and torch's pools are the process's, and
concurrent calls would race to set and restore them, so they are left alone: a BLAS
call as small as a request's stays on one thread anyway.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

__all__ = ["ModelThreads"]


class ModelThreads:
    """Holds each model call to ``threads`` OpenMP threads.

    Made once the models are loaded, so that it finds the OpenMP runtimes they brought
    in (finding them takes milliseconds; holding a call, microseconds).
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._openmp: Any = None
        # threadpoolctl comes with scikit-learn; without it no model loaded an OpenMP
        # runtime that assay knows how to hold.
        if importlib.util.find_spec("threadpoolctl") is not None:
            import threadpoolctl

            found = threadpoolctl.ThreadpoolController().select(user_api="openmp")
            self._openmp = found if found.lib_controllers else None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """The calling thread's OpenMP loops on ``threads`` threads, until the block ends."""
        if self._openmp is None:
            yield
            return
        with self._openmp.limit(limits=self.threads):
            yield
