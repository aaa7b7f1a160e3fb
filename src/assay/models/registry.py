"""The model registry: numbered versions per name, aliases, signatures and lineage.

A version is registered from a file (``.skops``, ``.onnx``, ``.pt``, …), from a run's
artifact, from a fitted in-memory model, or from ``module:function``. Its bytes are
stored content-addressed among the store's objects (``artifacts/<sha[:2]>/<sha>``, the
same place a run's artifacts go, so the same bytes are stored once) *before* the one
catalog transaction that records the version, its aliases and its golden examples:
a failure anywhere leaves nothing registered — at most an unreferenced object that
``assay gc`` removes.

References: ``NAME@ALIAS``, ``NAME@VERSION``, and a bare ``NAME`` (or ``NAME@latest``)
for the newest version; MLflow's ``models:/NAME@ALIAS`` and ``models:/NAME/VERSION`` name
the same things::

    model = assay.load_model("employment@production")
    model.predict(df)            # checked against model.signature first
    model.info.run_id            # lineage: the run, hence data and code

Under ``assay test reproduce`` and ``assay test smoke`` (``ASSAY_SANDBOX``) nothing is
written: ``register_model`` and ``set_alias`` check what they are given as usual, then
record the write on the test's run (``assay.runs.held_back``) and return the version as
it would have been, so the training script runs unchanged and production stays as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import (
    InputFileError,
    ModelCheckFailed,
    ModelNotFound,
    NotFound,
    SignatureError,
    UsageError,
)
from assay.models._predict import answer, one_per_row
from assay.models.flavors import Predictor, flavor_for_file, flavor_for_object, get_flavor
from assay.models.flavors.pickle import refuse_pickle
from assay.models.flavors.python import is_entry_point
from assay.models.signature import Batch, Column, Signature, infer_signature, to_batch
from assay.runs import ARTIFACT_PREFIX, RUN_ID_ENV, active_run, held_back, hold_back, sandbox
from assay.store import Store, opened
from assay.store.catalog import GoldenRef, ModelVersion, RunInfo
from assay.store.manifests import write_model_manifests
from assay.store.ownership import DEFAULT_DOMAIN, check_domain, check_owner

__all__ = [
    "Model",
    "ModelRef",
    "ModelVersion",
    "get_model",
    "lineage",
    "list_models",
    "load_model",
    "model_to_dict",
    "parse_ref",
    "register_model",
    "set_alias",
]

SAMPLE_ROWS = 200  # rows taken from a run's data to infer a signature (or check parity)

# CPython 3.11 before 3.11.8 (gh-106905) keeps the AST constructor's depth in
# interpreter-wide state, so two threads parsing at once (NumPy reads every .npy
# header with ast.literal_eval, and skops loads through it) can fail with
# "SystemError: AST constructor recursion depth mismatch". Servers load models
# on worker threads; loading one at a time costs nothing next to the I/O.
_LOADING = threading.Lock()

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,199}$")
MLFLOW_SCHEME = "models:/"  # MLflow's model URIs: models:/NAME@ALIAS, models:/NAME/3


# --------------------------------------------------------------------------- refs


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name and a version number, an alias, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias}" if self.alias else self.name


def parse_ref(ref: str) -> ModelRef:
    """``"employment@production"`` → ``ModelRef("employment", alias="production")``;
    ``"models:/employment@production"`` and ``"models:/employment/3"`` (MLflow's URIs)
    parse the same way."""
    if not isinstance(ref, str):
        raise UsageError(f"a model reference is a string like 'NAME@ALIAS', not {ref!r}")
    text = ref.strip()
    if text.startswith(MLFLOW_SCHEME):
        text = _from_mlflow_uri(ref, text.removeprefix(MLFLOW_SCHEME))
    name, sep, selector = text.partition("@")
    if not _NAME.match(name) or (sep and not selector):
        raise UsageError(
            f"model reference {ref!r} is not NAME, NAME@VERSION or NAME@ALIAS "
            "(e.g. employment@production, employment@3)"
        )
    if not sep or selector == "latest":
        return ModelRef(name)
    if selector.isdigit():
        return ModelRef(name, version=int(selector))
    if not _ALIAS.match(selector):
        raise UsageError(
            f"{selector!r} in {ref!r} is neither a version number nor an alias (letters, "
            "digits, '_', '.', '-', starting with a letter)"
        )
    return ModelRef(name, alias=selector)


def _from_mlflow_uri(ref: str, path: str) -> str:
    """``NAME@ALIAS`` or ``NAME@VERSION`` for the part of ``models:/…`` after the scheme."""
    if "@" in path or "/" not in path:
        return path
    name, _, version = path.partition("/")
    if version.isdigit() or version == "latest":
        return f"{name}@{version}"
    raise UsageError(
        f"model reference {ref!r} is not models:/NAME@ALIAS or models:/NAME/VERSION "
        "(MLflow stages are not read: point an alias at the version and use models:/NAME@ALIAS)"
    )


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias == "latest":
        raise UsageError(
            f"alias {alias!r} is not usable: aliases start with a letter, hold letters, "
            "digits, '_', '.', '-', and 'latest' is reserved for the newest version"
        )
    return alias


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            f"model name {name!r} is not usable: letters, digits, '_', '.', '-' (no '@')"
        )
    return name


def resolve_ref(store: Store, ref: str | ModelRef) -> ModelVersion:
    r = parse_ref(ref) if isinstance(ref, str) else ref
    if r.alias is not None:
        return store.catalog.get_model_alias(r.name, r.alias)
    return store.catalog.get_model_version(r.name, r.version)


def get_model(ref: str, *, store: Store | None = None) -> ModelVersion:
    """The version record ``ref`` names (``NAME``, ``NAME@VERSION`` or ``NAME@ALIAS``)."""
    with opened(store) as s:
        return resolve_ref(s, ref)


def list_models(name: str | None = None, *, store: Store | None = None) -> list[ModelVersion]:
    """Every registered version (of ``name``), by name then version."""
    with opened(store) as s:
        if name is not None:
            _check_name(name)
            found = s.catalog.list_model_versions(name)
            if not found:
                s.catalog.get_model_version(name)  # raises ModelNotFound, naming the others
            return found
        return s.catalog.list_model_versions()


def set_alias(name: str, version: int, alias: str, *, store: Store | None = None) -> ModelVersion:
    """Point ``NAME@ALIAS`` at ``version``, moving it from the version that held it."""
    _check_name(name)
    check_alias(alias)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UsageError(f"version {version!r} is not a version number (1, 2, 3 …)")
    with opened(store) as s:
        if sandbox() is not None:
            return _hold_back_alias(s, name, version, alias)
        return _kept(s, s.catalog.set_model_alias(name, version, alias))


# --------------------------------------------------------------------------- loading


class Model:
    """A loaded model version: ``predict`` (checked against ``signature``) and ``info``."""

    def __init__(self, info: ModelVersion, predictor: Predictor, signature: Signature | None):
        self.info = info
        self.signature = signature
        self._predictor = predictor

    def __repr__(self) -> str:
        return f"Model({self.info.ref!r}, flavor={self.info.flavor!r})"

    @property
    def flavor(self) -> str:
        return self.info.flavor

    @property
    def raw(self) -> Any:
        """The flavor's own object: the estimator, ONNX session, torch module or function."""
        return self._predictor.raw

    @property
    def has_proba(self) -> bool:
        return self._predictor.has_proba

    @property
    def reads_names(self) -> bool:
        """Whether the model reads input columns by name, not only by their order."""
        return self._predictor.reads_names or bool(self.signature and self.signature.columns)

    def _batch(self, data: Any) -> Batch:
        batch = to_batch(data)
        if self.signature is None:
            return batch
        return self.signature.check(batch, self._name)

    def predict(self, data: Any, *, source: str = "the input") -> np.ndarray:
        """The model's answer for each row of ``data`` (a DataFrame, an Arrow table, a
        mapping of columns or of one row, a list of rows, or an array).

        A model that raises, or does not answer once per row, is a ``PredictError``
        naming this version, ``source`` (the data, for the message) and the rows.
        """
        batch = self._batch(data)
        return answer(self._predictor, "predict", batch, model=self._name, source=source)

    def __getattr__(self, name: str) -> Any:
        # predict_proba exists only where the flavor has it, so hasattr() tells.
        if name == "predict_proba" and self.__dict__["_predictor"].has_proba:
            return self._predict_proba
        raise AttributeError(
            f"{type(self).__name__} of flavor {self.__dict__['info'].flavor!r} has no {name!r}"
        )

    def _predict_proba(self, data: Any, *, source: str = "the input") -> np.ndarray:
        """Class probabilities for each row of ``data`` (a ``PredictError`` as ``predict``)."""
        batch = self._batch(data)
        return answer(self._predictor, "predict_proba", batch, model=self._name, source=source)

    @property
    def _name(self) -> str:
        return f"model {self.info.ref}"


def _artifact_bytes(store: Store, info: ModelVersion) -> bytes | None:
    if info.object_key is None:
        return None
    from assay.store.verified import read_verified

    assert info.sha256 is not None  # recorded with every stored artifact
    return read_verified(
        store.objects, info.object_key, info.sha256, f"the artifact of model {info.ref}"
    )


def load_version(store: Store, info: ModelVersion, *, trusted: bool = False) -> Model:
    """Load a version record's artifact with its flavor and signature."""
    data = _artifact_bytes(store, info)
    if info.flavor == "pickle" and not trusted:
        raise refuse_pickle(f"model {info.ref}")
    with _LOADING:
        predictor = get_flavor(info.flavor).load(data, info.options, trusted=trusted)
    return Model(info, predictor, Signature.from_dict(info.signature))


def load_model(ref: str, *, trusted: bool = False, store: Store | None = None) -> Model:
    """Load the model ``ref`` names, ready to ``predict`` (the way serving loads it).

    ``trusted=True`` allows pickles and skops types outside scikit-learn/NumPy/SciPy,
    both of which can run code while loading.
    """
    with opened(store) as s:
        return load_version(s, resolve_ref(s, ref), trusted=trusted)


# --------------------------------------------------------------------------- registering


@dataclass
class _Source:
    """A model's bytes and where they came from, before anything is written."""

    flavor: str
    data: bytes | None
    options: dict[str, Any]
    source: dict[str, Any]
    run_id: str | None = None
    object_key: str | None = None  # already stored (a run's artifact)


def register_model(
    name: str,
    model: Any = None,
    *,
    from_run: str | None = None,
    artifact: str | None = None,
    flavor: str | None = None,
    aliases: Sequence[str] = (),
    sample: Any = None,
    trusted: bool = False,
    golden: str | os.PathLike[str] | None = None,
    require_golden: bool = False,
    model_class: str | None = None,
    init: dict[str, Any] | None = None,
    description: str = "",
    signature: Signature | None = None,
    options: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    owner: str | None = None,
    domain: str | None = None,
    store: Store | None = None,
) -> ModelVersion:
    """Register the next version of model ``name`` and return its record.

    ``model`` is a file path, a fitted in-memory model (scikit-learn estimator, ONNX
    graph, torch module) or ``"module:function"``; or give ``from_run`` (a run id) to
    take the run's model artifact (``artifact`` picks one when it has several). The
    signature is inferred from ``sample`` (a DataFrame, Arrow table, rows or array);
    without one, from the model itself or from rows of the data its run read. Inside
    an active run the version records that run. ``golden`` attaches golden examples
    (JSONL); with ``require_golden`` a failing example refuses the registration.
    Torch state dicts need ``model_class="module:Class"`` (built with ``init``).
    A format that records more (an MLflow directory) gives the declared ``signature``
    (``sample`` is then checked against it and answered for the outputs), the flavor's
    load ``options``, and the ``source`` recorded in place of the file's path.
    ``owner`` (a team) and ``domain`` (what tokens grant access by; ``default``) are the
    model's: a later version keeps them unless ``owner`` is given, and cannot change the
    domain.
    """
    from assay.models.golden import check_examples, read_examples, store_examples

    _check_name(name)
    owner = check_owner(owner)
    if domain is not None:
        check_domain(domain)
    wanted = [check_alias(a) for a in aliases]
    if len(set(wanted)) != len(wanted):
        raise UsageError(f"alias {wanted!r} lists an alias twice; give each once")
    if require_golden and golden is None:
        raise UsageError("--require-golden needs the examples: give --golden FILE")
    examples = read_examples(golden) if golden is not None else None  # refuse bad files first
    options = dict(options or {})
    if model_class is not None:
        options["model_class"] = model_class
    if init:
        options["init"] = dict(init)
    with opened(store) as s:
        if from_run is not None:
            if model is not None:
                raise UsageError("give a model PATH or --from-run RUN, not both")
            src = _from_run(s, from_run, artifact, flavor, options)
        elif model is None:
            raise UsageError("give the model: a PATH, --from-run RUN, or 'module:function'")
        else:
            src = _from_model(model, flavor, options)
            src.run_id = _current_run_id(s)
        if source is not None:
            src.source = dict(source)
        if src.flavor == "pickle" and not trusted:
            raise refuse_pickle(f"model {_what(src)}")
        predictor = get_flavor(src.flavor).load(src.data, src.options, trusted=trusted)
        declared = signature
        signature = _signature(s, predictor, sample, src.run_id, declared)
        sha = hashlib.sha256(src.data).hexdigest() if src.data is not None else None
        owner, domain = _ownership(s, name, owner, domain)
        draft = ModelVersion(
            name=name,
            version=0,  # the catalog numbers it
            flavor=src.flavor,
            object_key=src.object_key or (f"{ARTIFACT_PREFIX}/{sha[:2]}/{sha}" if sha else None),
            sha256=sha,
            size=len(src.data) if src.data is not None else 0,
            options=src.options,
            signature=signature.to_dict() if signature else None,
            run_id=src.run_id,
            source=src.source,
            description=description,
            aliases=tuple(wanted),
            owner=owner,
            domain=domain,
        )
        golden_ref: GoldenRef | None = None
        if examples is not None:
            report = check_examples(Model(draft, predictor, signature), examples, ref=name)
            if require_golden and not report.passed:
                raise ModelCheckFailed(
                    f"{report.summary()}; nothing was registered (--require-golden)"
                )
        if sandbox() is not None:  # checked like a real registration, then held back
            return hold_back_registration(s, draft)
        # Objects first, then one catalog transaction: a failure in between leaves an
        # unreferenced object for `assay gc`, never a version naming missing bytes.
        key, blob = draft.object_key, src.data
        if key is not None and blob is not None and not s.objects.exists(key):
            s.objects.put_bytes(key, blob)
        if examples is not None:
            golden_ref = store_examples(s, examples)
        return _kept(s, s.catalog.register_model_version(_with_golden(draft, golden_ref)))


def _ownership(
    store: Store, name: str, owner: str | None, domain: str | None
) -> tuple[str | None, str]:
    """The owner and domain of the next version of ``name``: those given, else the
    latest version's. A model's versions share one domain, so access to it is one grant."""
    found = store.catalog.list_model_versions(name)
    if not found:
        return owner, domain or DEFAULT_DOMAIN
    latest = found[-1]
    if domain is not None and domain != latest.domain:
        raise UsageError(
            f"model {name!r} is in domain {latest.domain!r}, not {domain!r}; leave out "
            f"--domain or give --domain {latest.domain} (a model's versions share one domain)"
        )
    return (owner if owner is not None else latest.owner), latest.domain


def _kept(store: Store, model: ModelVersion) -> ModelVersion:
    """``model`` as committed, its manifests rewritten to match (``assay recover`` reads them)."""
    write_model_manifests(store.objects, model)
    return model


def _held_back_versions(store: Store, run_id: str | None, name: str) -> list[dict[str, Any]]:
    """The registrations of ``name`` that run ``run_id`` held back so far."""
    if run_id is None:
        return []
    writes = held_back(store.catalog.get_run(run_id))
    return [w for w in writes if w.get("action") == "register" and w.get("name") == name]


def hold_back_registration(store: Store, draft: ModelVersion) -> ModelVersion:
    """Record ``draft`` on the sandboxed run instead of registering it; return it numbered
    as it would have been (after the registry's versions and those held back before)."""
    run_id = _current_run_id(store)
    numbers = [v.version for v in store.catalog.list_model_versions(draft.name)]
    numbers += [int(w["version"]) for w in _held_back_versions(store, run_id, draft.name)]
    would_be = replace(draft, version=max(numbers, default=0) + 1)
    if run_id is not None:
        write = {
            "action": "register",
            "name": would_be.name,
            "version": would_be.version,
            "aliases": list(would_be.aliases),
            "flavor": would_be.flavor,
            "sha256": would_be.sha256,
            "size": would_be.size,
            "source": dict(would_be.source),
            "sandbox": sandbox(),
        }
        hold_back(store, run_id, write)
    return would_be


def _hold_back_alias(store: Store, name: str, version: int, alias: str) -> ModelVersion:
    """Record an alias move on the sandboxed run instead of making it; the version as is."""
    run_id = _current_run_id(store)
    held = {int(w["version"]): w for w in _held_back_versions(store, run_id, name)}
    if version in held:  # a version this run registered, held back too
        w = held[version]
        info = ModelVersion(
            name=name,
            version=version,
            flavor=str(w["flavor"]),
            object_key=None,
            sha256=w.get("sha256"),
            size=int(w.get("size") or 0),
            run_id=run_id,
            source=dict(w.get("source") or {}),
            aliases=tuple(w.get("aliases") or ()),
        )
    else:
        info = store.catalog.get_model_version(name, version)  # names a missing version
    if run_id is not None:
        write = {
            "action": "alias",
            "name": name,
            "version": version,
            "alias": alias,
            "sandbox": sandbox(),
        }
        hold_back(store, run_id, write)
    aliases = info.aliases if alias in info.aliases else (*info.aliases, alias)
    return replace(info, aliases=aliases)


def _with_golden(draft: ModelVersion, golden: GoldenRef | None) -> ModelVersion:
    return replace(draft, golden=golden)


def _what(src: _Source) -> str:
    return str(src.source.get("path") or src.source.get("artifact") or "")


def _current_run_id(store: Store) -> str | None:
    """The run this registration belongs to: the active one, or ``ASSAY_RUN_ID``'s."""
    run = active_run()
    if run is not None and run.store.url == store.url:
        return run.id
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        with contextlib.suppress(NotFound, UsageError):
            return store.catalog.get_run(run_id).id
    return None


def _from_model(model: Any, flavor: str | None, options: dict[str, Any]) -> _Source:
    if isinstance(model, str | os.PathLike):
        path = Path(os.fspath(model))
        if path.is_file():
            fl = get_flavor(flavor) if flavor else flavor_for_file(path)
            if not fl.needs_bytes:
                raise UsageError(
                    f"flavor {fl.name!r} takes 'module:function', not a file ({path.name!r})"
                )
            data, opts = fl.read(path, options)
            return _Source(fl.name, data, opts, {"kind": "file", "path": str(path.resolve())})
        if isinstance(model, str) and is_entry_point(model) and flavor in (None, "python"):
            data, opts = get_flavor("python").dump(model, options)
            return _Source("python", data, opts, {"kind": "callable", "entry_point": model})
        if path.is_dir():
            raise InputFileError(f"{str(path)!r} is a folder; give the model file inside it")
        raise InputFileError(f"model file {str(path)!r} does not exist; check the path")
    fl = get_flavor(flavor) if flavor else flavor_for_object(model)
    data, opts = fl.dump(model, options)
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    return _Source(fl.name, data, opts, {"kind": "object", "type": kind})


def _from_run(
    store: Store, run_id: str, artifact: str | None, flavor: str | None, options: dict[str, Any]
) -> _Source:
    run = store.catalog.get_run(run_id)
    if not run.artifacts:
        raise NotFound(
            f"run {run.id} has no artifacts; log the model file with run.log_artifact(PATH)"
        )
    names = ", ".join(a.name for a in run.artifacts)
    if artifact is not None:
        chosen = [a for a in run.artifacts if a.name == artifact]
        if not chosen:
            raise NotFound(f"run {run.id} has no artifact {artifact!r} (artifacts: {names})")
    else:
        from assay.models.flavors import FLAVORS

        suffixes = {s for f in FLAVORS.values() for s in f.suffixes}
        chosen = [a for a in run.artifacts if Path(a.name).suffix.lower() in suffixes]
        if len(chosen) != 1 and len(run.artifacts) == 1:
            chosen = list(run.artifacts)
        if len(chosen) != 1:
            raise UsageError(
                f"run {run.id} has {len(chosen) or 'no'} model-like artifacts among "
                f"({names}); pick one with --artifact NAME"
            )
    art = chosen[0]
    from assay.store.verified import read_verified

    data = read_verified(
        store.objects, art.object_key, art.sha256, f"artifact {art.name!r} of run {run.id}"
    )
    with tempfile.TemporaryDirectory(prefix="assay-model-") as tmp:
        path = Path(tmp) / Path(art.name).name
        path.write_bytes(data)
        fl = get_flavor(flavor) if flavor else flavor_for_file(path)
        content, opts = fl.read(path, options)
    return _Source(
        fl.name,
        content,
        opts,
        {"kind": "run", "run": run.id, "artifact": art.name},
        run_id=run.id,
        object_key=art.object_key,
    )


def _signature(
    store: Store,
    predictor: Predictor,
    sample: Any,
    run_id: str | None,
    declared: Signature | None = None,
) -> Signature | None:
    """Inputs from ``sample`` (or the model, or its run's data); outputs from answering it.
    A ``declared`` signature keeps its inputs (and outputs), the sample checked against it."""
    hint = declared or predictor.signature_hint()
    sample = read_sample(sample)
    if sample is None and run_id is not None and hint is not None and hint.columns:
        sample = run_sample(store, store.catalog.get_run(run_id), [c.name for c in hint.columns])
    if sample is None:
        return hint
    batch = to_batch(sample)
    if declared is not None:
        batch = declared.check(batch, "the model")
    elif hint is not None and hint.columns is not None and batch.columns is not None:
        # The model names its inputs: keep those (a dataset sample also holds key and label).
        batch = Signature(columns=tuple(Column(c.name) for c in hint.columns)).check(
            batch, "the model"
        )
    try:
        output = predictor.predict(batch)
        proba = predictor.predict_proba(batch) if predictor.has_proba else None
    except (SignatureError, UsageError):
        raise
    except Exception as e:  # whatever the model raises on its own sample
        raise UsageError(
            f"the model fails on the sample ({type(e).__name__}: {e}); give a sample of "
            "the input it was trained on"
        ) from None
    # The sample is the one chance to catch a model that answers too few or too many rows.
    check = {"model": "the model", "source": "the sample"}
    one_per_row(np.asarray(output), batch.rows, method="predict", **check)
    if proba is not None:
        one_per_row(np.asarray(proba), batch.rows, method="predict_proba", **check)
    columns = dict(batch.columns) if batch.columns is not None else None
    inferred = infer_signature(columns if columns is not None else batch.array, output, proba)
    if declared is None:
        return inferred
    return replace(declared, output=declared.output or inferred.output, proba=inferred.proba)


def read_sample(sample: Any, rows: int = 1000) -> Any:
    """``sample`` as given, or the first ``rows`` rows of a sample file (Parquet, CSV, JSONL)."""
    if not isinstance(sample, str | os.PathLike):
        return sample
    from assay.data.schema import read_table_file

    return read_table_file(Path(os.fspath(sample))).slice(0, rows)


def run_sample(store: Store, run: RunInfo, columns: Sequence[str], rows: int = SAMPLE_ROWS) -> Any:
    """Rows of the first dataset version ``run`` read that has ``columns`` (test split
    first), as an Arrow table of those columns; None if the run read none."""
    from assay.data.compose import SPLIT_COLUMN, find_version

    for run_input in run.inputs:
        version = find_version(run_input.fingerprint, store=store)
        table = version.table
        if not set(columns) <= set(table.column_names):
            continue
        splits = [n for n, _ in version.recipe.split.ordered()]
        if "test" in splits:
            table = version.to_arrow(split="test")
        elif SPLIT_COLUMN in table.column_names and splits:
            table = version.to_arrow(split=splits[-1])
        return table.select(list(columns)).slice(0, rows)
    return None


# --------------------------------------------------------------------------- lineage


def lineage(ref: str, *, store: Store | None = None) -> dict[str, Any]:
    """The chain behind a version: the version it was derived from (if exported), the
    run that made it, the dataset versions that run read, and the code commit."""
    with opened(store) as s:
        return _lineage(s, resolve_ref(s, ref), depth=0)


def _lineage(store: Store, info: ModelVersion, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": info.name,
        "version": info.version,
        "ref": info.ref,
        "flavor": info.flavor,
        "sha256": info.sha256,
        "source": info.source,
        "derived_from": None,
        "run": None,
    }
    parent = info.source.get("from")
    if isinstance(parent, dict) and depth < 20:
        try:
            up = store.catalog.get_model_version(parent["name"], int(parent["version"]))
            out["derived_from"] = _lineage(store, up, depth + 1)
        except ModelNotFound:
            out["derived_from"] = {"ref": f"{parent['name']}@{parent['version']}", "missing": True}
    if info.run_id is not None:
        run = store.catalog.get_run(info.run_id)
        inputs = []
        for i in run.inputs:
            recorded = store.catalog.get_version(i.fingerprint)
            names = {d.delta_id: d.name for d in store.catalog.list_deltas(recorded.dataset)}
            inputs.append(
                {
                    "fingerprint": i.fingerprint,
                    "dataset": i.dataset,
                    "recipe": i.recipe_source,
                    "deltas": [names.get(d, d[:12]) for d in recorded.delta_ids],
                    "rows": recorded.summary.get("rows"),
                }
            )
        out["run"] = {
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "started_at": run.started_at,
            "params": run.params,
            "metrics": run.metrics,
            "inputs": inputs,
            "git": {
                "commit": run.git_commit,
                "dirty": run.git_dirty,
                "diff_sha256": run.git_diff_sha256,
                "root": run.git_root,
                "note": run.git_note,
            },
        }
    return out


# --------------------------------------------------------------------------- output


def model_to_dict(info: ModelVersion) -> dict[str, Any]:
    """A version record as plain data (what ``assay models show --json`` prints)."""
    sig = Signature.from_dict(info.signature)
    return {
        "name": info.name,
        "version": info.version,
        "ref": info.ref,
        "flavor": info.flavor,
        "aliases": list(info.aliases),
        "object_key": info.object_key,
        "sha256": info.sha256,
        "size": info.size,
        "options": info.options,
        "signature": info.signature,
        "signature_text": sig.describe() if sig else None,
        "run_id": info.run_id,
        "source": info.source,
        # The version it was derived from (an ONNX export, a compression) and how.
        "parent": info.source.get("from"),
        "compression": info.source.get("compression"),
        "description": info.description,
        "owner": info.owner,
        "domain": info.domain,
        "golden": (
            {
                "object_key": info.golden.object_key,
                "sha256": info.golden.sha256,
                "examples": info.golden.count,
                "attached_at": info.golden.attached_at,
            }
            if info.golden
            else None
        ),
        "created_at": info.created_at,
    }
