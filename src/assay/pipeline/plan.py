"""Which stages are stale, and why, before anything runs.

A stage's cache key is the SHA-256 of its *components*: its declaration in the pipeline
file (params included), the content of the declaration and input files it reads, the
fingerprints of the dataset versions it reads (a compose stage's own version, resolved
from its recipe and the deltas now in the catalog without reading a row; the recipes a
check suite's ``on:`` or an evaluation spec's datasets name), the code of a stage that
runs a command (``_code.py``), the model versions its references name now, and the
outputs its upstream stages recorded. A stage whose upstream is stale is stale too —
its upstream's outputs are not known until it runs.

The last successful execution of each stage is kept in the store as an object under
``cache/pipeline/NAME/STAGE.json`` (its key, components, outputs and run): a derived
cache that ``assay gc --caches`` may drop, after which the stages run again. A stage is
fresh when the key it would have now is the one recorded; otherwise the reason says
which component moved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assay.errors import AssayError, NotFound
from assay.pipeline._code import code_files
from assay.pipeline.spec import (
    PIPELINE_FILE,
    CheckStage,
    ComposeStage,
    CompressStage,
    EvaluateStage,
    Pipeline,
    PromoteStage,
    ServeStage,
    SmokeStage,
    TrainStage,
    load_pipeline,
)
from assay.store import Store

__all__ = [
    "CACHE_PREFIX",
    "StageState",
    "Status",
    "assess",
    "components_of",
    "pipeline_store",
    "read_record",
    "record_key",
    "status",
    "write_record",
]

CACHE_PREFIX = "cache/pipeline"
RECORD_FORMAT = "assay-pipeline-stage-v1"
State = Literal["fresh", "stale"]


@dataclass(frozen=True)
class StageState:
    """Whether a stage is fresh, why, and what its key would be now."""

    name: str
    kind: str
    state: State
    reason: str
    components: dict[str, Any] | None  # None when an upstream stage is stale
    record: dict[str, Any] | None  # the last successful execution, if any

    @property
    def fresh(self) -> bool:
        return self.state == "fresh"

    @property
    def key(self) -> str | None:
        return None if self.components is None else key_of(self.components)

    def to_dict(self) -> dict[str, Any]:
        last = self.record or {}
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "reason": self.reason,
            "last_run": last.get("run"),
        }


@dataclass(frozen=True)
class Status:
    """Every stage's state, in dependency order (``assay pipeline status``)."""

    pipeline: str
    stages: list[StageState]

    @property
    def stale(self) -> list[str]:
        return [s.name for s in self.stages if not s.fresh]

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "stages": [s.to_dict() for s in self.stages]}


def record_key(pipeline: Pipeline, stage: str) -> str:
    """The object key of a stage's cache record."""
    return f"{CACHE_PREFIX}/{pipeline.name}/{stage}.json"


