"""The catalog: what the store holds (datasets, deltas, dataset versions), in SQL.

SQLite in the store folder by default, any SQLAlchemy URL (PostgreSQL for teams)
otherwise. Objects are written before the catalog rows that name them, and every
change is one transaction, so a reader never sees a half-committed delta.

Concurrent writers are serialised by a unique constraint rather than a lock: each
delta takes the next ``number`` of its dataset, and a writer that lost the race gets
``ConcurrentWriteError`` and may retry.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import (
    CatalogDamaged,
    ConcurrentWriteError,
    DatasetNotFound,
    ModelNotFound,
    NotFound,
    UsageError,
    VersionNotFound,
    shorten,
)
from assay.store.objects import crash_point

__all__ = [
    "CATALOG_FORMAT",
    "Catalog",
    "DatasetInfo",
    "DeltaInfo",
    "GoldenRef",
    "ModelVersion",
    "PredictionsInfo",
    "RunArtifact",
    "RunInfo",
    "RunInput",
    "SqlCatalog",
    "VersionInfo",
    "open_catalog",
]

CATALOG_FORMAT = 1
_RECOVER = "assay recover"
# What SQLite says of a truncated, overwritten or otherwise damaged database file.
_DAMAGE = ("database disk image is malformed", "file is not a database")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as the catalog knows it: its key, label and the schema so far."""

    name: str
    key: tuple[str, ...]
    label: str | None
    schema: tuple[tuple[str, str], ...] = ()  # (column, arrow type) in column order
    created_at: str = ""

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.schema]


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

    @property
    def short_id(self) -> str:
        return self.delta_id[:12]


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

    @property
    def ref(self) -> str:
        """``NAME@VERSION``: the reference that names exactly this version."""
        return f"{self.name}@{self.version}"


