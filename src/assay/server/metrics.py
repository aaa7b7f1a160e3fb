"""Prometheus metrics of a served experiment (imported only after ``require``).

Each app has its own registry, so several apps live in one process (the tests).
With ``PROMETHEUS_MULTIPROC_DIR`` set (``assay serve --workers N`` sets it), the
counters and histograms are written to files there and ``/metrics`` sums every
worker's, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from assay.experiments.log import LogWriter
from assay.server.endpoint import Answer

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: a model answers in well under a millisecond to a few seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The counters and histograms ``/metrics`` shows, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "assay_requests", "Live answers by arm and status.", ["arm", "status"], registry=r
        )
        self.latency = Histogram(
            "assay_request_latency_seconds",
            "Time to answer a predict request (parsing, predicting, logging), by arm.",
            ["arm"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "assay_fallbacks",
            "Requests whose arm's model failed and that control answered, by arm.",
            ["arm"],
            registry=r,
        )
        self.refused = Counter(
            "assay_refused_requests",
            "Requests refused before predicting, by HTTP status.",
            ["code"],
            registry=r,
        )
        self.shadow = Counter(
            "assay_shadow_results",
            "Shadow predictions by model and status (ok, error, timeout, dropped).",
            ["model", "status"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "assay_shadow_dropped",
            "Copies of requests a shadow never ran (its queue was full or the server stopped).",
            ["model"],
            registry=r,
        )
        self.log_rows = Counter(
            "assay_log_rows_written", "Prediction log rows written to the store.", registry=r
        )
        self.log_failures = Counter(
            "assay_log_write_failures",
            "Prediction log batches that could not be written (kept and retried).",
            registry=r,
        )
        self._seen = (0, 0)  # the log writer's counts already added to the counters
        self._lock = threading.Lock()

    def answered(self, answer: Answer, seconds: float) -> None:
        """Count one live answer."""
        self.requests.labels(answer.arm, answer.status).inc()
        self.latency.labels(answer.arm).observe(seconds)
        if answer.status == "fallback":
            self.fallbacks.labels(answer.arm).inc()

    def shadow_result(self, model: str, status: str) -> None:
        """Count one shadow row (``Shadows``' callback)."""
        self.shadow.labels(model, status).inc()
        if status == "dropped":
            self.shadow_dropped.labels(model).inc()

    def log_progress(self, log: LogWriter | None) -> None:
        """Add what the log writer wrote (or failed to) since the last call."""
        if log is None:
            return
        with self._lock:
            rows, failures = log.rows_written, log.failures
            self.log_rows.inc(rows - self._seen[0])
            self.log_failures.inc(failures - self._seen[1])
            self._seen = (rows, failures)

    def exposition(self) -> bytes:
        """The Prometheus text format: this app's metrics, or every worker's."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