def read_record(store: Store, pipeline: Pipeline, stage: str) -> dict[str, Any] | None:
    """The stage's last successful execution; None when never, or unreadable."""
    try:
        data = json.loads(store.objects.get_bytes(record_key(pipeline, stage)))
    except (NotFound, FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        return None  # written by another version of assay: run it again
    return data


def write_record(store: Store, pipeline: Pipeline, stage: str, record: dict[str, Any]) -> None:
    data = {"format": RECORD_FORMAT, "pipeline": pipeline.name, "stage": stage, **record}
    text = json.dumps(data, sort_keys=True, indent=1, default=str)
    store.objects.put_bytes(record_key(pipeline, stage), text.encode())


def key_of(components: dict[str, Any]) -> str:
    text = json.dumps(components, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def status(
    pipeline: Pipeline | str | os.PathLike[str] = PIPELINE_FILE, *, store: Store | str | None = None
) -> Status:
    """Every stage's state and reason, computed without running anything."""
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    with pipeline_store(pipeline, store) as s:
        states: dict[str, StageState] = {}
        for name in pipeline.order:
            states[name] = assess(pipeline, name, s, states)
    return Status(pipeline.name, [states[n] for n in pipeline.order])


@contextlib.contextmanager
def pipeline_store(pipeline: Pipeline, store: Store | str | None = None) -> Iterator[Store]:
    """``store`` itself; else the store it names, the pipeline's ``store:`` (relative to
    its file) or the one ``open_store`` finds — opened, and closed again on exit."""
    if isinstance(store, Store):
        yield store
        return
    from assay.store import open_store

    url = store if store is not None else pipeline.store
    if url is not None and "://" not in url and store is None:
        url = str(pipeline.resolve(url))
    with open_store(url) as s:
        yield s


def assess(
    pipeline: Pipeline, name: str, store: Store, upstream: dict[str, StageState]
) -> StageState:
    """One stage's state, given its upstream stages' (``upstream`` holds them)."""
    stage = pipeline.stages[name]
    record = read_record(store, pipeline, name)
    stale = next((up for up in pipeline.upstream[name] if not upstream[up].fresh), None)
    if stale is not None:
        reason = f"upstream {stale!r} is stale"
        if record is None:
            reason = "never ran"
        else:  # its own inputs may have moved too: that says more
            was = (record.get("components") or {}).get("upstream") or {}
            mine = components_of(pipeline, name, store, was)
            if key_of(mine) != record.get("key"):
                reason = _why(mine, record)
        return StageState(name, stage.kind, "stale", reason, None, record)
    outputs = {up: (upstream[up].record or {}).get("outputs") for up in pipeline.upstream[name]}
    now = components_of(pipeline, name, store, outputs)
    if record is None:
        return StageState(name, stage.kind, "stale", "never ran", now, None)
    if record.get("key") != key_of(now):
        return StageState(name, stage.kind, "stale", _why(now, record), now, record)
    missing = _missing_output(stage, record, store)
    if missing:
        return StageState(name, stage.kind, "stale", missing, now, record)
    return StageState(name, stage.kind, "fresh", "up to date", now, record)


def components_of(
    pipeline: Pipeline, name: str, store: Store, upstream_outputs: dict[str, Any]
) -> dict[str, Any]:
    """What the stage's key hashes (see the module docstring)."""
    stage = pipeline.stages[name]
    files = {rel: _sha(pipeline.resolve(rel)) for rel in stage.files().values()}
    files.update({rel: _sha(pipeline.resolve(rel)) for rel in pipeline.input_files[name]})
    out: dict[str, Any] = {
        "kind": stage.kind,
        "stage": stage.model_dump(mode="json"),
        "files": files,
        "upstream": upstream_outputs,
    }
    if isinstance(stage, ComposeStage):
        out["data"] = {stage.recipe: _fingerprint(pipeline.resolve(stage.recipe), store)}
    elif isinstance(stage, CheckStage):
        out["data"] = _check_data(pipeline, stage, store)
    elif isinstance(stage, EvaluateStage):
        out["data"], refs = _spec_inputs(pipeline.resolve(stage.spec), store)
        out["models"] = _models(refs, store)
    elif isinstance(stage, PromoteStage | CompressStage):
        out["models"] = _models([stage.model], store)
    elif isinstance(stage, ServeStage):
        out["models"] = _models(_config_refs(pipeline.resolve(stage.config)), store)
    elif isinstance(stage, SmokeStage) and stage.of is not None:
        target = pipeline.stages[stage.of]
        out["command"] = getattr(target, "command", None)  # what it tests is that command
    code = code_paths(pipeline, name)
    if code is not None:
        out["code"] = code_files(
            pipeline.root, code, pipeline.declared_files() | _store_dirs(store)
        )
    return out


def code_paths(pipeline: Pipeline, name: str) -> list[str] | None:
    """The paths whose content is a stage's code; None for stages that run no code."""
    stage = pipeline.stages[name]
    if isinstance(stage, SmokeStage) and stage.of is not None:
        stage = pipeline.stages[stage.of]
    if isinstance(stage, TrainStage | SmokeStage):
        return stage.code if stage.code is not None else ["."]
    return None


def _store_dirs(store: Store) -> set[Path]:
    return set() if "://" in store.url else {Path(store.url).resolve()}


def _sha(path: Path) -> str:
    from assay.store.objects import sha256_file

    return sha256_file(path) if path.is_file() else "missing"


def _fingerprint(recipe: Path, store: Store) -> str:
    """The fingerprint the recipe resolves to now; no row is read."""
    from assay.data.compose import resolve_version

    try:
        return resolve_version(recipe, store=store).fingerprint
    except AssayError as e:  # a recipe that does not resolve is stale, and fails when run
        return f"unresolved: {str(e).splitlines()[0]}"


def _check_data(pipeline: Pipeline, stage: CheckStage, store: Store) -> dict[str, str]:
    from assay.checks.expectations import read_suite

    suite_file = pipeline.resolve(stage.suite)
    on = stage.on
    if on is None:
        on = read_suite(suite_file).on
        if on is None:
            return {}
        base = suite_file.parent
    else:
        base = pipeline.root
    path = base / on
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return {on: _fingerprint(path, store)}
    return {on: _sha(path) if path.is_file() else on}


def _spec_inputs(spec_file: Path, store: Store) -> tuple[dict[str, str], list[str]]:
    """The fingerprints of the recipes an evaluation spec reads, and its model refs."""
    from assay.evaluation import load_spec

    spec = load_spec(spec_file)
    data = {}
    for dataset in spec.datasets.values():
        if dataset.recipe is not None:
            recipe = spec_file.parent / dataset.recipe
            data[dataset.recipe] = _fingerprint(recipe, store)
    return data, sorted(set(spec.models.values()))


def _config_refs(config: Path) -> list[str]:
    from assay.experiments.config import load_config

    cfg = load_config(config)
    return [r.model for r in cfg.routes] + list(cfg.shadow)


def _models(refs: list[str], store: Store) -> dict[str, str]:
    """``{reference: NAME@VERSION}`` each reference names now."""
    from assay.models import get_model

    out = {}
    for ref in refs:
        try:
            out[ref] = get_model(ref, store=store).ref
        except AssayError:
            out[ref] = "not registered"
    return out


def _missing_output(stage: Any, record: dict[str, Any], store: Store) -> str | None:
    """Why a stage's recorded output is gone from the store; None when it is there."""
    if isinstance(stage, ComposeStage):
        fingerprint = (record.get("outputs") or {}).get("fingerprint", "")
        try:
            store.catalog.get_version(fingerprint)
        except NotFound:
            return f"its version {fingerprint[:12]} is no longer in the store"
    return None


def _why(now: dict[str, Any], record: dict[str, Any]) -> str:
    """The first component that moved since the recorded run, as a sentence."""
    was = record.get("components") or {}
    if now.get("stage") != was.get("stage"):
        return "its declaration in the pipeline file changed"
    if now.get("command") != was.get("command"):
        return "the command it tests changed in the pipeline file"
    for recipe, fp in (now.get("data") or {}).items():
        before = (was.get("data") or {}).get(recipe)
        if fp != before:
            old = f" (was {before[:12]})" if before else ""
            return f"{recipe} now resolves to version {fp[:12]}{old}"
    if now.get("files") != was.get("files"):
        changed = _changed(now.get("files") or {}, was.get("files") or {})
        return f"file {changed[0]} changed" + (
            f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        )
    if now.get("code") != was.get("code"):
        changed = _changed(now.get("code") or {}, was.get("code") or {})
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"code changed: {', '.join(changed[:3])}{more}"
    for ref, resolved in (now.get("models") or {}).items():
        before = (was.get("models") or {}).get(ref)
        if resolved != before:
            return f"{ref} now names {resolved}" + (f" (was {before})" if before else "")
    for up, outputs in (now.get("upstream") or {}).items():
        if outputs != (was.get("upstream") or {}).get(up):
            return f"upstream {up!r} ran again since (new outputs)"
    return "its inputs changed"


def _changed(now: dict[str, str], was: dict[str, str]) -> list[str]:
    return sorted(p for p in set(now) | set(was) if now.get(p) != was.get(p))