class Catalog(ABC):
    """The contract every catalog backend meets (tests/store/test_catalog_contract.py)."""

    url: str

    @abstractmethod
    def close(self) -> None:
        """Release connections; the catalog is not used afterwards."""

    @abstractmethod
    def create_dataset(self, name: str, key: Sequence[str], label: str | None) -> DatasetInfo:
        """Record a new, empty dataset; ``UsageError`` if the name is taken."""

    @abstractmethod
    def get_dataset(self, name: str) -> DatasetInfo:
        """The dataset called ``name``; ``DatasetNotFound`` otherwise."""

    @abstractmethod
    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset, by name."""

    @abstractmethod
    def list_deltas(self, dataset: str) -> list[DeltaInfo]:
        """The dataset's deltas in commit order."""

    @abstractmethod
    def commit_delta(self, delta: DeltaInfo, schema: Sequence[tuple[str, str]]) -> DeltaInfo:
        """Record ``delta`` as number ``delta.number`` and set the dataset's schema.

        One transaction. ``ConcurrentWriteError`` if another delta took that number
        (the caller validated against a stale head and must retry), ``UsageError`` if
        the name or content is already committed.
        """

    @abstractmethod
    def record_version(self, version: VersionInfo) -> VersionInfo:
        """Record a dataset version; recording the same fingerprint again is a no-op."""

    @abstractmethod
    def get_version(self, fingerprint: str) -> VersionInfo:
        """The version whose fingerprint is or starts with ``fingerprint``."""

    @abstractmethod
    def list_versions(self, dataset: str | None = None) -> list[VersionInfo]:
        """Recorded versions, oldest first."""

    @abstractmethod
    def referenced_objects(self) -> dict[str, str]:
        """Every object key the catalog names, with the SHA-256 its bytes must have."""

    # runs ---------------------------------------------------------------------------

    @abstractmethod
    def create_run(self, run: RunInfo) -> RunInfo:
        """Record a new run; ``UsageError`` if its id is taken."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunInfo:
        """The run whose id is or starts with ``run_id`` (4+ characters), with its inputs
        and artifacts; ``NotFound`` if there is none."""

    @abstractmethod
    def list_runs(self) -> list[RunInfo]:
        """Every run, newest first, with its inputs and artifacts."""

    @abstractmethod
    def log_run_params(self, run_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Add params to a running run and return them all. A param never changes:
        giving one again with another value is a ``UsageError``."""

    @abstractmethod
    def log_run_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> dict[str, float]:
        """Append values to a running run's metric history and return the latest values.

        Atomic against concurrent writers to the same run: no value is lost. ``step``
        defaults, per key, to one more than the key's last step (0 for the first).
        """

    @abstractmethod
    def end_run(
        self, run_id: str, status: str, *, exit_code: int | None = None, error: str | None = None
    ) -> RunInfo:
        """Mark a running run ``finished`` or ``failed`` now; ``UsageError`` if it ended."""

    @abstractmethod
    def record_run_input(self, run_id: str, run_input: RunInput) -> None:
        """Note that a running run read a recorded version; noting it again is a no-op."""

    @abstractmethod
    def record_run_artifact(self, run_id: str, artifact: RunArtifact) -> RunArtifact:
        """Record an artifact of a running run whose object is already stored.

        The same name with the same content again is a no-op; other content under a
        name the run already used is a ``UsageError``.
        """

    # checks -------------------------------------------------------------------------

    @abstractmethod
    def record_check(self, report: Mapping[str, Any]) -> str:
        """Store a check report (``CheckReport.to_dict()``) and return its new id."""

    @abstractmethod
    def list_checks(
        self, *, fingerprint: str | None = None, suite: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recorded check reports, newest first, optionally of one version or suite."""

    @abstractmethod
    def get_check(self, check_id: str) -> dict[str, Any]:
        """The recorded report whose id is or starts with ``check_id``; ``NotFound``."""

    # evaluations --------------------------------------------------------------------

    @abstractmethod
    def record_predictions(self, info: PredictionsInfo) -> PredictionsInfo:
        """Record cached predictions whose object is stored; the same (model version,
        fingerprint) again is a no-op that returns the recorded one."""

    @abstractmethod
    def find_predictions(
        self, model: str, version: int, fingerprint: str
    ) -> PredictionsInfo | None:
        """The cached predictions of a model version on a dataset version, if any."""

    @abstractmethod
    def record_evaluation(self, report: Mapping[str, Any]) -> str:
        """Store an evaluation (``Evaluation.to_dict()``) against its candidate model
        version and return its new id."""

    @abstractmethod
    def list_evaluations(
        self, *, model: str | None = None, version: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recorded evaluations, newest first, optionally of one candidate model (version)."""

    @abstractmethod
    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        """The evaluation whose id is or starts with ``evaluation_id``; ``NotFound``."""

    # models -------------------------------------------------------------------------

    @abstractmethod
    def register_model_version(self, model: ModelVersion) -> ModelVersion:
        """Record ``model`` as the next version of its name, with its aliases, in one
        transaction (``model.version`` is ignored). Its object is already stored; an
        alias another version of the name holds moves to this one."""

    @abstractmethod
    def get_model_version(self, name: str, version: int | None = None) -> ModelVersion:
        """Version ``version`` of model ``name`` (the latest when None); ``ModelNotFound``."""

    @abstractmethod
    def get_model_alias(self, name: str, alias: str) -> ModelVersion:
        """The version of ``name`` that ``alias`` points to; ``ModelNotFound`` otherwise."""

    @abstractmethod
    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every registered version (of ``name``), by name then version."""

    @abstractmethod
    def set_model_alias(self, name: str, version: int, alias: str) -> ModelVersion:
        """Point ``alias`` at a version, moving it from whichever version held it."""

    @abstractmethod
    def set_model_golden(self, name: str, version: int, golden: GoldenRef) -> ModelVersion:
        """Attach golden examples (already stored) to a version, replacing earlier ones."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


_metadata = sa.MetaData()

_meta = sa.Table(
    "assay_meta",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_datasets = sa.Table(
    "datasets",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_columns", sa.JSON, nullable=False),
    sa.Column("label_column", sa.String(200)),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_deltas = sa.Table(
    "deltas",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("delta_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("op", sa.String(10), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("object_sha256", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("added_columns", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("label_counts", sa.JSON),
    sa.UniqueConstraint("dataset_id", "number", name="uq_delta_number"),
    sa.UniqueConstraint("dataset_id", "delta_id", name="uq_delta_content"),
    sa.UniqueConstraint("dataset_id", "name", name="uq_delta_name"),
)

_versions = sa.Table(
    "versions",
    _metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("recipe", sa.JSON, nullable=False),
    sa.Column("delta_ids", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_runs = sa.Table(
    "runs",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40)),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("git_diff_sha256", sa.String(64)),
    sa.Column("git_root", sa.Text),
    sa.Column("git_note", sa.Text),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    # {"latest": {key: value}, "history": {key: [{"step", "value", "at"}, …]}}
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    # Bumped by every update. Params, metrics and the end are written by compare-and-set
    # on it, so concurrent writers to one run never lose each other's values.
    sa.Column("revision", sa.Integer, nullable=False),
)

_run_inputs = sa.Table(
    "run_inputs",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("fingerprint", sa.String(64), sa.ForeignKey("versions.fingerprint"), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("recipe_source", sa.Text),
    sa.Column("read_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "fingerprint", name="uq_run_input"),
)

_run_artifacts = sa.Table(
    "run_artifacts",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "name", name="uq_run_artifact"),
)

_RUN_TABLES = [_runs, _run_inputs, _run_artifacts]


# checks: one row per suite run, against a version fingerprint (or another target)
_checks = sa.Table(
    "check_results",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("stage", sa.String(200)),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), index=True),
    sa.Column("dataset", sa.String(200)),
    sa.Column("split", sa.String(200)),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("checked_at", sa.String(40), nullable=False),
)


# evaluations: predictions cached per (model version, dataset version), and verdicts
_predictions = sa.Table(
    "predictions",
    _metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("classes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_evaluations = sa.Table(
    "evaluations",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


# models: one row per registered version, aliases unique per (name, alias)
_model_versions = sa.Table(
    "model_versions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(40), nullable=False),
    sa.Column("object_key", sa.String(300)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("signature", sa.JSON),
    # No foreign key: the run tables may be added later than these (see _run_tables),
    # so the run is checked inside the registering transaction instead.
    sa.Column("run_id", sa.String(32)),
    sa.Column("source", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("golden_key", sa.String(300)),
    sa.Column("golden_sha256", sa.String(64)),
    sa.Column("golden_count", sa.Integer),
    sa.Column("golden_at", sa.String(40)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_model_version"),
)

_model_aliases = sa.Table(
    "model_aliases",
    _metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

_MODEL_TABLES = [_model_versions, _model_aliases]


class SqlCatalog(Catalog):
    """A catalog in any database SQLAlchemy 2 reaches (SQLite, PostgreSQL)."""

    def __init__(self, url: str, *, create: bool = False):
        self.url = url
        # Tables known to exist; the others are added on first use (see _ensure).
        self._ready: set[str] = set(_metadata.tables) if create else set()
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as e:
            raise UsageError(f"catalog URL {url!r} is not usable: {e}") from None
        except ModuleNotFoundError as e:
            from assay.errors import MissingDependency

            raise MissingDependency(
                f"catalog URL {url!r} needs the {e.name} driver. "
                "Install it with: pip install 'assay[postgres]'"
            ) from None
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "handle_error", self._damaged)
        if create:
            _metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                found = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.key == "format")
                ).scalar()
                if found is None:
                    conn.execute(_meta.insert().values(key="format", value=str(CATALOG_FORMAT)))
        self._check_format()

    def close(self) -> None:
        self.engine.dispose()

    def _damaged(self, context: sa.engine.ExceptionContext) -> None:
        """Turn SQLite's report of a damaged database file into one actionable line."""
        text = str(context.original_exception)
        if any(sign in text for sign in _DAMAGE):
            raise CatalogDamaged(
                f"catalog {self.url} is damaged ({text}); rebuild it from the store's "
                f"objects with `{_RECOVER}`"
            ) from None

    def _check_format(self) -> None:
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.key == "format")
                ).scalar()
        except sa_exc.OperationalError as e:
            if "no such table" in str(e.orig):  # e.g. a catalog file emptied to 0 bytes
                raise CatalogDamaged(
                    f"catalog {self.url} holds no assay catalog ({e.orig}); if it was lost or "
                    f"damaged, rebuild it from the store's objects with `{_RECOVER}`"
                ) from None
            raise UsageError(
                f"catalog {self.url} cannot be read ({e.orig}); is it an assay store? "
                "Create one with `assay init`"
            ) from None
        if found is None or int(found) > CATALOG_FORMAT:
            raise UsageError(
                f"catalog {self.url} has format {found}, this assay reads format "
                f"{CATALOG_FORMAT}; upgrade assay"
            )

    # datasets -----------------------------------------------------------------

    def create_dataset(self, name: str, key: Sequence[str], label: str | None) -> DatasetInfo:
        info = DatasetInfo(name=name, key=tuple(key), label=label, created_at=_now())
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _datasets.insert().values(
                        name=name,
                        key_columns=list(info.key),
                        label_column=label,
                        schema=[],
                        created_at=info.created_at,
                    )
                )
        except sa_exc.IntegrityError:
            raise UsageError(
                f"dataset {name!r} already exists; add data with `assay data add {name} FILE`"
            ) from None
        return info

    def get_dataset(self, name: str) -> DatasetInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_datasets).where(_datasets.c.name == name)).first()
            if row is None:
                names = [r.name for r in conn.execute(sa.select(_datasets.c.name))]
        if row is None:
            known = ", ".join(sorted(names)) or "none yet"
            if len(name) > 128:  # no such name can be created: do not suggest it
                shown = shorten(name, quote="'")
                raise DatasetNotFound(f"no dataset {shown} in this store (datasets: {known})")
            raise DatasetNotFound(
                f"no dataset {name!r} in this store (datasets: {known}); "
                f"create it with `assay data create {name} --key COLUMN`"
            )
        return _dataset_info(row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_datasets).order_by(_datasets.c.name)).all()
        return [_dataset_info(r) for r in rows]

    # deltas ---------------------------------------------------------------------

    def _dataset_id(self, conn: sa.Connection, name: str) -> int:
        found = conn.execute(sa.select(_datasets.c.id).where(_datasets.c.name == name)).scalar()
        if found is None:
            self.get_dataset(name)  # raises with the helpful message
            raise DatasetNotFound(f"dataset {name!r} vanished while being read; retry")
        return int(found)

    def list_deltas(self, dataset: str) -> list[DeltaInfo]:
        with self.engine.connect() as conn:
            ds_id = self._dataset_id(conn, dataset)
            rows = conn.execute(
                sa.select(_deltas).where(_deltas.c.dataset_id == ds_id).order_by(_deltas.c.number)
            ).all()
        return [_delta_info(dataset, r) for r in rows]

    def commit_delta(self, delta: DeltaInfo, schema: Sequence[tuple[str, str]]) -> DeltaInfo:
        try:
            with self.engine.begin() as conn:
                ds_id = self._dataset_id(conn, delta.dataset)
                conn.execute(
                    _deltas.insert().values(
                        dataset_id=ds_id,
                        number=delta.number,
                        delta_id=delta.delta_id,
                        name=delta.name,
                        op=delta.op,
                        row_count=delta.row_count,
                        object_key=delta.object_key,
                        object_sha256=delta.object_sha256,
                        message=delta.message,
                        author=delta.author,
                        created_at=delta.created_at,
                        tags=list(delta.tags),
                        added_columns=list(delta.added_columns),
                        stats=delta.stats,
                        label_counts=delta.label_counts,
                    )
                )
                conn.execute(
                    _datasets.update()
                    .where(_datasets.c.id == ds_id)
                    .values(schema=[list(c) for c in schema])
                )
                crash_point("in-transaction")  # test hook: die before COMMIT
        except sa_exc.IntegrityError as e:
            raise self._conflict(delta, e) from None
        return delta

    def _conflict(self, delta: DeltaInfo, error: sa_exc.IntegrityError) -> Exception:
        text = str(error.orig)
        existing = {d.number: d for d in self.list_deltas(delta.dataset)}
        if any(d.name == delta.name for d in existing.values()):
            return UsageError(
                f"dataset {delta.dataset!r} already has a delta named {delta.name!r}; "
                "choose another --name"
            )
        if any(d.delta_id == delta.delta_id for d in existing.values()):
            return ConcurrentWriteError(
                f"the same content was just committed to {delta.dataset!r} by another writer"
            )
        if delta.number in existing or "number" in text:
            return ConcurrentWriteError(
                f"another writer committed to dataset {delta.dataset!r} at the same time; "
                "retry the command"
            )
        return UsageError(f"cannot record delta {delta.name!r}: {text}")

    # versions ---------------------------------------------------------------------

    def record_version(self, version: VersionInfo) -> VersionInfo:
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(_versions.c.fingerprint).where(
                    _versions.c.fingerprint == version.fingerprint
                )
            ).scalar()
            if found is None:
                # Recorded concurrently by another process is the same content: keep it.
                _insert_once(
                    conn,
                    _versions,
                    fingerprint=version.fingerprint,
                    dataset_id=self._dataset_id(conn, version.dataset),
                    recipe=version.recipe,
                    delta_ids=list(version.delta_ids),
                    summary=version.summary,
                    created_at=version.created_at or _now(),
                )
        return self.get_version(version.fingerprint)

    def get_version(self, fingerprint: str) -> VersionInfo:
        prefix = fingerprint.strip().lower()
        if len(prefix) < 6:
            raise UsageError(
                f"fingerprint {fingerprint!r} is too short; give at least 6 characters"
            )
        query = (
            sa.select(_versions, _datasets.c.name)
            .join(_datasets, _datasets.c.id == _versions.c.dataset_id)
            .where(_versions.c.fingerprint.startswith(prefix, autoescape=True))
            .limit(2)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise VersionNotFound(
                f"no dataset version {fingerprint!r} is recorded in this store; "
                "list them with `assay data versions`"
            )
        if len(rows) > 1:
            raise UsageError(f"fingerprint prefix {fingerprint!r} is ambiguous; give more of it")
        return _version_info(rows[0])

    def list_versions(self, dataset: str | None = None) -> list[VersionInfo]:
        query = sa.select(_versions, _datasets.c.name).join(
            _datasets, _datasets.c.id == _versions.c.dataset_id
        )
        if dataset is not None:
            query = query.where(_datasets.c.name == dataset)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(_versions.c.created_at)).all()
        return [_version_info(r) for r in rows]

    def referenced_objects(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_deltas.c.object_key, _deltas.c.object_sha256)).all()
        found = {r.object_key: r.object_sha256 for r in rows}
        found.update(self._artifact_objects())
        found.update(self._model_objects())
        found.update(self._prediction_objects())
        return found

    # runs ---------------------------------------------------------------------------

    def _ensure(self, tables: Sequence[sa.Table]) -> None:
        """Add ``tables`` to a catalog made before they existed.

        Runs, models, checks and evaluations came after the first catalogs; adding their
        tables is purely additive (new tables only), so the format stays the same.
        """
        missing = [t for t in tables if t.name not in self._ready]
        if not missing:
            return
        try:
            _metadata.create_all(self.engine, tables=missing)
        except sa_exc.DatabaseError:
            # Another process created them at the same moment; anything else is real.
            inspector = sa.inspect(self.engine)
            if not all(inspector.has_table(t.name) for t in missing):
                raise
        self._ready.update(t.name for t in missing)

    def _run_tables(self) -> None:
        self._ensure(_RUN_TABLES)

    def _artifact_objects(self) -> dict[str, str]:
        self._run_tables()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_run_artifacts.c.object_key, _run_artifacts.c.sha256))
            return {r.object_key: r.sha256 for r in rows}

    def create_run(self, run: RunInfo) -> RunInfo:
        self._run_tables()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _runs.insert().values(
                        id=run.id,
                        name=run.name,
                        status=run.status,
                        started_at=run.started_at or _now(),
                        ended_at=run.ended_at,
                        exit_code=run.exit_code,
                        error=run.error,
                        git_commit=run.git_commit,
                        git_dirty=run.git_dirty,
                        git_diff_sha256=run.git_diff_sha256,
                        git_root=run.git_root,
                        git_note=run.git_note,
                        command=list(run.command),
                        params=dict(run.params),
                        metrics={"latest": dict(run.metrics), "history": run.metric_history},
                        environment=dict(run.environment),
                        revision=0,
                    )
                )
        except sa_exc.IntegrityError:
            raise UsageError(f"run id {run.id!r} is already taken; start the run again") from None
        return self.get_run(run.id)

    def get_run(self, run_id: str) -> RunInfo:
        self._run_tables()
        prefix = run_id.strip().lower()
        if len(prefix) < 4:
            raise UsageError(f"run id {run_id!r} is too short; give at least 4 characters")
        query = sa.select(_runs).where(_runs.c.id.startswith(prefix, autoescape=True)).limit(2)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            exact = [r for r in rows if r.id == prefix]
            if len(rows) == 1 or exact:
                return self._run_infos(conn, exact or rows)[0]
        if not rows:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")
        raise UsageError(f"run id prefix {run_id!r} is ambiguous; give more of it")

    def list_runs(self) -> list[RunInfo]:
        self._run_tables()
        query = sa.select(_runs).order_by(_runs.c.started_at.desc(), _runs.c.id.desc())
        with self.engine.connect() as conn:
            return self._run_infos(conn, conn.execute(query).all(), every=True)

    def _run_infos(
        self, conn: sa.Connection, rows: Sequence[sa.Row[Any]], *, every: bool = False
    ) -> list[RunInfo]:
        """Runs with their inputs and artifacts (``every``: the rows are all the runs)."""
        ids = [r.id for r in rows]
        inputs: dict[str, list[RunInput]] = {i: [] for i in ids}
        artifacts: dict[str, list[RunArtifact]] = {i: [] for i in ids}
        q_in = sa.select(_run_inputs).order_by(_run_inputs.c.id)
        q_art = sa.select(_run_artifacts).order_by(_run_artifacts.c.id)
        if not every:
            q_in = q_in.where(_run_inputs.c.run_id.in_(ids))
            q_art = q_art.where(_run_artifacts.c.run_id.in_(ids))
        for r in conn.execute(q_in):
            inputs[r.run_id].append(
                RunInput(
                    fingerprint=r.fingerprint,
                    dataset=r.dataset,
                    recipe_source=r.recipe_source,
                    read_at=r.read_at,
                )
            )
        for r in conn.execute(q_art):
            artifacts[r.run_id].append(
                RunArtifact(
                    name=r.name,
                    object_key=r.object_key,
                    sha256=r.sha256,
                    size=r.size,
                    created_at=r.created_at,
                )
            )
        return [_run_info(r, inputs[r.id], artifacts[r.id]) for r in rows]

    def _running(self, conn: sa.Connection, run_id: str) -> sa.Row[Any]:
        row = conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")
        if row.status != "running":
            raise UsageError(
                f"run {run_id} has already ended ({row.status}); start a new run to record more"
            )
        return row

    def _update_run(
        self, run_id: str, change: Callable[[sa.Row[Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Set ``change(row)`` on a running run by compare-and-set on its revision.

        The read and the conditional write are separate statements, so no lock is held
        in between (SQLite would refuse to upgrade a stale read lock); a writer that lost
        the race reads again and re-applies its change on top of the winner's.
        """
        self._run_tables()
        for _ in range(10_000):
            with self.engine.connect() as conn:
                row = self._running(conn, run_id)
            values = change(row)
            with self.engine.begin() as conn:
                done = conn.execute(
                    _runs.update()
                    .where(_runs.c.id == run_id, _runs.c.revision == row.revision)
                    .values(**values, revision=row.revision + 1)
                ).rowcount
            if done == 1:
                return values
        raise ConcurrentWriteError(f"run {run_id} is being updated by too many writers; retry")

    def log_run_params(self, run_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        def change(row: sa.Row[Any]) -> dict[str, Any]:
            merged = dict(row.params)
            for key, value in params.items():
                if key in merged and merged[key] != value:
                    raise UsageError(
                        f"param {key!r} of run {run_id} is already {merged[key]!r}, not "
                        f"{value!r}; params do not change within a run — start a new run"
                    )
                merged[key] = value
            return {"params": merged}

        return dict(self._update_run(run_id, change)["params"])

    def log_run_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> dict[str, float]:
        def change(row: sa.Row[Any]) -> dict[str, Any]:
            doc = row.metrics or {}
            latest = dict(doc.get("latest", {}))
            history = {k: list(v) for k, v in doc.get("history", {}).items()}
            at = _now()
            for key, value in metrics.items():
                past = history.setdefault(key, [])
                s = step if step is not None else (past[-1]["step"] + 1 if past else 0)
                past.append({"step": s, "value": value, "at": at})
                latest[key] = value
            return {"metrics": {"latest": latest, "history": history}}

        return dict(self._update_run(run_id, change)["metrics"]["latest"])

    def end_run(
        self, run_id: str, status: str, *, exit_code: int | None = None, error: str | None = None
    ) -> RunInfo:
        if status not in RUN_STATUSES[1:]:
            raise UsageError(f"a run ends 'finished' or 'failed', not {status!r}")
        values = {"status": status, "exit_code": exit_code, "error": error}
        self._update_run(run_id, lambda _row: {**values, "ended_at": _now()})
        return self.get_run(run_id)

    def record_run_input(self, run_id: str, run_input: RunInput) -> None:
        self._run_tables()
        with self.engine.begin() as conn:
            self._running(conn, run_id)
            recorded = conn.execute(
                sa.select(_versions.c.fingerprint).where(
                    _versions.c.fingerprint == run_input.fingerprint
                )
            ).scalar()
            if recorded is None:
                raise VersionNotFound(
                    f"dataset version {run_input.fingerprint[:12]} is not recorded in this "
                    "store; compose it in the run's store"
                )
            # Read before (perhaps at the same moment): the first read stands.
            _insert_once(
                conn,
                _run_inputs,
                run_id=run_id,
                fingerprint=run_input.fingerprint,
                dataset=run_input.dataset,
                recipe_source=run_input.recipe_source,
                read_at=run_input.read_at or _now(),
            )

    def record_run_artifact(self, run_id: str, artifact: RunArtifact) -> RunArtifact:
        self._run_tables()
        with self.engine.begin() as conn:
            self._running(conn, run_id)
            _insert_once(
                conn,
                _run_artifacts,
                run_id=run_id,
                name=artifact.name,
                object_key=artifact.object_key,
                sha256=artifact.sha256,
                size=artifact.size,
                created_at=artifact.created_at or _now(),
            )
            row = conn.execute(
                sa.select(_run_artifacts).where(
                    _run_artifacts.c.run_id == run_id, _run_artifacts.c.name == artifact.name
                )
            ).one()
        if row.sha256 != artifact.sha256:
            raise UsageError(
                f"run {run_id} already has an artifact named {artifact.name!r} with other "
                "content; log this one under another name"
            )
        return RunArtifact(
            name=row.name,
            object_key=row.object_key,
            sha256=row.sha256,
            size=row.size,
            created_at=row.created_at,
        )

    # checks -------------------------------------------------------------------------

    def _check_tables(self) -> None:
        self._ensure([_checks])

    def record_check(self, report: Mapping[str, Any]) -> str:
        import uuid

        self._check_tables()
        check_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(
                _checks.insert().values(
                    id=check_id,
                    suite=report["suite"],
                    stage=report.get("stage"),
                    target=report.get("target", ""),
                    fingerprint=report.get("fingerprint"),
                    dataset=report.get("dataset"),
                    split=report.get("split"),
                    passed=bool(report["passed"]),
                    summary=report.get("summary", ""),
                    report={**report, "id": check_id},
                    checked_at=report.get("checked_at") or _now(),
                )
            )
        return check_id

    def list_checks(
        self, *, fingerprint: str | None = None, suite: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        self._check_tables()
        query = sa.select(_checks.c.report).order_by(_checks.c.checked_at.desc()).limit(limit)
        if fingerprint is not None:
            query = query.where(_checks.c.fingerprint.startswith(fingerprint, autoescape=True))
        if suite is not None:
            query = query.where(_checks.c.suite == suite)
        with self.engine.connect() as conn:
            return [dict(r.report) for r in conn.execute(query)]

    def get_check(self, check_id: str) -> dict[str, Any]:
        self._check_tables()
        return self._report(_checks, check_id, "check result", "assay check history")

    def _report(self, table: sa.Table, prefix: str, what: str, listing: str) -> dict[str, Any]:
        """The stored report whose id is or starts with ``prefix`` (4+ characters)."""
        query = sa.select(table.c.report).where(table.c.id.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(2)).all()
        if len(prefix) < 4 or not rows:
            raise NotFound(f"no {what} {prefix!r}; list them with `{listing}`")
        if len(rows) > 1:
            raise UsageError(f"{what} id {prefix!r} is ambiguous; give more characters")
        return dict(rows[0].report)

    # evaluations --------------------------------------------------------------------

    def _evaluation_tables(self) -> None:
        self._ensure([_predictions, _evaluations])

    def _prediction_objects(self) -> dict[str, str]:
        self._evaluation_tables()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_predictions.c.object_key, _predictions.c.sha256))
            return {r.object_key: r.sha256 for r in rows}

    def _predictions_info(self, row: Any) -> PredictionsInfo:
        return PredictionsInfo(
            model=row.model,
            model_version=row.model_version,
            fingerprint=row.fingerprint,
            object_key=row.object_key,
            sha256=row.sha256,
            rows=row.rows,
            classes=tuple(row.classes),
            created_at=row.created_at,
        )

    def record_predictions(self, info: PredictionsInfo) -> PredictionsInfo:
        self._evaluation_tables()
        with self.engine.begin() as conn:
            _insert_once(
                conn,
                _predictions,
                model=info.model,
                model_version=info.model_version,
                fingerprint=info.fingerprint,
                object_key=info.object_key,
                sha256=info.sha256,
                rows=info.rows,
                classes=list(info.classes),
                created_at=info.created_at or _now(),
            )
        found = self.find_predictions(info.model, info.model_version, info.fingerprint)
        assert found is not None
        return found

    def find_predictions(
        self, model: str, version: int, fingerprint: str
    ) -> PredictionsInfo | None:
        self._evaluation_tables()
        p = _predictions.c
        query = sa.select(_predictions).where(
            p.model == model, p.model_version == version, p.fingerprint == fingerprint
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._predictions_info(row)

    def record_evaluation(self, report: Mapping[str, Any]) -> str:
        import uuid

        self._evaluation_tables()
        evaluation_id = uuid.uuid4().hex
        candidate = report["models"]["candidate"]
        with self.engine.begin() as conn:
            conn.execute(
                _evaluations.insert().values(
                    id=evaluation_id,
                    name=report.get("name"),
                    model=candidate["name"],
                    model_version=candidate["version"],
                    passed=bool(report["passed"]),
                    report={**report, "id": evaluation_id},
                    created_at=report.get("created_at") or _now(),
                )
            )
        return evaluation_id

    def list_evaluations(
        self, *, model: str | None = None, version: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        self._evaluation_tables()
        e = _evaluations.c
        query = sa.select(e.report).order_by(e.created_at.desc()).limit(limit)
        if model is not None:
            query = query.where(e.model == model)
        if version is not None:
            query = query.where(e.model_version == version)
        with self.engine.connect() as conn:
            return [dict(r.report) for r in conn.execute(query)]

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        self._evaluation_tables()
        return self._report(_evaluations, evaluation_id, "evaluation", "assay eval history")

    # models -------------------------------------------------------------------------

    def _model_tables(self) -> None:
        self._ensure([*_RUN_TABLES, *_MODEL_TABLES])  # model versions name runs

    def _model_objects(self) -> dict[str, str]:
        self._model_tables()
        mv = _model_versions.c
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(
                sa.select(mv.object_key, mv.sha256, mv.golden_key, mv.golden_sha256)
            ):
                if r.object_key is not None:
                    found[r.object_key] = r.sha256
                if r.golden_key is not None:
                    found[r.golden_key] = r.golden_sha256
        return found

    def register_model_version(self, model: ModelVersion) -> ModelVersion:
        self._model_tables()
        for attempt in range(50):
            try:
                with self.engine.begin() as conn:
                    if model.run_id is not None:
                        self._check_run_exists(conn, model.run_id)
                    latest = conn.execute(
                        sa.select(sa.func.max(_model_versions.c.version)).where(
                            _model_versions.c.name == model.name
                        )
                    ).scalar()
                    number = int(latest or 0) + 1
                    golden = model.golden
                    conn.execute(
                        _model_versions.insert().values(
                            name=model.name,
                            version=number,
                            flavor=model.flavor,
                            object_key=model.object_key,
                            sha256=model.sha256,
                            size=model.size,
                            options=dict(model.options),
                            signature=model.signature,
                            run_id=model.run_id,
                            source=dict(model.source),
                            description=model.description,
                            golden_key=golden.object_key if golden else None,
                            golden_sha256=golden.sha256 if golden else None,
                            golden_count=golden.count if golden else None,
                            golden_at=(golden.attached_at or _now()) if golden else None,
                            created_at=model.created_at or _now(),
                        )
                    )
                    for alias in model.aliases:
                        self._put_alias(conn, model.name, alias, number)
                    crash_point("in-transaction")  # test hook: die before COMMIT
            except sa_exc.IntegrityError:
                # Another writer took that number (or an alias) at the same moment.
                time.sleep(min(0.5, 0.01 * (attempt + 1)) * random.random())
                continue
            return self.get_model_version(model.name, number)
        raise ConcurrentWriteError(
            f"model {model.name!r} is being registered by too many writers; retry"
        )

    def _check_run_exists(self, conn: sa.Connection, run_id: str) -> None:
        if conn.execute(sa.select(_runs.c.id).where(_runs.c.id == run_id)).first() is None:
            raise NotFound(f"no run {run_id!r} in this store; list the runs with `assay runs list`")

    def _put_alias(self, conn: sa.Connection, name: str, alias: str, version: int) -> None:
        moved = conn.execute(
            _model_aliases.update()
            .where(_model_aliases.c.name == name, _model_aliases.c.alias == alias)
            .values(version=version, updated_at=_now())
        ).rowcount
        if moved == 0:  # a racing insert of the same alias fails the whole transaction
            conn.execute(
                _model_aliases.insert().values(
                    name=name, alias=alias, version=version, updated_at=_now()
                )
            )

    def get_model_version(self, name: str, version: int | None = None) -> ModelVersion:
        self._model_tables()
        mv = _model_versions.c
        query = sa.select(_model_versions).where(mv.name == name)
        if version is None:
            query = query.order_by(mv.version.desc()).limit(1)
        else:
            query = query.where(mv.version == version)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            if row is not None:
                return self._model_infos(conn, [row])[0]
            known = conn.execute(sa.select(sa.func.max(mv.version)).where(mv.name == name)).scalar()
        if known is None:
            raise ModelNotFound(self._unknown_model(name))
        raise ModelNotFound(
            f"model {name!r} has no version {version} (versions 1–{known}); list them with "
            f"`assay models list {name}`"
        )

    def _unknown_model(self, name: str) -> str:
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(_model_versions.c.name).distinct()).scalars().all()
        known = ", ".join(sorted(names)) or "none yet"
        return (
            f"no model {name!r} is registered in this store (models: {known}); register "
            f"one with `assay models register {name} PATH`"
        )

    def get_model_alias(self, name: str, alias: str) -> ModelVersion:
        self._model_tables()
        ma = _model_aliases.c
        with self.engine.connect() as conn:
            number = conn.execute(
                sa.select(ma.version).where(ma.name == name, ma.alias == alias)
            ).scalar()
            aliases = (
                conn.execute(sa.select(ma.alias).where(ma.name == name).order_by(ma.alias))
                .scalars()
                .all()
            )
        if number is None:
            self.get_model_version(name)  # an unknown name says so first
            known = ", ".join(aliases) or "none yet"
            raise ModelNotFound(
                f"model {name!r} has no alias {alias!r} (aliases: {known}); set it with "
                f"`assay models alias {name} VERSION {alias}`"
            )
        return self.get_model_version(name, int(number))

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        self._model_tables()
        mv = _model_versions.c
        query = sa.select(_model_versions).order_by(mv.name, mv.version)
        if name is not None:
            query = query.where(mv.name == name)
        with self.engine.connect() as conn:
            return self._model_infos(conn, conn.execute(query).all(), every=name is None)

    def _model_infos(
        self, conn: sa.Connection, rows: Sequence[sa.Row[Any]], *, every: bool = False
    ) -> list[ModelVersion]:
        ma = _model_aliases.c
        query = sa.select(_model_aliases).order_by(ma.alias)
        if not every:
            query = query.where(ma.name.in_({r.name for r in rows}))
        aliases: dict[tuple[str, int], list[str]] = {}
        for a in conn.execute(query):
            aliases.setdefault((a.name, a.version), []).append(a.alias)
        return [_model_version(r, aliases.get((r.name, r.version), [])) for r in rows]

    def set_model_alias(self, name: str, version: int, alias: str) -> ModelVersion:
        self._model_tables()
        self.get_model_version(name, version)  # names the missing version clearly
        for attempt in range(50):
            try:
                with self.engine.begin() as conn:
                    self._put_alias(conn, name, alias, version)
            except sa_exc.IntegrityError:  # two first settings of one alias raced
                time.sleep(0.01 * (attempt + 1) * random.random())
                continue
            return self.get_model_version(name, version)
        raise ConcurrentWriteError(f"alias {name}@{alias} is being moved by many writers; retry")

    def set_model_golden(self, name: str, version: int, golden: GoldenRef) -> ModelVersion:
        self._model_tables()
        mv = _model_versions.c
        with self.engine.begin() as conn:
            done = conn.execute(
                _model_versions.update()
                .where(mv.name == name, mv.version == version)
                .values(
                    golden_key=golden.object_key,
                    golden_sha256=golden.sha256,
                    golden_count=golden.count,
                    golden_at=golden.attached_at or _now(),
                )
            ).rowcount
        if done != 1:
            self.get_model_version(name, version)  # raises ModelNotFound
        return self.get_model_version(name, version)


def _model_version(row: sa.Row[Any], aliases: Sequence[str]) -> ModelVersion:
    golden = None
    if row.golden_key is not None:
        golden = GoldenRef(
            object_key=row.golden_key,
            sha256=row.golden_sha256,
            count=int(row.golden_count or 0),
            attached_at=row.golden_at or "",
        )
    return ModelVersion(
        name=row.name,
        version=int(row.version),
        flavor=row.flavor,
        object_key=row.object_key,
        sha256=row.sha256,
        size=int(row.size),
        options=dict(row.options or {}),
        signature=row.signature,
        run_id=row.run_id,
        source=dict(row.source or {}),
        description=row.description,
        aliases=tuple(aliases),
        golden=golden,
        created_at=row.created_at,
    )


def _insert_once(conn: sa.Connection, table: sa.Table, **values: Any) -> bool:
    """Insert a row unless a unique constraint says it is there already; whether it was new.

    A savepoint keeps the surrounding transaction usable after the refusal (PostgreSQL
    aborts the whole transaction on an error otherwise).
    """
    try:
        with conn.begin_nested():
            conn.execute(table.insert().values(**values))
    except sa_exc.IntegrityError:
        return False
    return True


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers go on while a writer commits; the busy timeout makes
    # concurrent writers wait for each other instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _dataset_info(row: sa.Row[Any]) -> DatasetInfo:
    return DatasetInfo(
        name=row.name,
        key=tuple(row.key_columns),
        label=row.label_column,
        schema=tuple((c[0], c[1]) for c in row.schema),
        created_at=row.created_at,
    )


def _delta_info(dataset: str, row: sa.Row[Any]) -> DeltaInfo:
    return DeltaInfo(
        dataset=dataset,
        number=row.number,
        delta_id=row.delta_id,
        name=row.name,
        op=row.op,
        row_count=row.row_count,
        object_key=row.object_key,
        object_sha256=row.object_sha256,
        message=row.message,
        author=row.author,
        created_at=row.created_at,
        tags=tuple(row.tags),
        added_columns=tuple(row.added_columns),
        stats=row.stats,
        label_counts=row.label_counts,
    )


def _version_info(row: sa.Row[Any]) -> VersionInfo:
    return VersionInfo(
        fingerprint=row.fingerprint,
        dataset=row.name,
        recipe=row.recipe,
        delta_ids=tuple(row.delta_ids),
        summary=row.summary,
        created_at=row.created_at,
    )


def _run_info(
    row: sa.Row[Any], inputs: Sequence[RunInput], artifacts: Sequence[RunArtifact]
) -> RunInfo:
    metrics = row.metrics or {}
    return RunInfo(
        id=row.id,
        name=row.name,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        exit_code=row.exit_code,
        error=row.error,
        git_commit=row.git_commit,
        git_dirty=None if row.git_dirty is None else bool(row.git_dirty),
        git_diff_sha256=row.git_diff_sha256,
        git_root=row.git_root,
        git_note=row.git_note,
        command=tuple(row.command),
        params=dict(row.params),
        metrics=dict(metrics.get("latest", {})),
        metric_history={k: list(v) for k, v in metrics.get("history", {}).items()},
        environment=dict(row.environment),
        inputs=tuple(inputs),
        artifacts=tuple(artifacts),
    )


def open_catalog(url: str, *, create: bool = False) -> Catalog:
    """The catalog at ``url`` (any SQLAlchemy URL); ``create`` makes its tables."""
    return SqlCatalog(url, create=create)
