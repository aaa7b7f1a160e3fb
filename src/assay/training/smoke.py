"""Smoke tests: does the user's own training command still run, on a little data?

``smoke(["python", "train.py"])`` runs the command as a recorded run with
``ASSAY_SMOKE=1`` in its environment. Inside it, ``run.read(recipe)`` returns a small
deterministic sample of the version (``sample_version``) and ``run.max_epochs`` is 1.
The test passes when

* the command exits 0 within the time bound (``timeout``),
* every metric it logged is finite, and
* every per-step loss went down: for each metric named ``loss`` or ``*_loss`` logged at
  two or more steps, the mean of the last quarter of its values (at least one value)
  is below the mean of the first quarter. Quarters rather than the last and first
  values alone, so that one noisy mini-batch does not decide the verdict.

**The sample** (``sample_version``), per split of ``n`` rows: the
``k = min(n, max_rows, max(⌈fraction·n⌉, 50))`` rows whose keys rank lowest under
``split_unit(key_hash, SMOKE_SEED)`` — the same stable key hash and mixing function
that assign splits, with a fixed seed of its own — kept in the version's row order.
No random state is involved: the same version gives the same rows on every machine,
and a row stays in the sample when unrelated rows are added. The floor of 50 rows
(or the whole split, if smaller) keeps a 1% sample of a small test split from being
empty.

**The registry** is left as it was: the command also gets ``ASSAY_SANDBOX=smoke``, so
the model versions it registers (from a model trained on a sample) and the aliases it
moves are held back, recorded on its run and listed in the report (``held_back``).
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from assay.data.compose import SPLIT_COLUMN, DatasetVersion
from assay.errors import UsageError
from assay.results import GateStatus, ReasonCode, verdict
from assay.runs import SANDBOX_ENV, SMOKE_ENV, TIMED_OUT, held_back, rank, run_command

if TYPE_CHECKING:
    import pyarrow as pa

    from assay.runs import RunInfo
    from assay.store import Store

__all__ = [
    "DEFAULT_FRACTION",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT",
    "MIN_ROWS",
    "SMOKE_SEED",
    "SampledVersion",
    "SmokeFailure",
    "SmokeReason",
    "SmokeReport",
    "loss_went_down",
    "sample_mask",
    "sample_version",
    "smoke",
]

DEFAULT_FRACTION = 0.01
DEFAULT_MAX_ROWS = 5_000
DEFAULT_TIMEOUT = 600.0
MIN_ROWS = 50
# The sample's own seed for split_unit: a row's sample rank must not follow its split
# rank (recipes commonly use seeds 0, 1, 42 …, never this).
SMOKE_SEED = 0x534D_4F4B_4521  # "SMOKE!"

FRACTION_ENV = "ASSAY_SMOKE_SAMPLE"
MAX_ROWS_ENV = "ASSAY_SMOKE_MAX_ROWS"
# A JSONL file the command appends to: what it sampled and which metric was not finite.
# The run's catalog row cannot hold a NaN, and the command dies on it, so it is said here.
REPORT_ENV = "ASSAY_SMOKE_REPORT"


# --------------------------------------------------------------------------- sample


@dataclass
class SampledVersion(DatasetVersion):
    """A dataset version whose rows are a smoke-test sample of it.

    ``fingerprint`` is the full version's (the one recorded as the run's input);
    ``sample`` says how the rows were chosen and how many each split kept.
    """

    sample: dict[str, Any] = field(default_factory=dict)


def sample_mask(
    key_hash: np.ndarray,
    splits: np.ndarray,
    *,
    fraction: float = DEFAULT_FRACTION,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> np.ndarray:
    """Which rows the smoke sample keeps (see the module docstring for the rule)."""
    _check_sample(fraction, max_rows)
    from assay.data.split import split_unit

    h = np.asarray(key_hash, dtype=np.int64)
    score = split_unit(h, SMOKE_SEED)
    keep = np.zeros(len(h), dtype=bool)
    for name in np.unique(splits):
        rows = np.flatnonzero(splits == name)
        n = len(rows)
        k = min(n, max_rows, max(math.ceil(fraction * n), MIN_ROWS))
        # lexsort's last key is the primary one; the key hash breaks (unlikely) ties.
        order = np.lexsort((h[rows], score[rows]))
        keep[rows[order[:k]]] = True
    return keep


def _key_hashes(version: DatasetVersion) -> np.ndarray:
    """The stored key hash of each of the version's rows, in row order."""
    import pyarrow as pa

    from assay.data.compose import scan_rows
    from assay.data.hashing import key_hash

    key = list(version.dataset.key)
    table = version.table
    if not all(k in table.column_names for k in key):
        # The recipe projected the key away: the same rows, in the same order, keys only.
        schema, batches = scan_rows(
            version.store, version.dataset, version.recipe, version.deltas, columns=key
        )
        table = pa.Table.from_batches(list(batches), schema=schema)
    return key_hash(table.select(key), key)


