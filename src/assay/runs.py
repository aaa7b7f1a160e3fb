"""Runs: which code read which data, with which params, and what came of it.

A run records the git commit of the working tree (whether it is dirty, and a hash of
the uncommitted changes), every dataset version read inside it, params, metrics,
artifacts (stored content-addressed among the store's objects), the Python and key
package versions, its start and end time and how it ended::

    with assay.start_run("baseline", {"lr": 0.1}) as run:
        train = run.read("recipes/train.yaml").to_pandas(split="train")
        ...
        run.log_metrics({"accuracy": accuracy})
        run.log_artifact("model.onnx")

While a run is active (inside its ``with``), a plain ``assay.compose`` or
``assay.load_version`` registers the version it read as well. ``assay run -- COMMAND``
(``run_command``) starts a run and hands its id to COMMAND in ``ASSAY_RUN_ID``: there
``start_run()`` attaches to that run instead of starting another, and ``assay.compose``
registers what it reads to it even without ``start_run``.

Two environment variables change what ``run.read`` returns, for assay's training tests
(``assay.testing``): ``ASSAY_SMOKE=1`` (``assay test smoke``) makes it a small
deterministic sample and ``run.max_epochs`` 1; ``ASSAY_PINNED_VERSIONS``
(``assay test reproduce``) makes it the version the reproduced run read. A third,
``ASSAY_SANDBOX`` (set by both tests), holds back the command's registry writes: model
versions and alias moves are recorded on its run as ``assay.held_back.N`` params
(``held_back``) instead of changing the user's registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import numbers
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from assay.config import STORE_ENV
from assay.errors import (
    CommandNotFound,
    ConcurrentWriteError,
    InputFileError,
    NotFound,
    UsageError,
)
from assay.events import ask, publish
from assay.retry import retry
from assay.store import Store, open_store, opened
from assay.store.catalog import RunArtifact, RunInfo, RunInput
from assay.store.manifests import write_run_manifest
from assay.store.objects import sha256_file

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion, Progress
    from assay.data.recipe import Recipe

__all__ = [
    "ARTIFACT_PREFIX",
    "HELD_BACK_PARAM",
    "PIN_ENV",
    "RUN_ID_ENV",
    "SANDBOX_ENV",
    "SMOKE_ENV",
    "TIMED_OUT",
    "CommandNotFound",
    "GitState",
    "Run",
    "RunArtifact",
    "RunInfo",
    "RunInput",
    "active_run",
    "describe_held_back",
    "environment",
    "get_run",
    "git_state",
    "held_back",
    "hold_back",
    "is_smoke",
    "list_runs",
    "parse_params",
    "register_read",
    "run_command",
    "run_to_dict",
    "sandbox",
    "start_run",
]

RUN_ID_ENV = "ASSAY_RUN_ID"
SMOKE_ENV = "ASSAY_SMOKE"  # "1": run.read samples, run.max_epochs is 1 (assay test smoke)
PIN_ENV = "ASSAY_PINNED_VERSIONS"  # JSON: which version run.read returns (assay test reproduce)
SANDBOX_ENV = "ASSAY_SANDBOX"  # "reproduce" | "smoke": registry writes are held back
# A process's rank in a distributed job: torchrun, the DeepSpeed launcher and
# torch.distributed's other launchers set it for each process they start.
RANK_ENV = "RANK"
HELD_BACK_PARAM = "assay.held_back"  # run params assay.held_back.1, .2 …: the writes held back
TIMED_OUT = "timed out after"  # how a run stopped by run_command's timeout records its error
ARTIFACT_PREFIX = "artifacts"
NOT_A_REPO = "not a git repository"
KEY_PACKAGES = (
    "assay",
    "pyarrow",
    "duckdb",
    "ibis-framework",
    "numpy",
    "pandas",
    "scikit-learn",
    "torch",
)

_active: ContextVar[Run | None] = ContextVar("assay_active_run", default=None)


def rank() -> int:
    """This process's rank in a distributed job (``RANK``); 0 outside one."""
    try:
        return int(os.environ.get(RANK_ENV, "0"))
    except ValueError:
        return 0


