"""Run a pipeline: the stale stages, in dependency order, each as a recorded run.

Every stage runs in the pipeline file's folder (relative paths in commands and files
mean what they mean there): paths are resolved against it and commands get it as their
``cwd``; the process's working folder is never changed, so a pipeline may run in a
thread (the dashboard, the demo). One run of a pipeline holds its lock in the store at
a time (``lock.py``): a second waits for it, or refuses with ``wait=False``. A stage that runs a command is that command's run
(``run_command``, or the run ``assay test smoke`` / ``reproduce`` records); the others
run the library inside ``start_run``, so that the versions they compose are the run's
inputs. A stage that fails — a failed check or gate, a command's non-zero exit, an
error — ends its run failed and stops the pipeline with its exit code; the stages after
it do not run, and its cache record is not written (it stays stale).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from assay.errors import AssayError, UsageError
from assay.pipeline.lock import pipeline_lock
from assay.pipeline.plan import StageState, assess, pipeline_store, write_record
from assay.pipeline.spec import (
    PIPELINE_FILE,
    CheckStage,
    ComposeStage,
    CompressStage,
    EvaluateStage,
    Pipeline,
    PromoteStage,
    ReproduceStage,
    ServeStage,
    SmokeStage,
    TrainStage,
    load_pipeline,
)
from assay.runs import Run, start_run
from assay.store import Store

__all__ = ["PipelineRun", "StageRun", "run_pipeline"]

#: Run params that name the pipeline and the stage a run executed.
PIPELINE_PARAM = "assay.pipeline"
STAGE_PARAM = "assay.pipeline.stage"
KEY_PARAM = "assay.pipeline.key"


@dataclass(frozen=True)
class StageRun:
    """One stage that ran: its run, how it ended, what it made."""

    name: str
    reason: str  # why it was stale
    run: str | None
    exit_code: int
    outputs: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # why it failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reason": self.reason,
            "run": self.run,
            "exit_code": self.exit_code,
            "outputs": self.outputs,
            "message": self.message,
        }


@dataclass(frozen=True)
class PipelineRun:
    """What ``run_pipeline`` did: stages run, skipped (fresh) and not reached."""

    pipeline: str
    ran: list[StageRun]
    skipped: list[str]
    not_run: list[str]  # after a failure
    reasons: dict[str, str] = field(default_factory=dict)  # why each stage ran or was skipped

    @property
    def failed(self) -> StageRun | None:
        return next((r for r in self.ran if r.exit_code != 0), None)

    @property
    def exit_code(self) -> int:
        failed = self.failed
        return 0 if failed is None else failed.exit_code

    def to_dict(self) -> dict[str, Any]:
        """``{"ran", "skipped", "exit_code", …}`` (what ``assay pipeline run --json`` prints)."""
        failed = self.failed
        return {
            "pipeline": self.pipeline,
            "ran": [r.name for r in self.ran],
            "skipped": self.skipped,
            "not_run": self.not_run,
            "reasons": self.reasons,
            "exit_code": self.exit_code,
            "failed": None if failed is None else failed.name,
            "message": None if failed is None else failed.message,
            "stages": [r.to_dict() for r in self.ran],
        }


class _StageFailed(Exception):
    def __init__(self, message: str, exit_code: int, run: str | None):
        super().__init__(message)
        self.exit_code = exit_code
        self.run = run


def run_pipeline(
    pipeline: Pipeline | str | os.PathLike[str] = PIPELINE_FILE,
    stages: Sequence[str] = (),
    *,
    store: Store | str | None = None,
    stdout: IO[Any] | int | None = None,
    say: Callable[[str], None] = lambda _: None,
    wait: bool = True,
) -> PipelineRun:
    """Run the stale stages among ``stages`` (default: all) and the stages they read.

    ``store`` is a store or its URL (default: the pipeline's ``store:``, else the one
    ``open_store`` finds). ``stdout`` takes the output of the stages' commands (default:
    this process's); ``say`` hears a line as each stage starts and ends. While another
    run of the pipeline on the store holds its lock, it waits (saying whom for), or with
    ``wait=False`` raises ``PipelineLocked``; stages are assessed once it holds the lock,
    so a run that waited skips what the other made fresh.
    """
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    with pipeline_store(pipeline, store) as s, pipeline_lock(s, pipeline.name, wait=wait, say=say):
        return _run(pipeline, stages, s, stdout, say)


def _run(
    pipeline: Pipeline,
    stages: Sequence[str],
    store: Store,
    stdout: IO[Any] | int | None,
    say: Callable[[str], None],
) -> PipelineRun:
    unknown = [s for s in stages if s not in pipeline.stages]
    if unknown:
        raise UsageError(
            f"{unknown[0]!r} is not a stage of {pipeline.path.name} (stages: "
            f"{', '.join(pipeline.order)}); name one of them"
        )
    selected = pipeline.closure(list(stages)) if stages else list(pipeline.order)
    states: dict[str, StageState] = {}
    ran: list[StageRun] = []
    skipped: list[str] = []
    reasons: dict[str, str] = {}
    for i, name in enumerate(selected):
        state = assess(pipeline, name, store, states)
        reasons[name] = state.reason
        if state.fresh:
            states[name] = state
            skipped.append(name)
            say(f"  = {name}: fresh, skipped")
            continue
        # Its upstream ran just now: its key is known only now.
        assert state.components is not None, f"{name} ran before its upstream"
        say(f"  > {name}: {state.reason}")
        done = _execute(pipeline, name, state, store, stdout)
        ran.append(done)
        if done.exit_code != 0:
            say(f"  x {name}: {done.message}")
            return PipelineRun(pipeline.name, ran, skipped, selected[i + 1 :], reasons)
        record = {
            "key": state.key,
            "components": state.components,
            "outputs": done.outputs,
            "run": done.run,
        }
        write_record(store, pipeline, name, record)
        states[name] = StageState(name, state.kind, "fresh", "ran", state.components, record)
    return PipelineRun(pipeline.name, ran, skipped, [], reasons)


def _execute(
    pipeline: Pipeline, name: str, state: StageState, store: Store, stdout: IO[Any] | int | None
) -> StageRun:
    stage = pipeline.stages[name]
    params = {
        PIPELINE_PARAM: pipeline.name,
        STAGE_PARAM: name,
        KEY_PARAM: state.key,
        **stage.params,
    }
    # Relative paths in commands and declarations mean the pipeline's folder: each is
    # resolved against it, and commands run in it (``cwd``), never by changing this
    # process's working folder. The runs' git state is that folder's.
    started: list[str] = []  # the library stage's run, once it has one
    try:
        if isinstance(stage, TrainStage | SmokeStage | ReproduceStage):
            run_id, outputs = _command_stage(pipeline, name, params, store, stdout)
        else:
            with start_run(name, params, store=store, cwd=pipeline.root) as run:
                started.append(run.id)
                try:
                    outputs = _library_stage(pipeline, name, store, run)
                except _StageFailed as e:
                    run.end(exit_code=e.exit_code)
                    raise
                run_id = run.id
    except _StageFailed as e:
        return StageRun(name, state.reason, e.run, e.exit_code, message=str(e))
    except AssayError as e:  # its run (if it had one) ended failed with the error
        message = " ".join(line.strip() for line in str(e).splitlines()) or type(e).__name__
        return StageRun(
            name, state.reason, started[0] if started else None, e.exit_code, message=message
        )
    return StageRun(name, state.reason, run_id, 0, outputs)


def _library_stage(pipeline: Pipeline, name: str, store: Store, run: Run) -> dict[str, Any]:
    """Run a stage that calls the library (inside its run); its outputs."""
    stage = pipeline.stages[name]
    if isinstance(stage, ComposeStage):
        from assay.data.compose import compose

        out = None if stage.out is None else str(pipeline.resolve(stage.out))
        version = compose(pipeline.resolve(stage.recipe), store=store, out=out)
        return {"fingerprint": version.fingerprint}
    if isinstance(stage, CheckStage):
        from assay.checks import check

        on = None if stage.on is None else _rooted(pipeline, stage.on)
        report = check(pipeline.resolve(stage.suite), on, store=store)
        if not report.passed:
            raise _StageFailed(
                f"check {report.suite} failed ({report.summary()})", report.exit_code, run.id
            )
        return {"passed": True}
    if isinstance(stage, EvaluateStage):
        from assay.evaluation import evaluate

        result = evaluate(pipeline.resolve(stage.spec), store=store, promote=stage.promote)
        if not result.passed:
            first = result.failures[0].message if result.failures else result.summary()
            raise _StageFailed(f"the gate failed: {first}", 1, run.id)
        return {"passed": True, "evaluation": result.id}
    if isinstance(stage, PromoteStage):
        from assay.models import get_model, set_alias

        info = get_model(stage.model, store=store)
        set_alias(info.name, info.version, stage.alias, store=store)
        return {"model": info.ref, "alias": stage.alias}
    if isinstance(stage, CompressStage):
        from assay.compress import compress

        made = compress(
            stage.model,
            stage.method,
            name=stage.name,
            aliases=stage.aliases,
            store=store,
            **{k: _rooted(pipeline, v) for k, v in stage.params.items()},
        )
        return {"model": made.ref}
    if isinstance(stage, ServeStage):
        return _serve(pipeline, stage, store)
    raise AssertionError(f"no runner for stage kind {stage.kind}")


def _command_stage(
    pipeline: Pipeline,
    name: str,
    params: dict[str, Any],
    store: Store,
    stdout: IO[Any] | int | None,
) -> tuple[str, dict[str, Any]]:
    """Run a stage that runs the user's command; its run and outputs."""
    stage = pipeline.stages[name]
    if isinstance(stage, TrainStage):
        from assay.runs import run_command

        info = run_command(
            stage.command,
            name=name,
            params=params,
            store=store,
            stdout=stdout,
            cwd=pipeline.root,
            timeout=stage.timeout,
        )
        if info.status != "finished":
            raise _StageFailed(
                f"{' '.join(stage.command)} failed: {info.error} (run {info.id})",
                info.exit_code or 1,
                info.id,
            )
        made = [m.ref for m in store.catalog.list_model_versions() if m.run_id == info.id]
        return info.id, {"run": info.id, "models": sorted(made)}
    if isinstance(stage, SmokeStage):
        from assay.training.smoke import smoke

        target = pipeline.stages[stage.of] if stage.of is not None else stage
        assert isinstance(target, TrainStage | SmokeStage) and target.command is not None
        report = smoke(
            target.command,
            name=name,
            store=store,
            stdout=stdout,
            timeout=stage.timeout,
            sample=stage.sample,
            cwd=pipeline.root,
        )
        if not report.passed:
            raise _StageFailed(f"smoke test failed: {report.summary()}", 1, report.run.id)
        return report.run.id, {"passed": True}
    assert isinstance(stage, ReproduceStage)
    from assay.pipeline.plan import read_record
    from assay.training.reproduce import reproduce

    recorded = read_record(store, pipeline, stage.of) or {}
    run_id = (recorded.get("outputs") or {}).get("run")
    if not run_id:
        raise UsageError(f"stage {stage.of!r} has no recorded run to reproduce; run it first")
    rerun = reproduce(
        run_id,
        tolerance=stage.tolerance,
        allow_dirty=stage.allow_dirty,
        store=store,
        stdout=stdout,
    )
    if not rerun.passed:
        raise _StageFailed(f"reproduction failed: {rerun.summary()}", 1, rerun.rerun.id)
    return rerun.rerun.id, {"passed": True}