def sample_version(
    version: DatasetVersion,
    *,
    fraction: float = DEFAULT_FRACTION,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> SampledVersion:
    """The smoke-test sample of ``version``: few rows per split, the same ones every time."""
    import pyarrow as pa

    table = version.table
    splits = np.asarray(table.column(SPLIT_COLUMN).to_numpy(zero_copy_only=False), dtype=object)
    keep = sample_mask(_key_hashes(version), splits, fraction=fraction, max_rows=max_rows)
    sampled: pa.Table = table.filter(pa.array(keep))
    names = [n for n, _ in version.recipe.split.ordered()]
    kept = {n: int(np.count_nonzero(keep & (splits == n))) for n in names}
    of = {n: int(np.count_nonzero(splits == n)) for n in names}
    return SampledVersion(
        fingerprint=version.fingerprint,
        dataset=version.dataset,
        recipe=version.recipe,
        deltas=version.deltas,
        store=version.store,
        _table=sampled,
        sample={
            "fraction": fraction,
            "max_rows": max_rows,
            "min_rows": MIN_ROWS,
            "rows": kept,
            "of": of,
        },
    )


def _check_sample(fraction: float, max_rows: int) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise UsageError(f"sample fraction is {fraction!r}; give a number in (0, 1]")
    if not 0 < fraction <= 1:
        raise UsageError(f"sample fraction is {fraction!r}; give a number in (0, 1], e.g. 0.01")
    if isinstance(max_rows, bool) or not isinstance(max_rows, numbers.Integral) or max_rows < 1:
        raise UsageError(f"max rows is {max_rows!r}; give a whole number >= 1, e.g. 5000")


def _env_number(name: str, default: float, kind: Callable[[str], Any]) -> Any:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number; unset it or fix it") from None


def _note(event: dict[str, Any]) -> None:
    """Append one event to the smoke report file, if this process has one. In a
    distributed job rank 0 speaks for every rank (the others read the same sample)."""
    path = os.environ.get(REPORT_ENV)
    if not path or rank() != 0:
        return
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: appends stay whole
        f.write(json.dumps(event, default=str) + "\n")


def sample_for_smoke(version: DatasetVersion) -> SampledVersion:
    """``run.read``'s answer in a smoke test: the sample the environment asks for."""
    fraction = _env_number(FRACTION_ENV, DEFAULT_FRACTION, float)
    max_rows = _env_number(MAX_ROWS_ENV, DEFAULT_MAX_ROWS, int)
    sampled = sample_version(version, fraction=fraction, max_rows=max_rows)
    _note(
        {
            "event": "sample",
            "dataset": version.dataset.name,
            "fingerprint": version.fingerprint,
            "rows": sampled.sample["rows"],
            "of": sampled.sample["of"],
        }
    )
    return sampled


def note_non_finite(metrics: Mapping[str, Any], step: int | None) -> None:
    """Tell the smoke report about metrics that are NaN or infinite (before the error)."""
    if not isinstance(metrics, Mapping):
        return
    for name, value in metrics.items():
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if real and not math.isfinite(value):
            _note({"event": "non_finite", "metric": str(name), "value": repr(value), "step": step})


# --------------------------------------------------------------------------- verdict


class SmokeReason(ReasonCode):
    """Why a smoke test failed: one per failed criterion."""

    COMMAND_FAILED = "command_failed"
    TIMEOUT = "timeout"
    NON_FINITE_METRIC = "non_finite_metric"
    LOSS_NOT_DECREASING = "loss_not_decreasing"


@dataclass(frozen=True)
class SmokeFailure:
    """One failed criterion: a reason code and a one-line message."""

    reason: SmokeReason
    message: str


@dataclass(frozen=True)
class LossTrend:
    """How a per-step loss moved: the means of its first and last quarters."""

    metric: str
    steps: int
    first: float
    last: float

    @property
    def went_down(self) -> bool:
        return self.last < self.first


def loss_went_down(values: Sequence[float]) -> tuple[float, float, bool]:
    """(mean of the first quarter, mean of the last quarter, whether the last is lower).

    A quarter is ``max(1, n // 4)`` values, so two values compare last < first.
    """
    if len(values) < 2:
        raise ValueError("a trend needs at least two values")
    k = max(1, len(values) // 4)
    first = math.fsum(values[:k]) / k
    last = math.fsum(values[-k:]) / k
    return first, last, last < first


def _is_loss(name: str) -> bool:
    return name == "loss" or name.endswith("_loss")


@dataclass(frozen=True)
class SmokeReport:
    """The outcome of a smoke test: passed or not, why, and what the command did."""

    run: RunInfo
    elapsed_s: float
    timeout_s: float
    fraction: float
    max_rows: int
    failures: tuple[SmokeFailure, ...]
    losses: tuple[LossTrend, ...] = ()
    samples: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    held_back: tuple[dict[str, Any], ...] = ()  # registry writes the command did not make

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[SmokeReason]:
        return [f.reason for f in self.failures]

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    def summary(self) -> str:
        """One line: the run, its exit code and time, and the failed criteria."""
        failed = f", failed: {', '.join(self.reasons)}" if self.failures else ""
        return (
            f"run {self.run.id} exited {self.run.exit_code} after {self.elapsed_s:.1f} s "
            f"of {self.timeout_s:g} s{failed}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``assay test smoke --json`` prints)."""
        return {
            "passed": self.passed,
            "run": self.run.id,
            "exit_code": self.run.exit_code,
            "elapsed_s": round(self.elapsed_s, 3),
            "timeout_s": self.timeout_s,
            "sample": {"fraction": self.fraction, "max_rows": self.max_rows, "min_rows": MIN_ROWS},
            "failures": [{"reason": f.reason.value, "message": f.message} for f in self.failures],
            "losses": [
                {
                    "metric": t.metric,
                    "steps": t.steps,
                    "first_quarter_mean": t.first,
                    "last_quarter_mean": t.last,
                    "went_down": t.went_down,
                }
                for t in self.losses
            ],
            "samples": list(self.samples),
            "metrics": self.run.metrics,
            "notes": list(self.notes),
            "held_back": list(self.held_back),
        }


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):  # a line cut short by a killed command
                events.append(json.loads(line))
    return events


def _judge(
    info: RunInfo, events: list[dict[str, Any]], timeout: float
) -> tuple[list[SmokeFailure], list[LossTrend], list[str]]:
    failures: list[SmokeFailure] = []
    notes: list[str] = []
    if info.error and info.error.startswith(TIMED_OUT):
        failures.append(
            SmokeFailure(
                SmokeReason.TIMEOUT,
                f"the command was still running after {timeout:g} s and was stopped; make "
                "it faster on the sample (run.max_epochs is 1) or raise --timeout",
            )
        )
    elif info.exit_code != 0:
        failures.append(
            SmokeFailure(
                SmokeReason.COMMAND_FAILED,
                f"the command exited with status {info.exit_code}"
                + (f" ({info.error})" if info.error else "")
                + f"; see its output above, or `assay runs show {info.id}`",
            )
        )
    bad = [e for e in events if e.get("event") == "non_finite"]
    bad += [
        {"metric": k, "value": repr(v), "step": None}
        for k, v in info.metrics.items()
        if not math.isfinite(v)
    ]
    for e in bad:
        at = f" at step {e['step']}" if e.get("step") is not None else ""
        failures.append(
            SmokeFailure(
                SmokeReason.NON_FINITE_METRIC,
                f"metric {e['metric']!r} was {e['value']}{at}; a diverged model or a "
                "division by zero",
            )
        )
    losses: list[LossTrend] = []
    for name, history in sorted(info.metric_history.items()):
        if not _is_loss(name) or len(history) < 2:
            continue
        values = [float(h["value"]) for h in history]
        first, last, down = loss_went_down(values)
        losses.append(LossTrend(name, len(values), first, last))
        if not down:
            failures.append(
                SmokeFailure(
                    SmokeReason.LOSS_NOT_DECREASING,
                    f"{name} did not go down over {len(values)} steps: mean of the first "
                    f"quarter {first:.4g}, of the last quarter {last:.4g}",
                )
            )
    sampled = {e["fingerprint"] for e in events if e.get("event") == "sample"}
    full = [i for i in info.inputs if i.fingerprint not in sampled]
    if full:
        notes.append(
            f"read {len(full)} version(s) in full ({', '.join(i.fingerprint[:12] for i in full)}):"
            " only run.read returns the smoke sample"
        )
    if not info.metrics and not bad:
        notes.append("the command logged no metrics: only its exit status was checked")
    return failures, losses, notes


def smoke(
    command: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    sample: float = DEFAULT_FRACTION,
    max_rows: int = DEFAULT_MAX_ROWS,
    name: str | None = "smoke",
    store: Store | None = None,
    stdout: IO[Any] | int | None = None,
    started: Callable[[RunInfo], None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> SmokeReport:
    """Run ``command`` as a smoke test and judge it (see the module docstring).

    The command runs as a recorded run (params ``assay.test: smoke``, the sample size)
    with ``ASSAY_SMOKE=1`` and ``ASSAY_SANDBOX=smoke`` (registry writes held back), in
    the folder ``cwd`` (default: this process's); a command that cannot start raises
    ``CommandNotFound``.
    """
    _check_sample(sample, max_rows)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise UsageError(f"timeout is {timeout!r} seconds; give a number > 0")
    with tempfile.TemporaryDirectory(prefix="assay-smoke-") as tmp:
        report = Path(tmp) / "events.jsonl"
        env = {
            SMOKE_ENV: "1",
            SANDBOX_ENV: "smoke",
            FRACTION_ENV: repr(float(sample)),
            MAX_ROWS_ENV: str(int(max_rows)),
            REPORT_ENV: str(report),
        }
        params = {
            "assay.test": "smoke",
            "assay.smoke.sample": sample,
            "assay.smoke.max_rows": max_rows,
        }
        began = time.monotonic()
        info = run_command(
            command,
            name=name,
            params=params,
            store=store,
            stdout=stdout,
            started=started,
            env=env,
            cwd=cwd,
            timeout=float(timeout),
        )
        elapsed = time.monotonic() - began
        events = _read_events(report)
    failures, losses, notes = _judge(info, events, float(timeout))
    samples = tuple(
        {k: e[k] for k in ("dataset", "fingerprint", "rows", "of")}
        for e in events
        if e.get("event") == "sample"
    )
    return SmokeReport(
        run=info,
        elapsed_s=elapsed,
        timeout_s=float(timeout),
        fraction=float(sample),
        max_rows=int(max_rows),
        failures=tuple(failures),
        losses=tuple(losses),
        samples=samples,
        notes=tuple(notes),
        held_back=tuple(held_back(info)),
    )
