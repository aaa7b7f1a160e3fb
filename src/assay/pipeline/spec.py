"""The pipeline file, ``assay.yaml``: named stages, what each reads and what it makes.

    name: employment                 # the cache's name in the store (default: the folder's)
    store: .assay                    # optional; default ASSAY_STORE or the nearest store
    stages:
      compose-train: {kind: compose, recipe: recipes/train.yaml}
      check-train: {kind: check, suite: checks/train.yaml, inputs: [compose-train]}
      train:
        kind: train
        command: python train.py --recipe recipes/train.yaml --alias candidate
        code: [train.py]             # what the key hashes (default: the folder's files)
        inputs: [compose-train, check-train]
      smoke: {kind: smoke, of: train}
      gate: {kind: evaluate, spec: eval.yaml, inputs: [train, compose-newest]}
      release: {kind: promote, model: employment@candidate, alias: production, inputs: [gate]}

An input is another stage's name, a recipe that a compose stage composes (an edge to
that stage), a file another stage lists in ``outputs`` (an edge to it), or a plain file
(its bytes are part of the key). Paths are relative to the pipeline file. Plain,
validated data: every problem at once, each naming the stage and the field.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from assay._declaration import Declaration, read_declaration
from assay.errors import PipelineError

__all__ = [
    "KINDS",
    "PIPELINE_FILE",
    "Pipeline",
    "Stage",
    "load_pipeline",
]

PIPELINE_FILE = "assay.yaml"
# Stage names appear in object keys and run names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _argv(value: Any) -> Any:
    """A command as a list of arguments; a string is split as a POSIX shell would."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            raise ValueError(f"cannot split the command ({e}); check its quotes") from None
    return value


Command = Annotated[list[str], BeforeValidator(_argv), Field(min_length=1)]


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)  # files it writes, for other stages
    params: dict[str, Any] = Field(default_factory=dict)  # part of the key; commands get them

    def files(self) -> dict[str, str]:
        """The declaration files this stage reads, by field (each must exist)."""
        return {}


class ComposeStage(_Stage):
    """Compose one recipe into a dataset version (its fingerprint is the output)."""

    kind: Literal["compose"]
    recipe: str
    out: str | None = None  # also write the rows here (Parquet)

    def files(self) -> dict[str, str]:
        return {"recipe": self.recipe}


class CheckStage(_Stage):
    """Run a check suite; a failed error-severity expectation stops the pipeline."""

    kind: Literal["check"]
    suite: str
    on: str | None = None  # the data, when not the suite's `on:`

    def files(self) -> dict[str, str]:
        return {"suite": self.suite}


class TrainStage(_Stage):
    """Run a command as a recorded run (``assay run -- COMMAND``)."""

    kind: Literal["train"]
    command: Command
    code: list[str] | None = None  # paths whose content is the code (default: the folder)
    timeout: float | None = Field(default=None, gt=0)


class SmokeStage(_Stage):
    """A smoke test (``assay test smoke``) of a command, or of a train stage's command."""

    kind: Literal["smoke"]
    of: str | None = None  # a train stage
    command: Command | None = None
    code: list[str] | None = None
    timeout: float = Field(default=600.0, gt=0)
    sample: float = Field(default=0.01, gt=0, le=1)


class ReproduceStage(_Stage):
    """Re-run a train stage's recorded run on its pinned data and code; compare metrics."""

    kind: Literal["reproduce"]
    of: str
    tolerance: dict[str, float] = Field(default_factory=dict)
    allow_dirty: bool = False


class EvaluateStage(_Stage):
    """The gate: an evaluation spec; ``promote`` moves an alias to the candidate if it passes."""

    kind: Literal["evaluate"]
    spec: str
    promote: str | None = None

    def files(self) -> dict[str, str]:
        return {"spec": self.spec}


class PromoteStage(_Stage):
    """Move ``alias`` to the version ``model`` names (after the gates upstream passed)."""

    kind: Literal["promote"]
    model: str
    alias: str


class CompressStage(_Stage):
    """Compress a model version (``assay compress``); the new version is the output."""

    kind: Literal["compress"]
    model: str
    method: str
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)


class ServeStage(_Stage):
    """Check a serving config and pin its models; ``out`` gets the pinned config."""

    kind: Literal["serve"]
    config: str
    out: str | None = None

    def files(self) -> dict[str, str]:
        return {"config": self.config}


Stage = (
    ComposeStage
    | CheckStage
    | TrainStage
    | SmokeStage
    | ReproduceStage
    | EvaluateStage
    | PromoteStage
    | CompressStage
    | ServeStage
)
_MODELS: dict[str, type[_Stage]] = {
    "compose": ComposeStage,
    "check": CheckStage,
    "train": TrainStage,
    "smoke": SmokeStage,
    "reproduce": ReproduceStage,
    "evaluate": EvaluateStage,
    "promote": PromoteStage,
    "compress": CompressStage,
    "serve": ServeStage,
}
KINDS = tuple(_MODELS)
#: Kinds that run the user's code: their key holds the code's content.
CODE_KINDS = ("train", "smoke")


