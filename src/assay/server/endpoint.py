"""An experiment served: its models loaded, each request's arm, its answer and its log.

No HTTP here (``assay.server.app`` puts FastAPI around it), so a script can serve an
experiment in process::

    endpoint = Endpoint("serve.yaml", store)
    endpoint.open()                     # the log writer and the shadow threads
    answer = endpoint.predict({"user_id": "u-17", "inputs": {"AGEP": 41, ...}})
    endpoint.close()                    # writes every queued log row

A request names its sticky key (the config's ``sticky_key`` field) and ``inputs``, one
record or a list of them. The inputs are checked against the signature of every live
model before any predicts, so whether a request is valid never depends on the arm it
lands in. The assigned arm's model answers; when it raises, control answers and the row
says ``fallback``; when control raises, the answer is an error (HTTP 500).
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from assay.errors import PredictError, RequestError, SignatureError, UsageError
from assay.experiments.config import ExperimentConfig, load_config, normalise
from assay.experiments.log import LogWriter, dumps, worker_id
from assay.experiments.records import get_experiment, set_weights, start_experiment
from assay.experiments.routing import assign
from assay.models import Model, load_model
from assay.models.signature import to_batch
from assay.server.shadow import OnResult, Shadows, one_line
from assay.server.threads import ModelThreads
from assay.store import Store
from assay.store.catalog import ExperimentInfo

__all__ = ["INPUTS", "Answer", "Endpoint"]

INPUTS = "inputs"  # the body's field holding the records


@dataclass(frozen=True)
class Answer:
    """What one request got: its arm, the model that answered, the outputs or the error."""

    request_id: str
    arm: str  # the assigned arm (also when control answered for it)
    model: str  # NAME@VERSION of the model that produced ``outputs``
    outputs: list[Any] | None
    status: str  # ok, fallback or error
    error: str | None
    latency_ms: float  # time spent predicting

    def to_dict(self) -> dict[str, Any]:
        """The HTTP body: ``request_id``, ``arm``, ``model`` and ``outputs`` (or ``error``)."""
        body: dict[str, Any] = {"request_id": self.request_id, "arm": self.arm}
        body["model"] = self.model
        if self.status == "error":
            body["error"] = self.error
        else:
            body["outputs"] = self.outputs
        return body


class Endpoint:
    """The models of an experiment config, loaded, answering and logging requests.

    Parameters
    ----------
    config
        An ``ExperimentConfig``, or what ``load_config`` reads (a path, YAML, a dict).
    store
        The store holding the models; the log is written there too.
    worker
        The name of this process's log folder (default: host, pid and a random tail).
    on_shadow
        Called with (shadow model, status) for each shadow row (the server counts them).
    weights_poll_s
        How often to read the weights in force from the store, so that a change made
        through any server reaches every server sharing the store (None: never).
    """

    def __init__(
        self,
        config: ExperimentConfig | str | os.PathLike[str] | dict[str, Any],
        store: Store,
        *,
        worker: str | None = None,
        on_shadow: OnResult | None = None,
        weights_poll_s: float | None = 2.0,
    ):
        self.config = load_config(config)
        self.store = store
        self.worker = worker or worker_id()
        self.token = _token(self.config)
        # Every reference is resolved now: a typo stops the server before it listens.
        self.models: dict[str, Model] = {
            r.arm: load_model(r.model, store=store) for r in self.config.routes
        }
        self.shadow_models: dict[str, Model] = {
            ref: load_model(ref, store=store) for ref in self.config.shadow
        }
        self.threads = ModelThreads(self.config.limits.model_threads)
        self.counts: Counter[tuple[str, str]] = Counter()  # (arm, status) → answers
        self.started = datetime.now(UTC)
        self.log: LogWriter | None = None
        self.shadows: Shadows | None = None
        self._weights = self.config.weights
        self._revision = 0  # of the store's experiment record whose weights are in force
        self._lock = threading.Lock()
        self._on_shadow = on_shadow
        self._poll_s = weights_poll_s
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Record the experiment in the store (adopting the weights in force there, so a
        ramp or a kill switch survives a restart) and start the log writer, the shadow
        threads and the weights poller."""
        self._adopt(start_experiment(self.store, self.config, by=f"assay serve ({self.worker})"))
        self.log = LogWriter(
            self.store,
            self.config.experiment,
            worker=self.worker,
            flush_rows=self.config.log.flush_rows,
            flush_seconds=self.config.log.flush_seconds,
        )
        self.shadows = Shadows(
            self.shadow_models,
            self.log,
            queue_size=self.config.limits.shadow_queue,
            timeout_s=self.config.limits.shadow_timeout_s,
            on_result=self._on_shadow,
            threads=self.threads,
        )
        if self._poll_s:
            self._poller = threading.Thread(target=self._poll, name="assay-weights", daemon=True)
            self._poller.start()

    def close(self) -> None:
        """Stop the shadows (queued copies are logged as dropped) and write the log."""
        self._closed.set()
        if self.shadows is not None:
            self.shadows.close()
        if self.log is not None:
            self.log.close()

    def ready(self) -> bool:
        """Whether requests can be answered and logged: opened, threads alive."""
        if self.log is None or self.shadows is None:
            return False
        return self.log.alive and self.shadows.alive()

    # ------------------------------------------------------------------ weights

    @property
    def weights(self) -> dict[str, float]:
        """Each arm's share of the traffic now (normalised)."""
        return dict(self._weights)

    def change_weights(self, changes: Any) -> dict[str, float]:
        """The weights with ``changes`` (arm → weight; arms not named keep their share)
        applied and normalised; ``RequestError`` naming the arm or value at fault."""
        if not isinstance(changes, Mapping) or not changes:
            raise RequestError(
                'give the new weights as a JSON object of arm → weight, e.g. {"treatment": 0}'
            )
        arms = list(self.models)
        merged = self.weights
        for arm, weight in changes.items():
            if arm not in self.models:
                raise RequestError(
                    f"there is no arm {arm!r}; the arms are {', '.join(arms)}", field=arm
                )
            number = isinstance(weight, int | float) and not isinstance(weight, bool)
            if not number or not math.isfinite(weight) or weight < 0:
                raise RequestError(
                    f"the weight of {arm!r} must be a number ≥ 0, not {weight!r}", field=arm
                )
            merged[arm] = float(weight)
        if sum(merged.values()) <= 0:
            raise RequestError(
                f"every arm would have weight 0 ({merged}); give at least one a positive weight"
            )
        return normalise(merged)

    def put_weights(self, changes: Any, *, by: str | None = None) -> dict[str, float]:
        """Apply ``changes`` (see ``change_weights``), record them in the store (where
        every other server polling it picks them up) and put them in force here."""
        self._adopt(
            set_weights(self.store, self.config.experiment, self.change_weights(changes), by=by)
        )
        return self.weights

    def refresh(self) -> None:
        """Adopt the weights in force in the store if they changed since last read."""
        self._adopt(get_experiment(self.store, self.config.experiment))

    def _adopt(self, info: ExperimentInfo) -> None:
        with self._lock:
            if info.revision >= self._revision:
                self._revision = info.revision
                self._weights = {arm: float(info.weights.get(arm, 0.0)) for arm in self.models}

    def _poll(self) -> None:
        assert self._poll_s
        while not self._closed.wait(self._poll_s):
            try:
                self.refresh()
            except Exception:  # a store briefly unreachable: keep the weights in force
                continue

    # ------------------------------------------------------------------ requests

    def parse(self, body: Any) -> tuple[str | None, list[dict[str, Any]]]:
        """The sticky key and the records of a request body, checked against the
        signature of every live model; ``RequestError`` naming the field at fault."""
        if not isinstance(body, Mapping):
            raise RequestError(
                f'the body must be a JSON object like {{"{INPUTS}": {{...}}}}, not '
                f"{type(body).__name__}"
            )
        sticky = self.config.sticky_key
        unknown = [k for k in body if k not in (INPUTS, sticky)]
        if unknown:
            known = " and ".join(f"{k!r}" for k in (sticky, INPUTS) if k)
            raise RequestError(
                f"unknown field {unknown[0]!r} in the body; it holds {known}", field=unknown[0]
            )
        key = body.get(sticky) if sticky else None
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if key is not None and not (isinstance(key, str) and key):
            raise RequestError(
                f"{sticky!r} must be a non-empty string (the sticky key), not {key!r}",
                field=sticky,
            )
        if INPUTS not in body:
            raise RequestError(
                f"the body has no {INPUTS!r}; give one record (an object) or a list of them",
                field=INPUTS,
            )
        inputs = body[INPUTS]
        records = [inputs] if isinstance(inputs, Mapping) else inputs
        if not isinstance(records, list) or not records:
            raise RequestError(
                f"{INPUTS!r} must be a record (an object) or a non-empty list of records",
                field=INPUTS,
            )
        limit = self.config.limits.records
        if len(records) > limit:
            raise RequestError(
                f"{INPUTS!r} holds {len(records):,} records, more than limits.records "
                f"({limit:,}); send them in smaller requests",
                status=413,
                field=INPUTS,
            )
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise RequestError(
                    f"{INPUTS}[{i}] must be a record (an object of column → value), not "
                    f"{type(record).__name__}",
                    field=f"{INPUTS}[{i}]",
                )
        self._check(records)
        return key, records

    def _check(self, records: list[dict[str, Any]]) -> None:
        try:
            batch = to_batch(records)
        except UsageError as e:
            raise RequestError(str(e), field=INPUTS) from None
        for model in {id(m): m for m in self.models.values()}.values():
            if model.signature is None:
                continue
            try:
                model.signature.check(batch, f"model {model.info.ref}")
            except SignatureError as e:
                raise RequestError(str(e), field=_field(model, str(e))) from None

    def predict(
        self, body: Any, *, arrived: datetime | None = None, request_id: str | None = None
    ) -> Answer:
        """Answer one request body and log it; ``RequestError`` if it is malformed."""
        arrived = arrived or datetime.now(UTC)
        key, records = self.parse(body)
        if self.log is None:
            raise RuntimeError("the endpoint is not open; call open() first")
        request_id = request_id or uuid.uuid4().hex
        weights = self.weights
        arm = assign(key, self.config.experiment, weights)
        control = self.config.control
        status, error, answered = "ok", None, arm
        start = time.perf_counter()
        with self.threads.hold():
            outputs = _attempt(self.models[arm], records, request_id)
            if isinstance(outputs, BaseException):
                error = f"{arm}: {one_line(outputs)}"
                status, answered = ("error", arm) if arm == control else ("fallback", control)
                if arm != control:
                    outputs = _attempt(self.models[control], records, request_id)
                    if isinstance(outputs, BaseException):
                        status, error = "error", f"{error}; {control}: {one_line(outputs)}"
        if isinstance(outputs, BaseException):
            outputs = None
        latency_ms = (time.perf_counter() - start) * 1000.0
        model = self.models[answered].info.ref
        row = {
            "request_id": request_id,
            "time": arrived,
            "experiment": self.config.experiment,
            "endpoint": self.config.endpoint,
            "role": "live",
            "sticky_key": key,
            "arm": arm,
            "model": model,
            "inputs": dumps(records),
            "outputs": None if outputs is None else dumps(outputs),
            "latency_ms": latency_ms,
            "status": status,
            "error": error,
            "weights": dumps(weights),
        }
        self.log.append(row)
        with self._lock:
            self.counts[(arm, status)] += 1
        if self.shadows is not None and self.shadow_models:
            self.shadows.submit(row, records)
        return Answer(request_id, arm, model, outputs, status, error, latency_ms)

    def describe(self) -> dict[str, Any]:
        """The config, the models each reference resolved to, the weights in force and
        this process's answers per arm and status since it started."""
        with self._lock:
            counts = dict(self.counts)
        per_arm: dict[str, dict[str, int]] = {arm: {} for arm in self.models}
        for (arm, status), n in sorted(counts.items()):
            per_arm[arm][status] = n
        return {
            "experiment": self.config.experiment,
            "endpoint": self.config.endpoint,
            "control": self.config.control,
            "weights": self.weights,
            "models": {arm: m.info.ref for arm, m in self.models.items()},
            "shadow": {ref: m.info.ref for ref, m in self.shadow_models.items()},
            "counts": per_arm,
            "since": self.started.isoformat(),
            "worker": self.worker,
            "config": self.config.to_dict(),
        }