def _rooted(pipeline: Pipeline, value: Any) -> Any:
    """``value`` as an absolute path when it names a file of the pipeline's folder
    (``recipes/x.yaml`` or ``recipes/x.yaml:train``); otherwise as it is (a fingerprint,
    a method's option)."""
    if not isinstance(value, str) or not value:
        return value
    path, colon, split = value.rpartition(":") if ":" in value else (value, "", "")
    if not (pipeline.root / path).is_file():
        return value
    return f"{pipeline.resolve(path)}{colon}{split}"


def _serve(pipeline: Pipeline, stage: ServeStage, store: Store) -> dict[str, Any]:
    """Check a serving config against the registry; pin its models (to ``out``)."""
    import yaml

    from assay.experiments.config import load_config
    from assay.files import atomic_write
    from assay.models import get_model

    path = pipeline.resolve(stage.config)
    config = load_config(path)
    refs = [r.model for r in config.routes] + list(config.shadow)
    pinned = {ref: get_model(ref, store=store).ref for ref in refs}
    if stage.out is not None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for route in doc["routes"]:
            route["model"] = pinned[route["model"]]
        if doc.get("shadow"):
            doc["shadow"] = [pinned[r] for r in doc["shadow"]]
        with atomic_write(pipeline.resolve(stage.out)) as tmp:
            tmp.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return {"models": pinned, "out": stage.out}