@dataclass(frozen=True)
class Pipeline:
    """A loaded pipeline: its stages in file order and the edges between them."""

    name: str
    path: Path  # the pipeline file
    stages: dict[str, Stage]
    upstream: dict[str, tuple[str, ...]]  # stage -> the stages it reads, in input order
    input_files: dict[str, tuple[str, ...]]  # stage -> plain files it reads (relative)
    store: str | None = None
    order: tuple[str, ...] = field(default=())  # dependency order, file order on ties

    @property
    def root(self) -> Path:
        """The folder the pipeline file is in: paths are relative to it; commands run there."""
        return self.path.parent

    def resolve(self, path: str) -> Path:
        """A path of the file, as the pipeline's folder sees it."""
        return (self.root / path).resolve()

    def downstream(self, name: str) -> list[str]:
        """The stages that read ``name``, directly or through others, in order."""
        found: set[str] = set()
        for stage in self.order:
            if any(u == name or u in found for u in self.upstream[stage]):
                found.add(stage)
        return [s for s in self.order if s in found]

    def closure(self, names: list[str]) -> list[str]:
        """``names`` and every stage they read, directly or not, in order."""
        wanted = set(names)
        for stage in reversed(self.order):
            if stage in wanted:
                wanted.update(self.upstream[stage])
        return [s for s in self.order if s in wanted]

    def declared_files(self) -> set[Path]:
        """Every file the pipeline names (declarations, inputs, outputs) and itself:
        data and declarations, which the default code of a train stage leaves out."""
        found = {self.path.resolve()}
        for name, stage in self.stages.items():
            paths = [*stage.files().values(), *stage.outputs, *self.input_files[name]]
            paths += [p for p in (getattr(stage, "out", None),) if p]
            found.update(self.resolve(p) for p in paths)
        return found

    def edges(self) -> Iterator[tuple[str, str]]:
        """(upstream, downstream) pairs, in order."""
        for stage in self.order:
            for up in self.upstream[stage]:
                yield up, stage

    def to_dict(self) -> dict[str, Any]:
        """The DAG as nodes and edges (what ``assay pipeline dag --json`` prints)."""
        return {
            "name": self.name,
            "file": str(self.path),
            "nodes": [
                {"name": n, "kind": self.stages[n].kind, "inputs": list(self.stages[n].inputs)}
                for n in self.order
            ],
            "edges": [{"from": a, "to": b} for a, b in self.edges()],
        }

    def mermaid(self) -> str:
        """The DAG as a Mermaid flowchart."""
        ids = {n: f"s{i}" for i, n in enumerate(self.order)}
        lines = ["flowchart TD"]
        lines += [f'  {ids[n]}["{n} ({self.stages[n].kind})"]' for n in self.order]
        lines += [f"  {ids[a]} --> {ids[b]}" for a, b in self.edges()]
        return "\n".join(lines) + "\n"


def load_pipeline(path: str | os.PathLike[str] = PIPELINE_FILE) -> Pipeline:
    """Read and check a pipeline file; every problem at once (``PipelineError``)."""
    file = Path(path)
    if file.is_dir():
        raise PipelineError(
            f"pipeline {file}",
            [f"is a folder, not a file; pass --file {file / PIPELINE_FILE} or another file"],
        )
    if not file.is_file():
        raise PipelineError(
            f"pipeline {file}",
            ["the file does not exist; write one (see docs/pipeline.md) or pass --file PATH"],
        )
    declaration = read_declaration(
        str(file), "pipeline", PipelineError, expected="`stages` (a mapping of stage names)"
    )
    return _build(file.resolve(), declaration)


def _build(file: Path, declaration: Declaration) -> Pipeline:
    data = declaration.data
    problems: list[str] = []
    for key in sorted(set(data) - {"name", "store", "stages"}):
        problems.append(f"{key}{_at(declaration, key)}: unknown field; use name, store, stages")
    raw = data.get("stages")
    if not isinstance(raw, dict) or not raw:
        problems.append(f"stages{_at(declaration, 'stages')}: give a mapping of stage names")
        raise PipelineError(declaration.label, problems)
    # Default: the folder's name, made fit for an object key.
    name = data.get(
        "name", re.sub(r"[^A-Za-z0-9_.-]+", "-", file.parent.name).strip("-.") or "pipeline"
    )
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(
            f"name{_at(declaration, 'name')}: {name!r} must hold only letters, digits, "
            "'_', '.' or '-'"
        )
    store = data.get("store")
    if store is not None and not isinstance(store, str):
        problems.append(f"store{_at(declaration, 'store')}: give the store's path or URL")
    stages: dict[str, Stage] = {}
    for stage_name, body in raw.items():
        where = f"stages.{stage_name}"
        if not isinstance(stage_name, str) or not _NAME.match(stage_name):
            problems.append(
                f"{where}: the name must hold only letters, digits, '_', '.' or '-'; rename it"
            )
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}{_at(declaration, 'stages', stage_name)}: give a mapping")
            continue
        kind = body.get("kind")
        model = _MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            problems.append(
                f"{where}.kind{_at(declaration, 'stages', stage_name, 'kind')}: "
                f"{'missing' if kind is None else f'unknown stage kind {kind!r}'}; "
                f"use one of {', '.join(KINDS)}"
            )
            continue
        try:
            stages[stage_name] = model.model_validate(body)  # type: ignore[assignment]
        except ValidationError as e:
            problems += _problems(e, declaration, stage_name)
    if problems:
        raise PipelineError(declaration.label, problems)
    root = file.parent
    upstream, files = _edges(stages, root, problems)
    for stage_name, stage in stages.items():
        for what, rel in stage.files().items():
            if not (root / rel).is_file():
                problems.append(
                    f"stages.{stage_name}.{what}: {rel} does not exist; check the path "
                    "(relative to the pipeline file)"
                )
    if problems:
        raise PipelineError(declaration.label, problems)
    order = _order(list(stages), upstream, declaration.label)
    return Pipeline(
        name=name,
        path=file,
        stages=stages,
        upstream=upstream,
        input_files=files,
        store=store,
        order=tuple(order),
    )