def _attempt(model: Model, records: list[dict[str, Any]], request_id: str) -> Any:
    """The model's outputs as plain values, or the exception it raised (an answer of
    NaN or infinity counts as one: JSON cannot carry it, and it is no answer)."""
    try:
        out = model.predict(records, source=f"request {request_id}")
        if out.dtype.kind in "fc" and not np.isfinite(out).all():
            row = int(np.flatnonzero(~np.isfinite(out).reshape(len(out), -1).all(axis=1))[0])
            raise PredictError(
                f"model {model.info.ref} answered NaN or infinity for record {row} of "
                f"request {request_id}; a model must answer a finite number"
            )
        return out.tolist()
    except Exception as e:  # the caller decides: fall back to control, or answer 500
        return e


def _field(model: Model, message: str) -> str:
    """``inputs.COLUMN`` for the signature column a ``SignatureError`` names."""
    for column in (model.signature.columns if model.signature else None) or ():
        if repr(column.name) in message:
            return f"{INPUTS}.{column.name}"
    return INPUTS


def _token(config: ExperimentConfig) -> str | None:
    """The bearer token the config's ``auth`` names, read from the environment."""
    if config.auth is None:
        return None
    token = os.environ.get(config.auth.token_env, "")
    if not token:
        raise UsageError(
            f"auth.token_env names {config.auth.token_env}, which is not set; export "
            f"{config.auth.token_env}=<a long random secret> before serving"
        )
    return token
