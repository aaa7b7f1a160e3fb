"""What a check returns: one result per expectation and a report for the suite."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

from assay.results import GateStatus, ReasonCode, verdict

__all__ = ["CheckReport", "ExpectationResult", "Reason"]


class Reason(ReasonCode):
    """Why an expectation passed or failed, for machines (the message is for people)."""

    OK = "ok"
    BELOW_MIN = "below_min"  # an observed value is under its lower bound
    ABOVE_MAX = "above_max"  # … over its upper bound
    UNEXPECTED_ROWS = "unexpected_rows"  # more rows failed than `mostly` allows
    NO_VALUES = "no_values"  # nothing to aggregate: no rows, or every value null
    MISSING_COLUMNS = "missing_columns"
    EXTRA_COLUMNS = "extra_columns"
    WRONG_ORDER = "wrong_order"
    WRONG_TYPE = "wrong_type"
    UNEXPECTED_VALUES = "unexpected_values"  # distinct values outside the allowed set
    MISSING_VALUES = "missing_values"  # required distinct values absent


def plain(value: Any) -> Any:
    """A JSON-friendly form of a value the engine returned."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation.

    ``observed`` is the value the expectation was judged on (a mean, a count, the
    fraction of unexpected rows, the missing columns); ``expected`` says in words what
    it had to be. Row-level expectations also give ``element_count`` (rows considered),
    ``unexpected_count`` and up to the suite's ``sample_size`` failing rows, each with
    the key columns, in ``sample``.
    """

    position: str  # "3", or "11.1" for the first expectation of the slice at 11
    type: str
    label: str
    passed: bool
    severity: str  # error | warn
    reason: Reason
    observed: Any
    expected: str
    message: str
    columns: tuple[str, ...] = ()
    slice: str | None = None
    element_count: int | None = None
    unexpected_count: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    from_metadata: bool = False  # answered from file/delta statistics, without a scan

    @property
    def unexpected_fraction(self) -> float | None:
        if self.unexpected_count is None or not self.element_count:
            return None
        return self.unexpected_count / self.element_count

    @property
    def failed_error(self) -> bool:
        return not self.passed and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "type": self.type,
            "label": self.label,
            "passed": self.passed,
            "severity": self.severity,
            "reason": self.reason.value,
            "observed": plain(self.observed),
            "expected": self.expected,
            "message": self.message,
            "columns": list(self.columns),
            "slice": self.slice,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_fraction": self.unexpected_fraction,
            "sample": plain(self.sample),
            "arguments": plain(self.arguments),
            "from_metadata": self.from_metadata,
        }


@dataclass(frozen=True)
class CheckReport:
    """A suite's results on one table; ``passed`` unless an error-severity one failed."""

    suite: str
    stage: str | None
    target: str  # what was checked, in words: "version 1a2b3c… (split test)", a file, …
    results: list[ExpectationResult]
    row_count: int | None = None
    fingerprint: str | None = None  # the dataset version, when the data was one
    dataset: str | None = None
    split: str | None = None
    queries: int = 0  # engine queries run (metadata answers need none)
    engine: str | None = None  # the engine that ran the queries ("duckdb", "spark")
    seconds: float = 0.0
    checked_at: str = ""
    id: str | None = None  # set once recorded in a store
    # A version's check: whether stored partial aggregates answered it, and which
    # (``checks/incremental.py``); None for other data.
    incremental: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return not any(r.failed_error for r in self.results)

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.passed]

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReasonCode]:
        """The reason of each expectation that did not pass (warnings included)."""
        return [r.reason for r in self.failures]

    @property
    def exit_code(self) -> int:
        """0 when passed, 1 when an error-severity expectation failed (the CLI's code)."""
        return 0 if self.passed else 1

    def summary(self) -> str:
        """One line: ``12 passed, 1 failed, 1 warning``."""
        failed = sum(r.failed_error for r in self.results)
        warned = sum(not r.passed and r.severity == "warn" for r in self.results)
        passed = sum(r.passed for r in self.results)
        parts = [f"{passed} passed"]
        if failed:
            parts.append(f"{failed} failed")
        if warned:
            parts.append(f"{warned} warning{'s' if warned > 1 else ''}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "suite": self.suite,
            "stage": self.stage,
            "target": self.target,
            "fingerprint": self.fingerprint,
            "dataset": self.dataset,
            "split": self.split,
            "passed": self.passed,
            "summary": self.summary(),
            "row_count": self.row_count,
            "queries": self.queries,
            "engine": self.engine,
            "seconds": round(self.seconds, 4),
            "checked_at": self.checked_at,
            "incremental": self.incremental,
            "results": [r.to_dict() for r in self.results],
        }
