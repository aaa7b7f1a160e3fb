"""Reproducibility tests: re-run a recorded run on its data and code, compare metrics.

``reproduce(run_id)`` re-runs the run's command as a new run linked to it (param
``assay.reproduces``) and compares every metric the original logged with the new
value: equal within a tolerance, default ``DEFAULT_RTOL · max(1, |recorded|)`` —
exact up to floating-point noise — or what ``tolerance={"accuracy": 0.01}`` says
(absolute; ``"*"`` for every metric).

**Data.** The re-run gets ``ASSAY_PINNED_VERSIONS``: for every version the original
read, how to recognise the recipe (its recorded canonical form, its file, its
dataset) and the fingerprint to return. ``run.read(recipe)`` honours it (``runs.py``),
so the re-run reads the recorded rows even when deltas were added since. ``data=``
swaps a version (``{"employment": FINGERPRINT}``), which is how one sees that other
data gives other metrics. A re-run that reads a version nobody pinned (through a bare
``assay.compose``) fails with ``unpinned_read``: it was not a reproduction.

**Code.** If the run's repository is at the recorded commit with the same
uncommitted changes (or none), the command runs there. If it moved on and the run had
no uncommitted changes, the command runs in a temporary ``git worktree`` of the
recorded commit, so the user's tree is left alone. A run that ran on uncommitted
changes the tree no longer has (or outside git) cannot be rebuilt: ``reproduce``
refuses unless ``allow_dirty=True``, which runs the working tree as it is.

**Registry.** The re-run gets ``ASSAY_SANDBOX=reproduce``: the model versions it
registers and the aliases it moves are held back, recorded on the re-run
(``assay.runs.held_back``) and listed in the report, so a reproduction never moves
production's aliases. ``load_model`` in the re-run still reads the registry as it is.

``reproduce_window(run_id, n)`` re-runs instead on each window of ``n`` consecutive
deltas of the dataset (all deltas committed so far), to show how metrics move as data
moves.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from assay.errors import AssayError, UsageError
from assay.results import GateStatus, ReasonCode, verdict
from assay.runs import PIN_ENV, SANDBOX_ENV, get_run, git_state, held_back, run_command
from assay.store import opened

if TYPE_CHECKING:
    from assay.data.recipe import Recipe
    from assay.runs import RunInfo, RunInput
    from assay.store import Store

__all__ = [
    "DEFAULT_RTOL",
    "CodePlace",
    "MetricComparison",
    "PinnedInput",
    "ReproduceFailure",
    "ReproduceReason",
    "ReproduceReport",
    "WindowReport",
    "WindowRow",
    "parse_data",
    "parse_tolerances",
    "pinned_fingerprint",
    "reproduce",
    "reproduce_window",
]

DEFAULT_RTOL = 1e-9
LINK_PARAM = "assay.reproduces"


# --------------------------------------------------------------------------- pinning


def pinned_fingerprint(recipe: str | os.PathLike[str] | dict[str, Any] | Recipe) -> str | None:
    """The version ``run.read(recipe)`` must return under ``ASSAY_PINNED_VERSIONS``.

    A pin matches the recipe by its recorded canonical form, else by its file, else by
    its dataset when only one version of it was pinned. None when nothing is pinned.
    """
    text = os.environ.get(PIN_ENV)
    if not text:
        return None
    from assay.data.recipe import load_recipe

    try:
        pins = json.loads(text)
        assert isinstance(pins, list)
    except (ValueError, AssertionError):
        raise UsageError(
            f"{PIN_ENV} is not the list assay test reproduce writes; unset it"
        ) from None
    rec = load_recipe(recipe)
    own = rec.to_dict()
    exact = [p for p in pins if p["match"].get("recipe") == own]
    by_file = [
        p for p in pins if rec.source and p["match"].get("source") and _same_file(p, rec.source)
    ]
    if exact or by_file:  # the first read of that recipe, if it was read more than once
        return str((exact or by_file)[0]["fingerprint"])
    by_dataset = {p["fingerprint"] for p in pins if p["match"].get("dataset") == rec.dataset}
    if len(by_dataset) == 1:
        return str(by_dataset.pop())
    read = ", ".join(
        sorted(
            {f"{p['match'].get('source') or '(inline)'} ({p['match']['dataset']})" for p in pins}
        )
    )
    raise UsageError(
        f"reproducing a run: {rec.label} (dataset {rec.dataset!r}) is not one the original "
        f"run read, so no version is pinned for it (it read: {read or 'nothing'}); read "
        "the same recipes, or reproduce with --allow-dirty after committing the change"
    )


def _same_file(pin: dict[str, Any], source: str) -> bool:
    return Path(pin["match"]["source"]).as_posix() == Path(source).as_posix()


@dataclass(frozen=True)
class PinnedInput:
    """A version the original run read, and the one its re-run is given instead."""

    dataset: str
    recipe: str | None  # the recipe file, when it was read from one
    recorded: str  # fingerprint
    used: str  # fingerprint: the recorded one unless overridden

    @property
    def overridden(self) -> bool:
        return self.used != self.recorded


def _pins(store: Store, inputs: Sequence[PinnedInput]) -> str:
    pins = []
    for i in inputs:
        recipe = store.catalog.get_version(i.recorded).recipe
        pins.append(
            {
                "match": {"dataset": i.dataset, "recipe": recipe, "source": i.recipe},
                "fingerprint": i.used,
            }
        )
    return json.dumps(pins, sort_keys=True)


def _select_inputs(info: RunInfo, key: str, what: str) -> list[RunInput]:
    """The inputs ``key`` names: by recipe file, else by dataset."""
    by_file = [i for i in info.inputs if i.recipe_source and Path(i.recipe_source) == Path(key)]
    found = by_file or [i for i in info.inputs if i.dataset == key]
    if not found:
        read = ", ".join(f"{i.recipe_source or '(inline)'} ({i.dataset})" for i in info.inputs)
        raise UsageError(
            f"{what} {key!r}: run {info.id} read no dataset or recipe of that name "
            f"(it read: {read or 'nothing'})"
        )
    return found


def parse_data(pairs: Sequence[str]) -> dict[str, str]:
    """``["employment=3fa4c1d2"]`` → ``{"employment": "3fa4c1d2"}`` (``--data``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(
                f"--data {pair!r} is not DATASET=FINGERPRINT; write it like "
                "--data employment=3fa4c1d2 (a dataset or recipe file = a version)"
            )
        if key in out:
            raise UsageError(f"--data {key!r} is given twice; give each once")
        out[key] = value
    return out


def parse_tolerances(pairs: Sequence[str]) -> dict[str, float]:
    """``["accuracy=0.01", "*=1e-6"]`` → absolute tolerances per metric (``--tolerance``)."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--tolerance {pair!r} is not METRIC=NUMBER; write it like "
                "--tolerance accuracy=0.01 (or *=0.01 for every metric)"
            )
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise UsageError(
                f"--tolerance {pair!r}: {text.strip()!r} is not a number >= 0; write it like "
                f"--tolerance {key}=0.01"
            )
        if key in out:
            raise UsageError(f"--tolerance {key!r} is given twice; give each metric once")
        out[key] = value
    return out


# --------------------------------------------------------------------------- code


@dataclass(frozen=True)
class CodePlace:
    """Where the command re-runs: its repository as it is, or a worktree of its commit."""

    how: str  # "in place" | "worktree" | "working tree as it is"
    folder: str  # the command's working folder
    commit: str | None
    note: str


def _git(root: str | os.PathLike[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _recorded_cwd(info: RunInfo) -> Path | None:
    text = info.environment.get("cwd") or info.git_root
    return Path(text) if text else None


@contextlib.contextmanager
def code_place(info: RunInfo, store: Store, *, allow_dirty: bool = False) -> Iterator[CodePlace]:
    """Where ``info``'s command can run again with its recorded code (see the module doc)."""
    cwd = _recorded_cwd(info)
    here = cwd if cwd is not None and cwd.is_dir() else Path.cwd()
    commit = info.git_commit
    if commit is None:
        if not allow_dirty:
            raise UsageError(
                f"run {info.id} recorded no code commit ({info.git_note or 'no git'}), so its "
                f"code cannot be rebuilt; pass --allow-dirty to re-run it in {here} as it is"
            )
        yield CodePlace("working tree as it is", str(here), None, "no recorded commit")
        return
    root = Path(info.git_root or "")
    if not info.git_root or not root.is_dir():
        raise UsageError(
            f"run {info.id} ran in the git repository at {info.git_root}, which is not there "
            "any more; reproduce it on a machine that has it"
        )
    exclude = None if "://" in store.url else store.url
    now = git_state(root, exclude=exclude)
    same = (
        now.commit == commit
        and bool(now.dirty) == bool(info.git_dirty)
        and now.diff_sha256 == info.git_diff_sha256
    )
    if same:
        yield CodePlace("in place", str(here), commit, f"the repository is at {commit[:12]}")
        return
    differs = f"the working tree in {root} differs from it" + (
        f" (at {now.commit[:12]}{', with uncommitted changes' if now.dirty else ''})"
        if now.commit
        else ""
    )
    if allow_dirty:
        yield CodePlace(
            "working tree as it is",
            str(here),
            now.commit,
            f"recorded code {commit[:12]}{' + uncommitted changes' if info.git_dirty else ''}; "
            f"{differs}; re-ran on it as it is (--allow-dirty)",
        )
        return
    if info.git_dirty:
        raise UsageError(
            f"run {info.id} ran on uncommitted changes to commit {commit[:12]} and {differs}, "
            "so its code cannot be rebuilt; restore those changes, or pass --allow-dirty to "
            "re-run on the working tree as it is"
        )
    if _git(root, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise UsageError(
            f"commit {commit[:12]} of run {info.id} is not in the repository at {root}; "
            "fetch it, or pass --allow-dirty to re-run on the working tree as it is"
        )
    tmp = Path(tempfile.mkdtemp(prefix="assay-reproduce-"))
    tree = tmp / "code"
    added = _git(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    if added.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AssayError(
            f"could not check out commit {commit[:12]} into a temporary worktree: "
            f"{(added.stderr.strip().splitlines() or ['git failed'])[-1]}"
        )
    try:
        folder = tree
        if cwd is not None:
            with contextlib.suppress(ValueError):
                folder = tree / cwd.resolve().relative_to(root.resolve())
        folder.mkdir(parents=True, exist_ok=True)
        yield CodePlace(
            "worktree",
            str(folder),
            commit,
            f"{differs}; re-ran commit {commit[:12]} in a temporary git worktree",
        )
    finally:
        _git(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tmp, ignore_errors=True)
        _git(root, "worktree", "prune")


def _command(info: RunInfo) -> list[str]:
    """The command to run again: as recorded, with Python in front of a bare script."""
    command = list(info.command)
    if not command or command[0] in ("-c", ""):
        raise UsageError(
            f"run {info.id} recorded no command that can run again (it was started from "
            "`python -c` or an interactive session); record it with `assay run -- COMMAND`"
        )
    # A run started by assay.start_run() in a script records sys.argv: the script path.
    if Path(command[0]).suffix == ".py":
        command.insert(0, sys.executable)
    return command


def _check_reproducible(info: RunInfo) -> None:
    if info.status != "finished":
        raise UsageError(
            f"run {info.id} is {info.status}, not finished; reproduce a run that finished"
        )


# --------------------------------------------------------------------------- report


class ReproduceReason(ReasonCode):
    """Why a reproduction failed."""

    COMMAND_FAILED = "command_failed"
    METRIC_DIFFERS = "metric_differs"
    METRIC_MISSING = "metric_missing"
    NO_METRICS = "no_metrics"
    UNPINNED_READ = "unpinned_read"


@dataclass(frozen=True)
class ReproduceFailure:
    """One failed check: a reason code and a one-line message."""

    reason: ReproduceReason
    message: str


@dataclass(frozen=True)
class MetricComparison:
    """A recorded metric beside its reproduced value."""

    metric: str
    recorded: float
    reproduced: float | None
    tolerance: float

    @property
    def difference(self) -> float | None:
        return None if self.reproduced is None else self.reproduced - self.recorded

    @property
    def passed(self) -> bool:
        d = self.difference
        if d is None or self.reproduced is None:
            return False
        # A few units in the last place of slack: 0.8 - 0.79 is 0.010000000000000009.
        slack = 4 * math.ulp(max(abs(self.recorded), abs(self.reproduced)))
        return abs(d) <= self.tolerance + slack


@dataclass(frozen=True)
class ReproduceReport:
    """The outcome of a reproduction: the two runs, the data, the metrics, the verdict."""

    original: RunInfo
    rerun: RunInfo
    code: CodePlace
    inputs: tuple[PinnedInput, ...]
    metrics: tuple[MetricComparison, ...]
    failures: tuple[ReproduceFailure, ...]
    notes: tuple[str, ...] = ()
    held_back: tuple[dict[str, Any], ...] = ()  # registry writes the re-run did not make

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[ReproduceReason]:
        return [f.reason for f in self.failures]

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    def summary(self) -> str:
        """One line: how many metrics matched, and the failed checks."""
        same = sum(m.passed for m in self.metrics)
        failed = f", failed: {', '.join(self.reasons)}" if self.failures else ""
        return f"{same} of {len(self.metrics)} metric(s) reproduced{failed}"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``assay test reproduce --json`` prints)."""
        return {
            "passed": self.passed,
            "run": self.original.id,
            "rerun": self.rerun.id,
            "exit_code": self.rerun.exit_code,
            "code": _code_dict(self.code),
            "inputs": [
                {
                    "dataset": i.dataset,
                    "recipe": i.recipe,
                    "recorded": i.recorded,
                    "used": i.used,
                    "overridden": i.overridden,
                }
                for i in self.inputs
            ],
            "metrics": [
                {
                    "metric": m.metric,
                    "recorded": m.recorded,
                    "reproduced": m.reproduced,
                    "difference": m.difference,
                    "tolerance": m.tolerance,
                    "passed": m.passed,
                }
                for m in self.metrics
            ],
            "failures": [{"reason": f.reason.value, "message": f.message} for f in self.failures],
            "notes": list(self.notes),
            "held_back": list(self.held_back),
        }


def _code_dict(code: CodePlace) -> dict[str, Any]:
    return {"how": code.how, "folder": code.folder, "commit": code.commit, "note": code.note}


def _tolerance(name: str, recorded: float, tolerance: Mapping[str, float]) -> float:
    if name in tolerance:
        return tolerance[name]
    if "*" in tolerance:
        return tolerance["*"]
    return DEFAULT_RTOL * max(1.0, abs(recorded))


def _compare(
    original: RunInfo,
    rerun: RunInfo,
    inputs: Sequence[PinnedInput],
    tolerance: Mapping[str, float],
) -> tuple[list[MetricComparison], list[ReproduceFailure], list[str]]:
    failures: list[ReproduceFailure] = []
    notes: list[str] = []
    if rerun.exit_code != 0:
        failures.append(
            ReproduceFailure(
                ReproduceReason.COMMAND_FAILED,
                f"the re-run exited with status {rerun.exit_code}"
                + (f" ({rerun.error})" if rerun.error else "")
                + f"; see its output above, or `assay runs show {rerun.id}`",
            )
        )
    pinned = {i.used for i in inputs}
    for i in rerun.inputs:
        if i.fingerprint not in pinned:
            failures.append(
                ReproduceFailure(
                    ReproduceReason.UNPINNED_READ,
                    f"the re-run read version {i.fingerprint[:12]} of {i.dataset!r}, which is "
                    "not the recorded one; read data with run.read(recipe), which reproduce "
                    "pins, not assay.compose",
                )
            )
    comparisons = [
        MetricComparison(name, value, rerun.metrics.get(name), _tolerance(name, value, tolerance))
        for name, value in original.metrics.items()
    ]
    if not comparisons:
        failures.append(
            ReproduceFailure(
                ReproduceReason.NO_METRICS,
                f"run {original.id} logged no metrics, so there is nothing to compare; log "
                "metrics with run.log_metrics",
            )
        )
    for m in comparisons:
        if m.reproduced is None:
            if rerun.exit_code == 0:
                failures.append(
                    ReproduceFailure(
                        ReproduceReason.METRIC_MISSING,
                        f"metric {m.metric!r} was {m.recorded:.6g} but the re-run did not log it",
                    )
                )
        elif not m.passed:
            failures.append(
                ReproduceFailure(
                    ReproduceReason.METRIC_DIFFERS,
                    f"{m.metric} was {m.recorded:.6g}, now {m.reproduced:.6g} (difference "
                    f"{m.difference:+.3g}, tolerance {m.tolerance:.3g})",
                )
            )
    extra = sorted(set(rerun.metrics) - set(original.metrics))
    if extra:
        notes.append(f"the re-run also logged {', '.join(extra)}, which the original did not")
    return comparisons, failures, notes


def _inputs(store: Store, info: RunInfo, data: Mapping[str, str]) -> list[PinnedInput]:
    used = {i.fingerprint: i.fingerprint for i in info.inputs}
    for key, target in data.items():
        selected = _select_inputs(info, key, "--data")
        version = store.catalog.get_version(target)
        for i in selected:
            if version.dataset != i.dataset:
                raise UsageError(
                    f"--data {key}={target}: version {version.fingerprint[:12]} is of dataset "
                    f"{version.dataset!r}, but run {info.id} read {i.dataset!r} there"
                )
            used[i.fingerprint] = version.fingerprint
    return [
        PinnedInput(i.dataset, i.recipe_source, i.fingerprint, used[i.fingerprint])
        for i in info.inputs
    ]


def reproduce(
    run_id: str,
    *,
    tolerance: Mapping[str, float] | None = None,
    allow_dirty: bool = False,
    data: Mapping[str, str] | None = None,
    store: Store | None = None,
    stdout: IO[Any] | int | None = None,
    started: Callable[[RunInfo, CodePlace], None] | None = None,
) -> ReproduceReport:
    """Re-run a recorded run on its pinned data and code; compare its metrics.

    ``tolerance`` maps metric names (or ``"*"``) to absolute tolerances; ``data`` maps
    a dataset or recipe file the run read to another version's fingerprint. Raises
    ``UsageError`` when the run cannot be reproduced as asked (unfinished, code that
    cannot be rebuilt, a tolerance for a metric it never logged).
    """
    tolerance = dict(tolerance or {})
    with opened(store) as s:
        info = get_run(run_id, store=s)
        _check_reproducible(info)
        unknown = sorted(k for k in tolerance if k != "*" and k not in info.metrics)
        if unknown:
            raise UsageError(
                f"--tolerance names {unknown[0]!r}, which run {info.id} did not log (metrics: "
                f"{', '.join(info.metrics) or 'none'})"
            )
        inputs = _inputs(s, info, data or {})
        command = _command(info)
        with code_place(info, s, allow_dirty=allow_dirty) as place:
            params: dict[str, Any] = {LINK_PARAM: info.id}
            if data:
                params["assay.reproduce.data"] = dict(data)
            rerun = run_command(
                command,
                name=f"reproduce {info.name or info.id}",
                params=params,
                store=s,
                stdout=stdout,
                started=None if started is None else (lambda r: started(r, place)),
                env={PIN_ENV: _pins(s, inputs), SANDBOX_ENV: "reproduce"},
                cwd=place.folder,
            )
        comparisons, failures, notes = _compare(info, rerun, inputs, tolerance)
        if place.how != "in place":
            notes.insert(0, place.note)
        return ReproduceReport(
            original=info,
            rerun=rerun,
            code=place,
            inputs=tuple(inputs),
            metrics=tuple(comparisons),
            failures=tuple(failures),
            notes=tuple(notes),
            held_back=tuple(held_back(rerun)),
        )


# --------------------------------------------------------------------------- window


@dataclass(frozen=True)
class WindowRow:
    """One window of deltas: which, the versions it made, and the run on them."""

    first: str  # delta names
    last: str
    delta_ids: tuple[str, ...]
    fingerprints: tuple[str, ...]  # one per windowed input
    rows: int | None
    run: RunInfo | None
    error: str | None = None  # why the window could not be composed
    recorded: bool = False  # these are exactly the versions the original run read

    @property
    def passed(self) -> bool:
        return self.run is not None and self.run.exit_code == 0


@dataclass(frozen=True)
class WindowReport:
    """Metrics of a run re-run on each sliding window of deltas."""

    original: RunInfo
    dataset: str
    window: int
    code: CodePlace
    rows: tuple[WindowRow, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """Every window that could be composed ran to exit 0."""
        return all(r.passed for r in self.rows if r.error is None) and any(
            r.error is None for r in self.rows
        )

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReproduceReason]:
        """``command_failed`` for each window whose run did not exit 0."""
        return [
            ReproduceReason.COMMAND_FAILED for r in self.rows if r.error is None and not r.passed
        ]

    def summary(self) -> str:
        """One line: how many windows ran to exit 0, and how many could not be composed."""
        composed = [r for r in self.rows if r.error is None]
        ran = sum(r.passed for r in composed)
        skipped = len(self.rows) - len(composed)
        extra = f", {skipped} not composed" if skipped else ""
        return f"{ran} of {len(composed)} window run(s) exited 0{extra}"

    @property
    def metric_names(self) -> list[str]:
        names = list(self.original.metrics)
        for r in self.rows:
            if r.run is not None:
                names += [k for k in r.run.metrics if k not in names]
        return names

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``assay test reproduce --window --json`` prints)."""
        return {
            "passed": self.passed,
            "run": self.original.id,
            "dataset": self.dataset,
            "window": self.window,
            "code": _code_dict(self.code),
            "recorded_metrics": self.original.metrics,
            "windows": [
                {
                    "first": r.first,
                    "last": r.last,
                    "deltas": list(r.delta_ids),
                    "fingerprints": list(r.fingerprints),
                    "rows": r.rows,
                    "run": None if r.run is None else r.run.id,
                    "exit_code": None if r.run is None else r.run.exit_code,
                    "metrics": {} if r.run is None else r.run.metrics,
                    "error": r.error,
                    "recorded": r.recorded,
                }
                for r in self.rows
            ],
            "notes": list(self.notes),
        }


def reproduce_window(
    run_id: str,
    window: int,
    *,
    on: str | None = None,
    allow_dirty: bool = False,
    data: Mapping[str, str] | None = None,
    store: Store | None = None,
    stdout: IO[Any] | int | None = None,
    started: Callable[[RunInfo, CodePlace], None] | None = None,
) -> WindowReport:
    """Re-run a recorded run on each window of ``window`` consecutive deltas.

    The windowed inputs (``on``: a dataset or recipe file the run read; default: every
    input, when they are all of one dataset) keep their recipe but take the window's
    deltas instead of their selection; other inputs stay pinned (or ``data``).
    Windows end at each delta from the ``window``-th on (one window of all of them if
    there are fewer); a window that cannot be composed (only deletes, say) is reported
    with its error and skipped.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise UsageError(f"--window is {window!r}; give a whole number of deltas >= 1")
    from assay.data.compose import compose

    with opened(store) as s:
        info = get_run(run_id, store=s)
        _check_reproducible(info)
        if not info.inputs:
            raise UsageError(
                f"run {info.id} read no dataset versions, so there is nothing to slide"
            )
        if on is None:
            datasets = sorted({i.dataset for i in info.inputs})
            if len(datasets) > 1:
                raise UsageError(
                    f"run {info.id} read datasets {', '.join(datasets)}; say which to slide "
                    "with --window-on DATASET (or a recipe file)"
                )
            chosen = list(info.inputs)
        else:
            chosen = _select_inputs(info, on, "--window-on")
        dataset = chosen[0].dataset
        base = _inputs(s, info, data or {})
        windowed = {i.fingerprint for i in chosen}
        deltas = s.catalog.list_deltas(dataset)
        notes: list[str] = []
        if len(deltas) < window:
            notes.append(f"{dataset!r} has {len(deltas)} deltas, fewer than {window}: one window")
        ends = range(min(window, len(deltas)) - 1, len(deltas))
        rows: list[WindowRow] = []
        recorded_recipes = {
            i.fingerprint: s.catalog.get_version(i.fingerprint).recipe for i in chosen
        }
        command = _command(info)
        with code_place(info, s, allow_dirty=allow_dirty) as place:
            for end in ends:
                part = deltas[max(0, end - window + 1) : end + 1]
                ids = tuple(d.delta_id for d in part)
                first, last = part[0].name, part[-1].name
                try:
                    versions = {
                        fp: compose(
                            {**recipe, "deltas": {"include": list(ids)}}, store=s, record=True
                        )
                        for fp, recipe in recorded_recipes.items()
                    }
                except AssayError as e:
                    rows.append(WindowRow(first, last, ids, (), None, None, error=str(e)))
                    continue
                inputs = [
                    PinnedInput(p.dataset, p.recipe, p.recorded, versions[p.recorded].fingerprint)
                    if p.recorded in windowed
                    else p
                    for p in base
                ]
                rerun = run_command(
                    command,
                    name=f"reproduce {info.name or info.id} window {first}..{last}",
                    params={LINK_PARAM: info.id, "assay.reproduce.window": f"{first}..{last}"},
                    store=s,
                    stdout=stdout,
                    started=None if started is None else (lambda r: started(r, place)),
                    env={PIN_ENV: _pins(s, inputs), SANDBOX_ENV: "reproduce"},
                    cwd=place.folder,
                )
                fps = tuple(v.fingerprint for v in versions.values())
                rows.append(
                    WindowRow(
                        first,
                        last,
                        ids,
                        fps,
                        sum(v.table.num_rows for v in versions.values()),
                        rerun,
                        recorded=all(fp == v.fingerprint for fp, v in versions.items()),
                    )
                )
        if place.how != "in place":
            notes.insert(0, place.note)
        held = sum(len(held_back(r.run)) for r in rows if r.run is not None)
        if held:
            notes.append(
                f"the window re-runs tried {held} registry write(s), held back: the registry "
                "is unchanged (each run's assay.held_back params list them)"
            )
        return WindowReport(info, dataset, window, place, tuple(rows), tuple(notes))