def is_smoke() -> bool:
    """Whether this process runs under ``assay test smoke`` (``ASSAY_SMOKE=1``)."""
    return os.environ.get(SMOKE_ENV) == "1"


def sandbox() -> str | None:
    """The test whose registry writes this process holds back (``ASSAY_SANDBOX``), or None."""
    return os.environ.get(SANDBOX_ENV) or None


def held_back(info: RunInfo) -> list[dict[str, Any]]:
    """The registry writes ``info``'s command held back under ``ASSAY_SANDBOX``, in order."""
    prefix = f"{HELD_BACK_PARAM}."
    numbered = [
        (int(k[len(prefix) :]), v)
        for k, v in info.params.items()
        if k.startswith(prefix) and k[len(prefix) :].isdigit() and isinstance(v, dict)
    ]
    return [v for _, v in sorted(numbered, key=lambda kv: kv[0])]


def kept(store: Store, run_id: str) -> RunInfo:
    """Run ``run_id`` as the catalog now holds it, its manifest rewritten to match.

    Called after every committed change to a run: ``assay recover`` restores runs from
    these manifests (decision 47).
    """
    info = store.catalog.get_run(run_id)
    write_run_manifest(store.objects, info)
    return info


def hold_back(store: Store, run_id: str, write: Mapping[str, Any]) -> None:
    """Record a registry write held back under ``ASSAY_SANDBOX`` as the run's next
    ``assay.held_back.N`` param (plain data: what was not done, and to what)."""

    def attempt() -> None:
        n = len(held_back(store.catalog.get_run(run_id))) + 1
        try:
            store.catalog.log_run_params(run_id, {f"{HELD_BACK_PARAM}.{n}": dict(write)})
        except UsageError:
            # Another thread of the command took number n first: count again. Anything
            # else (the run has ended) is not a race.
            if f"{HELD_BACK_PARAM}.{n}" not in store.catalog.get_run(run_id).params:
                raise
            raise ConcurrentWriteError(f"held-back write number {n} was taken") from None
        kept(store, run_id)

    retry(
        attempt,
        on=(ConcurrentWriteError,),
        what=f"run {run_id} is recording many held-back writes at once",
    )


def describe_held_back(write: Mapping[str, Any]) -> str:
    """One line for a held-back write: ``register employment@3 with alias baseline …``."""
    ref = f"{write.get('name')}@{write.get('version')}"
    if write.get("action") == "alias":
        return f"point {write.get('name')}@{write.get('alias')} at {ref}"
    text = f"register {ref}"
    aliases = list(write.get("aliases") or [])
    if aliases:
        text += f" with alias{'es' if len(aliases) > 1 else ''} {', '.join(aliases)}"
    sha = write.get("sha256")
    return f"{text} (sha256 {str(sha)[:12]})" if sha else text


# --------------------------------------------------------------------------- git


@dataclass(frozen=True)
class GitState:
    """The code a run ran: commit, whether the working tree differs, and how."""

    commit: str | None
    dirty: bool | None
    diff_sha256: str | None  # of the uncommitted changes (untracked files included)
    root: str | None
    note: str | None = None  # why there is no commit


class _NoGit(Exception):
    pass