def _edges(
    stages: dict[str, Stage], root: Path, problems: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Each stage's upstream stages and its plain input files, from its inputs."""
    composes = {
        (root / s.recipe).resolve(): n for n, s in stages.items() if isinstance(s, ComposeStage)
    }
    made = {(root / o).resolve(): n for n, s in stages.items() for o in s.outputs}
    upstream: dict[str, tuple[str, ...]] = {}
    files: dict[str, tuple[str, ...]] = {}
    for name, stage in stages.items():
        ups: list[str] = []
        plain: list[str] = []
        of = getattr(stage, "of", None)
        if of is not None:
            target = stages.get(of)
            if target is None or not isinstance(target, TrainStage):
                problems.append(
                    f"stages.{name}.of: {of!r} is not a train stage of this pipeline; name one"
                )
            elif isinstance(stage, ReproduceStage):  # it re-runs that stage's run
                ups.append(of)
            # A smoke test takes only the command (its code is in its key): it may run
            # before the train stage, which can then read it as an input.
        if isinstance(stage, SmokeStage) and (stage.of is None) == (stage.command is None):
            problems.append(f"stages.{name}: give `of: TRAIN_STAGE` or `command`, not both")
        for i, entry in enumerate(stage.inputs):
            path = (root / entry).resolve()
            if entry == name:
                problems.append(f"stages.{name}.inputs[{i}]: a stage cannot read itself")
            elif entry in stages:
                ups.append(entry)
            elif path in composes:
                ups.append(composes[path])
            elif path in made:
                ups.append(made[path])
            elif path.exists():
                plain.append(entry)
            else:
                close = ", ".join(stages) or "none"
                problems.append(
                    f"stages.{name}.inputs[{i}]: {entry!r} is neither a stage ({close}) nor "
                    "an existing file; fix the name or the path"
                )
        upstream[name] = tuple(dict.fromkeys(ups))
        files[name] = tuple(plain)
    return upstream, files


def _order(names: list[str], upstream: dict[str, tuple[str, ...]], label: str) -> list[str]:
    """Stages in dependency order (file order among stages that may run together);
    a cycle is a ``PipelineError`` naming it."""
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if all(u in placed for u in upstream[n])]
        if not ready:
            raise PipelineError(label, [f"stages: {_cycle(remaining, upstream)}"])
        done.append(ready[0])
        placed.add(ready[0])
        remaining.remove(ready[0])
    return done


def _cycle(remaining: list[str], upstream: dict[str, tuple[str, ...]]) -> str:
    """One cycle among ``remaining`` stages, as text: 'a -> b -> a'."""
    path = [remaining[0]]
    while True:
        nxt = next(u for u in upstream[path[-1]] if u in remaining)
        if nxt in path:
            loop = [*path[path.index(nxt) :], nxt]
            return (
                f"the stages read each other in a cycle ({' -> '.join(reversed(loop))}); "
                "remove one of these inputs"
            )
        path.append(nxt)


def _at(declaration: Declaration, *path: Any) -> str:
    written = declaration.at(*path)
    return f" ({written.at})" if written else ""


def _problems(error: ValidationError, declaration: Declaration, stage: str) -> list[str]:
    out = []
    for err in error.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        what = f"stages.{stage}{loc}"
        path: tuple[Any, ...] = ("stages", stage, *err["loc"])
        while len(path) > 2 and declaration.at(*path) is None:
            path = path[:-1]
        where = _at(declaration, *path)
        if err["type"] == "extra_forbidden":
            out.append(f"{what}{where}: unknown field; remove it or check the spelling")
        elif err["type"] == "missing":
            out.append(f"{what}{where}: missing; this kind of stage needs it")
        else:
            out.append(f"{what}{where}: {err['msg'].removeprefix('Value error, ')}")
    return out
