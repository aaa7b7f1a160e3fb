"""Data tests: expectation suites, compiled to one engine pass, with recorded results.

    report = assay.check("checks/clean.yaml", "recipes/train.yaml", split="train")
    report.passed, report.failures

``expectations`` declares (and validates) what users write; ``compile`` runs it;
``result`` is what comes back; ``ge`` imports Great Expectations suites.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from assay.checks.expectations import EXPECTATION_TYPES, Expectation, Slice, Suite, load_suite
from assay.checks.result import CheckReport, ExpectationResult, Reason

__all__ = [
    "EXPECTATION_TYPES",
    "CheckReport",
    "Expectation",
    "ExpectationResult",
    "Reason",
    "Slice",
    "Suite",
    "check",
    "load_suite",
]


def check(
    suite: Suite | str | os.PathLike[str] | dict[str, Any],
    data: Any = None,
    *,
    split: str | None = None,
    store: Any = None,
    record: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    full: bool = False,
) -> CheckReport:
    """Run ``suite`` on ``data`` and return a ``CheckReport``.

    ``data`` is a dataset version, a recipe (path, dict or ``Recipe``), a version
    fingerprint, a data file (Parquet, CSV, TSV, JSONL), a pandas or Polars
    DataFrame, an Arrow table or an Ibis table; ``None`` uses the suite's ``on:``.
    The suite is validated against the data's columns before any row is read.
    With ``record``, the report is stored in the catalog against the dataset
    version's fingerprint and the suite's stage, when the data is a version (or a
    ``store`` is given). ``progress(what, done, total)`` hears how the run goes.
    A version checked before, plus new inserts, is checked by reading only the new
    deltas (``checks/incremental.py``); ``full`` forces a pass over every row.
    """
    from assay.checks._source import resolve
    from assay.checks.compile import run_suite
    from assay.checks.expectations import read_suite
    from assay.errors import AssayError, SuiteError, UsageError

    # Entries that do not parse are reported together with what does not fit the data.
    suite = read_suite(suite)
    if data is None:
        if suite.on is None:
            if suite.problems():
                raise SuiteError(suite._label(), suite.problems())
            raise UsageError(
                f"suite {suite.name} has no `on:` data; pass the data to check (--on RECIPE|FILE)"
            )
        data = _relative(suite.on, suite.source)
    try:
        source = resolve(data, store=store, split=split)
    except AssayError:
        if suite.problems():  # the suite's own problems first: they need no data to fix
            raise SuiteError(suite._label(), suite.problems()) from None
        raise
    report = run_suite(suite, source, progress, full=full)
    target_store = (
        store
        if store is not None
        else (source.version.store if source.version is not None else None)
    )
    if record and target_store is not None:
        from dataclasses import replace

        report = replace(report, id=target_store.catalog.record_check(report.to_dict()))
    return report


def _relative(on: str, suite_file: str | None) -> str:
    """A suite's ``on:`` path is relative to the suite file, as a recipe's would be."""
    from pathlib import Path

    if suite_file is None or Path(on).is_absolute():
        return on
    candidate = Path(suite_file).parent / on
    return str(candidate) if candidate.exists() else on