def _git(args: Sequence[str], cwd: str | os.PathLike[str]) -> bytes | None:
    """``git ARGS`` output, or None when git says no; ``_NoGit`` if git is not installed."""
    # Settings that would change the bytes of a diff are pinned, so the hash depends on
    # the changes alone; optional locks are off so that a run never blocks a git command.
    pinned = [
        "-c",
        "core.quotepath=off",
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicprefix=false",
        "-c",
        "diff.relative=false",
    ]
    try:
        done = subprocess.run(
            ["git", *pinned, *args],
            cwd=cwd,
            capture_output=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except OSError:
        raise _NoGit from None
    return done.stdout if done.returncode == 0 else None


def git_state(
    path: str | os.PathLike[str] | None = None, *, exclude: str | os.PathLike[str] | None = None
) -> GitState:
    """The git state of the working tree holding ``path`` (default: the current folder).

    ``exclude`` is a folder left out of the dirty check and the diff hash (the store,
    when it lives inside the working tree: it changes while the run writes to it).
    """
    cwd = Path(path or Path.cwd())
    try:
        top = _git(["rev-parse", "--show-toplevel"], cwd)
    except _NoGit:
        return GitState(None, None, None, None, "git is not installed")
    if top is None:
        return GitState(None, None, None, None, NOT_A_REPO)
    root = Path(os.fsdecode(top.strip()))
    head = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root)
    commit = head.decode().strip() if head else None
    if commit is None:  # no commit yet: compare with the empty tree
        empty = _git(["hash-object", "-t", "tree", os.devnull], root) or b""
        base = empty.decode().strip()
    else:
        base = commit
    spec = ["--", "."]
    if exclude is not None:
        with contextlib.suppress(ValueError):
            inside = Path(exclude).resolve().relative_to(root.resolve())
            if inside.parts:
                spec.append(f":(exclude){inside.as_posix()}")
    status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=all", *spec], root)
    dirty = bool(status)
    digest: str | None = None
    if dirty:
        h = hashlib.sha256()
        diff_options = ["--binary", "--full-index", "--no-renames", "--no-color"]
        diff_options += ["--no-ext-diff", "--no-textconv"]
        diff = _git(["diff", base, *diff_options, *spec], root)
        h.update(diff or b"")
        untracked = _git(["ls-files", "--others", "--exclude-standard", "-z", *spec], root)
        for name in sorted(n for n in (untracked or b"").split(b"\0") if n):
            h.update(b"\0untracked\0" + name + b"\0")
            file = root / os.fsdecode(name)
            h.update(sha256_file(file).encode() if file.is_file() else b"-")
        digest = h.hexdigest()
    note = None if commit else "the repository has no commits yet"
    return GitState(commit, dirty, digest, str(root), note)


