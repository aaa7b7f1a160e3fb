"""The catalog's record types: what each area reads and writes, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_DOMAIN",
    "EXPERIMENT_CHANGES",
    "RUN_STATUSES",
    "DatasetInfo",
    "DeltaInfo",
    "ExperimentChange",
    "ExperimentInfo",
    "GoldenRef",
    "ModelVersion",
    "OutcomesInfo",
    "PredictionsInfo",
    "RunArtifact",
    "RunInfo",
    "RunInput",
    "VersionInfo",
]


#: The domain of a dataset or model created without ``domain=`` (and of everything made
#: before domains existed).
DEFAULT_DOMAIN = "default"


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as the catalog knows it: its key, label and the schema so far."""

    name: str
    key: tuple[str, ...]
    label: str | None
    schema: tuple[tuple[str, str], ...] = ()  # (column, arrow type) in column order
    created_at: str = ""
    owner: str | None = None  # the team that owns it
    domain: str = DEFAULT_DOMAIN  # what access is granted by (docs/access.md)
    description: str = ""

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.schema]


#: How a delta's object holds its rows. ``canonical``: rewritten by assay, sorted by
#: key, with the key hashes (and an upsert's flags) as columns. ``as-is``: an insert's
#: Parquet file stored byte for byte, rows in the file's order (``add_delta(as_is=True)``).
CANONICAL, AS_IS = "canonical", "as-is"
LAYOUTS = (CANONICAL, AS_IS)


@dataclass(frozen=True)
class DeltaInfo:
    """One committed delta: what it is, where its rows are and what they look like."""

    dataset: str
    number: int  # 1-based commit position within the dataset
    delta_id: str  # content hash (see docs/identities.md)
    name: str
    op: str  # insert | upsert | delete
    row_count: int
    object_key: str
    object_sha256: str
    message: str = ""
    author: str = ""
    created_at: str = ""
    tags: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    label_counts: dict[str, int] | None = None
    layout: str = "canonical"  # canonical | as-is (see LAYOUTS)

    @property
    def short_id(self) -> str:
        return self.delta_id[:12]

    @property
    def as_is(self) -> bool:
        """Whether the object is the file as it was given (``LAYOUTS``)."""
        return self.layout == AS_IS


@dataclass(frozen=True)
class PredictionsInfo:
    """A model version's predictions on a dataset version, cached as a stored object."""

    model: str
    model_version: int
    fingerprint: str
    object_key: str
    sha256: str
    rows: int
    classes: tuple[Any, ...] = ()
    created_at: str = ""


@dataclass(frozen=True)
class VersionInfo:
    """A recorded dataset version: the resolved recipe and the deltas it read."""

    fingerprint: str
    dataset: str
    recipe: dict[str, Any]
    delta_ids: tuple[str, ...]
    summary: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


RUN_STATUSES = ("running", "finished", "failed")


@dataclass(frozen=True)
class RunInput:
    """A dataset version a run read."""

    fingerprint: str
    dataset: str
    recipe_source: str | None = None  # the recipe file, when it was read from one
    read_at: str = ""


@dataclass(frozen=True)
class RunArtifact:
    """A file a run produced, stored content-addressed among the objects."""

    name: str
    object_key: str
    sha256: str
    size: int
    created_at: str = ""


@dataclass(frozen=True)
class RunInfo:
    """A run: the code (git), the data it read, params, metrics, artifacts, environment."""

    id: str
    name: str | None
    status: str  # running | finished | failed
    started_at: str
    ended_at: str | None = None
    exit_code: int | None = None
    error: str | None = None  # why it failed, e.g. "ValueError: …"
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_diff_sha256: str | None = None  # of the uncommitted changes, untracked files included
    git_root: str | None = None
    git_note: str | None = None  # why there is no commit: "not a git repository", …
    command: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the latest value per key
    metric_history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[RunInput, ...] = ()
    artifacts: tuple[RunArtifact, ...] = ()


@dataclass(frozen=True)
class GoldenRef:
    """Golden examples attached to a model version: a JSONL object and how many lines."""

    object_key: str
    sha256: str
    count: int
    attached_at: str = ""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version: its artifact, flavor, signature, lineage and aliases."""

    name: str
    version: int  # 1, 2, 3 … per name; assigned by the catalog
    flavor: str  # sklearn | onnx | torch | python | pickle
    object_key: str | None  # None for flavors without bytes (a Python callable)
    sha256: str | None
    size: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # how the flavor loads it
    signature: dict[str, Any] | None = None
    run_id: str | None = None  # the run that produced it, if any
    source: dict[str, Any] = field(default_factory=dict)  # where the bytes came from
    description: str = ""
    aliases: tuple[str, ...] = ()
    golden: GoldenRef | None = None
    created_at: str = ""
    owner: str | None = None  # the team that owns the model (the latest version's rules)
    domain: str = DEFAULT_DOMAIN

    @property
    def ref(self) -> str:
        """``NAME@VERSION``: the reference that names exactly this version."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ExperimentInfo:
    """A recorded online experiment: its endpoint, the config last served, and the arm
    shares in force now (route order; they change with ``set_weights``)."""

    name: str
    endpoint: str
    config: dict[str, Any]  # ``ExperimentConfig.to_dict()``
    weights: dict[str, float]  # arm -> share, in route order, summing to 1
    revision: int = 1  # the number of its latest change
    created_at: str = ""
    updated_at: str = ""


EXPERIMENT_CHANGES = ("start", "config", "weights")


@dataclass(frozen=True)
class ExperimentChange:
    """One entry of an experiment's history: its start, a new config, or new weights.

    ``weights`` are the shares in force after the change; ``config`` is the config a
    start or a config change declared (None for a change of weights alone).
    """

    experiment: str
    number: int  # 1, 2, … per experiment; 1 is the start
    kind: str  # start | config | weights
    at: str  # UTC, ISO 8601
    weights: dict[str, float]
    config: dict[str, Any] | None = None
    by: str | None = None


@dataclass(frozen=True)
class OutcomesInfo:
    """A recorded file of business outcomes, joined to the prediction log by ``by``."""

    experiment: str
    number: int  # 1, 2, … per experiment: a later file wins for a key both name
    id: str  # the SHA-256 of the stored Parquet object (content address)
    by: str  # request_id | sticky_key: the column the rows are keyed by
    columns: tuple[tuple[str, str], ...]  # (column, arrow type), the key column first
    rows: int
    object_key: str
    sha256: str
    source: str = ""  # the file it was read from, or what was passed
    recorded_at: str = ""