# --------------------------------------------------------------------------- values


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages that decide results.

    Versions come from the installed distributions' metadata; nothing is imported.
    """
    packages = {}
    for name in KEY_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": packages,
    }


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(type(value).__name__)


def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise UsageError(
            f"params are a mapping of name to value, e.g. {{'lr': 0.1}}, not {params!r}"
        )
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"param names are non-empty strings, not {key!r}")
        try:
            out[key] = json.loads(json.dumps(value, allow_nan=False, default=_plain))
        except (TypeError, ValueError):
            raise UsageError(
                f"param {key!r} is {value!r}, which is not plain data (numbers, strings, "
                "booleans, None, and lists or mappings of them); pass str(value)"
            ) from None
    return out


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise UsageError(
            f"log_metrics takes a mapping of name to number, e.g. {{'accuracy': 0.91}}, "
            f"not {metrics!r}"
        )
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"metric names are non-empty strings, not {key!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(
                f"metric {key!r} is {value!r}, not a number; log numbers only (call "
                ".item() on an array or tensor; log other values as params)"
            )
        if not math.isfinite(value):
            raise UsageError(
                f"metric {key!r} is {value!r}; metrics must be finite numbers — check how "
                "it is computed (a division by zero, a diverged model)"
            )
        out[key] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return out


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["lr=0.1", "deep=true", "name=x"]`` → ``{"lr": 0.1, "deep": True, "name": "x"}``.

    A value that reads as an integer, a finite float or true/false becomes one;
    anything else stays a string.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {pair!r} is not KEY=VALUE; write it like --param lr=0.1")
        if key in out:
            raise UsageError(f"--param {key!r} is given twice; give each param once")
        out[key] = _param_value(text)
    return out


def _param_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:2000] if text else type(error).__name__


# --------------------------------------------------------------------------- runs


class Run:
    """A run being recorded. Make one with ``start_run``; use it as a context manager."""

    def __init__(self, info: RunInfo, store: Store, *, attached: bool = False) -> None:
        self.id = info.id
        self.name = info.name
        self.store = store
        self.attached = attached  # joined a run started elsewhere (``ASSAY_RUN_ID``)
        # Rank 1, 2, … of a distributed job under `assay run -- torchrun …`: every rank
        # attaches to the one run, and only rank 0 records params, metrics and artifacts,
        # so that nothing is recorded once per process.
        self.follower = attached and rank() != 0
        self.ended = False
        self._owns_store = False
        self._token: Token[Run | None] | None = None

    def __repr__(self) -> str:
        return f"Run({self.id!r}, name={self.name!r})"

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            self.end()
        elif isinstance(exc, SystemExit):
            self.end(exit_code=exc.code if isinstance(exc.code, int) else 1)
        else:
            self.end(exc)

    def _activate(self) -> None:
        self._token = _active.set(self)

    # what it records -------------------------------------------------------------

    def info(self) -> RunInfo:
        """Everything recorded about the run so far."""
        return self.store.catalog.get_run(self.id)

    @property
    def smoke(self) -> bool:
        """Whether the run is a smoke test (``assay test smoke``): small data, one epoch."""
        return is_smoke()

    @property
    def max_epochs(self) -> int | None:
        """1 in a smoke test, else None: ``for epoch in range(run.max_epochs or epochs)``."""
        return 1 if is_smoke() else None

    def read(
        self,
        recipe: str | os.PathLike[str] | dict[str, Any] | Recipe,
        *,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        """Compose ``recipe`` in the run's store and record the version as an input.

        Under ``assay test reproduce`` the version is the one the reproduced run read for
        this recipe (``ASSAY_PINNED_VERSIONS``), not a compose of today's deltas; under
        ``assay test smoke`` its rows are a small deterministic sample of each split
        (``assay.training.smoke.sample_version``). Both record the version they stand for.
        """
        from assay.data.compose import compose, load_version

        self._check_open()
        # The training tests answer these (wired in assay/__init__.py): runs sits below them.
        pinned = ask("pinned_version", recipe) if os.environ.get(PIN_ENV) else None
        token = _active.set(self)
        try:
            if pinned is not None:
                version = load_version(pinned, store=self.store, progress=progress)
            else:
                version = compose(recipe, store=self.store, progress=progress)
        finally:
            _active.reset(token)
        if is_smoke():
            return ask("smoke_read", version) or version
        return version

    def load(self, fingerprint: str, *, progress: Progress | None = None) -> DatasetVersion:
        """Rebuild a recorded version (fingerprint or prefix) and record it as an input."""
        from assay.data.compose import load_version

        self._check_open()
        token = _active.set(self)
        try:
            return load_version(fingerprint, store=self.store, progress=progress)
        finally:
            _active.reset(token)

    def log_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Add params (plain data); a param already set cannot change. Returns them all.
        On a rank other than 0, nothing is recorded (rank 0 records them)."""
        if self.follower:
            return {**self.info().params, **_check_params(params)}
        logged = self.store.catalog.log_run_params(self.id, _check_params(params))
        kept(self.store, self.id)
        return logged

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Append finite numbers to the metrics' history, at ``step`` or the key's next.
        On a rank other than 0, they are checked and not recorded (rank 0 records its own)."""
        if self.follower:
            _check_metrics(metrics)
            return
        if is_smoke():  # the smoke report names a non-finite metric; the error follows
            publish("smoke_metrics", metrics, step)
        checked = _check_metrics(metrics)
        if step is not None and (
            isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0
        ):
            raise UsageError(f"step is {step!r}; give a whole number >= 0, or leave it out")
        if checked:
            # Not mirrored to the run's manifest here: a training loop logs every step,
            # and rewriting the whole history each time would grow with its square. The
            # run's end writes it (a run that never ends recovers without its metrics).
            self.store.catalog.log_run_metrics(
                self.id, checked, None if step is None else int(step)
            )

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> RunArtifact:
        """Store a file's bytes content-addressed (``artifacts/<sha[:2]>/<sha>``) and
        record it under ``name`` (default: the file name)."""
        source = Path(path)
        if source.is_dir():
            raise InputFileError(
                f"{str(source)!r} is a folder; log its files one by one, or archive it first"
            )
        if not source.is_file():
            raise InputFileError(f"artifact file {str(source)!r} does not exist; check the path")
        label = source.name if name is None else name
        if not isinstance(label, str) or not label.strip():
            raise UsageError(f"artifact name {name!r} is empty; give a name, or leave it out")
        before = source.stat()
        sha = sha256_file(source)
        key = f"{ARTIFACT_PREFIX}/{sha[:2]}/{sha}"
        taken = {a.name: a.sha256 for a in self.info().artifacts}
        if taken.get(label, sha) != sha:  # refused before any bytes are written
            raise UsageError(
                f"run {self.id} already has an artifact named {label!r} with other content; "
                "log this one under another name"
            )
        if self.follower:  # rank 0 stores its own copy of the file
            return RunArtifact(name=label, object_key=key, sha256=sha, size=before.st_size)
        # The object goes first: a crash before the catalog row leaves an unreferenced
        # object for `assay gc`, never a row naming bytes that are not there.
        if not self.store.objects.exists(key):
            self.store.objects.put_file(key, source)
        after = source.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise InputFileError(
                f"{str(source)!r} changed while it was being stored; log it once it is written"
            )
        artifact = self.store.catalog.record_run_artifact(
            self.id, RunArtifact(name=label, object_key=key, sha256=sha, size=after.st_size)
        )
        kept(self.store, self.id)
        return artifact

    def _check_open(self) -> None:
        if self.ended:
            raise UsageError(f"run {self.id} has already ended; start a new run to read more")

    def _note_input(self, version: DatasetVersion) -> None:
        if version.store.url != self.store.url:
            raise UsageError(
                f"run {self.id} records its inputs in the store at {self.store.url}, but "
                f"version {version.short} was read from {version.store.url}; read it with "
                "run.read(recipe) or store=run.store"
            )
        self.store.catalog.record_run_input(self.id, _input(version))
        kept(self.store, self.id)

    # how it ends ------------------------------------------------------------------

    def end(self, error: BaseException | None = None, *, exit_code: int | None = None) -> RunInfo:
        """Mark the run finished — or failed, given an ``error`` or a non-zero ``exit_code``.

        A run attached through ``ASSAY_RUN_ID`` is left running: the ``assay run`` that
        started it records how its command ended.
        """
        if self._token is not None:
            with contextlib.suppress(ValueError):  # ended in another context than begun
                _active.reset(self._token)
            self._token = None
        if self.ended:
            return self.info()
        self.ended = True
        try:
            if self.attached:
                return self.info()
            failed = error is not None or exit_code not in (None, 0)
            self.store.catalog.end_run(
                self.id,
                "failed" if failed else "finished",
                exit_code=exit_code,
                error=_describe(error) if error is not None else None,
            )
            return kept(self.store, self.id)
        finally:
            if self._owns_store:
                self.store.close()


def _current() -> Run | None:
    run = _active.get()
    return None if run is None or run.ended else run


def active_run() -> Run | None:
    """The run whose ``with`` block (or ``start_run`` call) is running here, if any."""
    return _current()


def _input(version: DatasetVersion) -> RunInput:
    return RunInput(
        fingerprint=version.fingerprint,
        dataset=version.dataset.name,
        recipe_source=version.recipe.source,
    )


def register_read(version: DatasetVersion) -> None:
    """Record ``version`` as an input of the active run, or of the ``ASSAY_RUN_ID`` run.

    Called by ``assay.compose`` and ``assay.load_version``; does nothing outside a run.
    """
    run = _current()
    if run is not None:
        run._note_input(version)
        return
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id:
        return
    try:
        version.store.catalog.record_run_input(run_id, _input(version))
        kept(version.store, run_id)
    except NotFound:
        raise UsageError(
            f"{RUN_ID_ENV}={run_id} names no run in the store at {version.store.url}; "
            f"unset {RUN_ID_ENV}, or read from the store the run was started in"
        ) from None
    except UsageError as e:
        raise UsageError(f"{RUN_ID_ENV}={run_id}: {e}, or unset {RUN_ID_ENV}") from None


def _create(
    store: Store,
    name: str | None,
    params: Mapping[str, Any] | None,
    command: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
) -> RunInfo:
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise UsageError(f"run name {name!r} is empty; give a name, or leave it out")
    checked = _check_params(params)
    exclude = None if "://" in store.url else store.url
    folder = Path(cwd) if cwd is not None else Path.cwd()
    git = git_state(folder, exclude=exclude)
    # The folder the command ran in: a relative command or recipe path means nothing
    # without it, and `assay test reproduce` runs the command there again.
    env = {**environment(), "cwd": str(folder.resolve())}
    for attempt in range(3):
        info = RunInfo(
            id=secrets.token_hex(6),
            name=name,
            status="running",
            started_at="",
            git_commit=git.commit,
            git_dirty=git.dirty,
            git_diff_sha256=git.diff_sha256,
            git_root=git.root,
            git_note=git.note,
            command=tuple(command),
            params=checked,
            environment=env,
        )
        try:
            return kept(store, store.catalog.create_run(info).id)
        except UsageError:  # the random id was taken: 48 bits make this rare
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_run(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    store: Store | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Run:
    """Start recording a run (or attach to the one ``ASSAY_RUN_ID`` names) and make it active.

    ``cwd`` is the folder the run works in, whose git state is recorded (default: this
    process's working folder).

    Use it as a context manager: the run ends ``finished`` when the block completes
    and ``failed`` (with the exception's type) when it raises; the exception goes on.
    Without ``with``, call ``run.end()``. Attached to an ``ASSAY_RUN_ID`` run, ``params``
    are added to it, ``name`` is ignored, and ending leaves the run to its starter.
    """
    owns = store is None
    target = store or open_store()
    try:
        run_id = os.environ.get(RUN_ID_ENV)
        if run_id and _current() is None:
            run = _attach(target, run_id, params)
        elif rank() != 0:
            raise UsageError(
                f"start_run on rank {rank()} of a distributed job would record a run per "
                "process; launch it as `assay run -- torchrun …` (every rank then attaches to "
                "one run, and rank 0 records)"
            )
        else:
            run = Run(_create(target, name, params, sys.argv, cwd), target)
    except BaseException:
        if owns:
            target.close()
        raise
    run._owns_store = owns
    run._activate()
    return run


def _attach(store: Store, run_id: str, params: Mapping[str, Any] | None) -> Run:
    try:
        info = store.catalog.get_run(run_id)
    except NotFound:
        raise NotFound(
            f"{RUN_ID_ENV}={run_id} names no run in the store at {store.url}; unset "
            f"{RUN_ID_ENV} to start a new run"
        ) from None
    if info.status != "running":
        raise UsageError(
            f"{RUN_ID_ENV}={run_id} names run {info.id}, which has already ended "
            f"({info.status}); unset {RUN_ID_ENV} to start a new run"
        )
    if params and rank() == 0:  # other ranks' params are rank 0's
        store.catalog.log_run_params(info.id, _check_params(params))
        kept(store, info.id)
    return Run(info, store, attached=True)


def run_command(
    command: Sequence[str],
    *,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    store: Store | None = None,
    stdout: IO[Any] | int | None = None,
    started: Callable[[RunInfo], None] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> RunInfo:
    """Run ``command`` as a recorded run and return the run once it ended.

    The command gets ``ASSAY_RUN_ID`` and ``ASSAY_STORE`` in its environment, so that
    ``assay.start_run()`` and ``assay.compose`` inside it record into this run. The run
    ends ``finished`` if the command exits 0, ``failed`` otherwise; ``exit_code`` is the
    command's (128 + N when signal N killed it). A command that cannot start is a
    ``CommandNotFound``, and its run is marked failed. ``stdout`` redirects the
    command's output; ``started`` is called with the new run once the command started.
    ``env`` adds variables to the command's environment, ``cwd`` is the folder it runs
    in (and whose git state is recorded), and after ``timeout`` seconds the command is
    terminated (killed 5 s later) and the run fails with an error starting "timed out".
    """
    argv = [str(a) for a in command]
    if not argv:
        raise UsageError("give the command to run after `--`, e.g. `assay run -- python train.py`")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout is {timeout!r} seconds; give a number > 0")
    with opened(store) as s:
        info = _create(s, name, params, argv, cwd)
        child_env = {**os.environ, **(env or {}), RUN_ID_ENV: info.id, STORE_ENV: s.url}
        try:
            proc = subprocess.Popen(argv, env=child_env, stdout=stdout, cwd=cwd)
        except OSError as e:
            if isinstance(e, FileNotFoundError):
                code, what = 127, "command not found"
            else:
                code, what = 126, f"cannot execute it ({e.strerror or e})"
            s.catalog.end_run(info.id, "failed", exit_code=code, error=f"{what}: {argv[0]}")
            kept(s, info.id)
            hint = "check the name or give its full path" if code == 127 else "check its mode"
            raise CommandNotFound(
                f"{what}: {argv[0]!r}; {hint} (run {info.id} is recorded as failed)",
                exit_code=code,
            ) from None
        timed_out = False
        try:
            with _forward_sigterm(proc):
                if started is not None:
                    started(info)
                try:
                    returncode = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    returncode = _terminate(proc)
        except BaseException:  # interrupted: the command got the signal too
            returncode = _stop(proc)
            s.catalog.end_run(
                info.id, "failed", exit_code=_exit_code(returncode), error="interrupted"
            )
            kept(s, info.id)
            raise
        code = _exit_code(returncode)
        error = None
        if timed_out:
            error = f"{TIMED_OUT} {timeout:g} s: stopped"
        elif returncode < 0:
            error = f"killed by signal {-returncode}"
        elif code != 0:
            error = f"exited with status {code}"
        ok = code == 0 and not timed_out
        s.catalog.end_run(info.id, "finished" if ok else "failed", exit_code=code, error=error)
        return kept(s, info.id)


@contextlib.contextmanager
def _forward_sigterm(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """Pass a SIGTERM (a CI job cancelled) on to the command, whose end is then recorded."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _terminate(proc: subprocess.Popen[Any]) -> int:
    """Stop a command that ran out of time: SIGTERM, then SIGKILL if it lingers."""
    proc.terminate()
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _stop(proc: subprocess.Popen[Any]) -> int:
    """Give an interrupted command a moment to exit, then make it."""
    for stop, wait in ((None, 10), (proc.terminate, 5), (proc.kill, None)):
        if stop is not None:
            stop()
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def get_run(run_id: str, *, store: Store | None = None) -> RunInfo:
    """The run whose id is or starts with ``run_id`` (at least 4 characters)."""
    with opened(store) as s:
        return s.catalog.get_run(run_id)


def list_runs(*, store: Store | None = None) -> list[RunInfo]:
    """Every recorded run, newest first."""
    with opened(store) as s:
        return s.catalog.list_runs()


def run_to_dict(info: RunInfo) -> dict[str, Any]:
    """A run as plain data (what ``assay runs show --json`` prints)."""
    return {
        "id": info.id,
        "name": info.name,
        "status": info.status,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
        "exit_code": info.exit_code,
        "error": info.error,
        "git": {
            "commit": info.git_commit,
            "dirty": info.git_dirty,
            "diff_sha256": info.git_diff_sha256,
            "root": info.git_root,
            "note": info.git_note,
        },
        "command": list(info.command),
        "params": info.params,
        "metrics": info.metrics,
        "metric_history": info.metric_history,
        "environment": info.environment,
        "inputs": [
            {
                "fingerprint": i.fingerprint,
                "dataset": i.dataset,
                "recipe": i.recipe_source,
                "read_at": i.read_at,
            }
            for i in info.inputs
        ],
        "artifacts": [
            {
                "name": a.name,
                "object_key": a.object_key,
                "sha256": a.sha256,
                "size": a.size,
                "created_at": a.created_at,
            }
            for a in info.artifacts
        ],
    }
