"""What a model costs to keep and to run: size, parameter count, latency and throughput.

    measured = measure(info, rows, store=store, threads=1)
    measured.latency_p50_ms, measured.throughput

Measured honestly on this machine: the thread count is fixed (ONNX Runtime's
``intra_op_num_threads``, ``torch.set_num_threads``, and threadpoolctl's limit for the
BLAS and OpenMP pools every flavor may use) and stated in the result; each timing
follows warm-up calls; latency is ``time.perf_counter_ns`` around single-row calls to
the flavor's predictor (the rows prepared beforehand, so the timing is the model's,
not the conversion of the input); throughput is rows per second at a fixed batch size,
from the median time of a batch.

It lives beside the metrics because the gate scores with it too (the evaluation spec's
``diagnostics: {efficiency: …}``); ``assay.compress.report`` puts it beside the metrics
of a compressed model and its parent.

Parameter count, per flavor:

- ONNX: the elements of the graph's initializers (dense and sparse), plus the float
  attributes of ``ai.onnx.ml`` operators, where converted scikit-learn linear models
  and tree ensembles keep their weights and thresholds;
- torch: the elements of every tensor in the module's ``state_dict`` (weights, biases,
  buffers; a dynamically quantized layer's packed weight and bias count as theirs);
- scikit-learn: coefficients and intercepts (``coef_``, ``coefs_``, …) plus tree nodes
  (``tree_.node_count``, or the nodes of a histogram gradient-boosting predictor),
  through pipelines and ensembles;
- anything else: unknown (None).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import UsageError
from assay.extras import require

if TYPE_CHECKING:
    from assay.models.flavors import Predictor
    from assay.models.signature import Batch
    from assay.store import Store
    from assay.store.catalog import ModelVersion

__all__ = [
    "NUMBERS",
    "PROVIDERS",
    "Efficiency",
    "EfficiencyReport",
    "check_settings",
    "count_params",
    "measure",
    "ratio_name",
    "row",
    "settings",
]

# ``--provider`` → ONNX Runtime's execution provider.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# The numbers a gate can bound, and which way is better.
NUMBERS = {
    "size_bytes": "the stored model object's size in bytes",
    "params": "the parameter count",
    "latency_p50_ms": "median latency of one row, milliseconds",
    "latency_p99_ms": "99th-percentile latency of one row, milliseconds",
    "throughput": "rows per second at the batch size",
}


@dataclass(frozen=True)
class Efficiency:
    """One model version measured: what it weighs and how fast it answers."""

    ref: str
    size_bytes: int
    params: int | None
    latency_p50_ms: float
    latency_p99_ms: float
    throughput: float  # rows per second at ``batch`` rows a call
    threads: int
    provider: str
    calls: int  # single-row calls timed (after the warm-up)
    batch: int
    batches: int  # batches timed for the throughput (after the warm-up)

    def value(self, name: str) -> float | None:
        """The number a gate bounds: one of ``NUMBERS``."""
        found = getattr(self, name) if name in NUMBERS else None
        return None if found is None else float(found)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio_name(metric: str, reference: str) -> str:
    """The name a gate bounds for ``metric`` of the judged model over ``reference``'s."""
    return f"{metric}_ratio:{reference}"


@dataclass(frozen=True)
class EfficiencyReport:
    """Several models measured alike (by role), and the judged model's numbers: its own
    (``latency_p50_ms``) and its ratio to each other model's (``latency_p50_ms_ratio:ROLE``,
    below 1 when it is smaller or faster; throughput's above 1 when faster)."""

    judged: str
    models: dict[str, Efficiency]
    passed: bool = True  # no verdict of its own: the thresholds on its numbers gate

    def value(self, name: str) -> float | None:
        metric, _, reference = name.partition("_ratio:")
        mine = self.models[self.judged].value(metric)
        if not reference:
            return mine
        theirs = self.models[reference].value(metric) if reference in self.models else None
        if mine is None or not theirs:
            return None
        return mine / theirs

    def numbers(self) -> dict[str, float | None]:
        """Every number ``value`` gives."""
        names = list(NUMBERS)
        names += [ratio_name(m, r) for r in self.models if r != self.judged for m in NUMBERS]
        return {n: self.value(n) for n in names}

    def summary(self) -> str:
        me = self.models[self.judged]
        parts = [
            f"{self.judged} {me.ref}: {me.size_bytes:,} bytes, p50 {me.latency_p50_ms:.3f} ms, "
            f"{me.throughput:,.0f} rows/s"
        ]
        for role in self.models:
            if role != self.judged:
                parts.append(
                    f"{self.value(ratio_name('size_bytes', role)) or 0:.2f}× the size and "
                    f"{self.value(ratio_name('latency_p50_ms', role)) or 0:.2f}× the p50 "
                    f"latency of {role}"
                )
        first = next(iter(self.models.values()))
        return "; ".join(parts) + f" ({first.threads} thread(s), {first.provider})"

    def to_dict(self) -> dict[str, Any]:
        """The trade-off report's shape (``assay.compress.report``), without metrics."""
        first = next(iter(self.models.values()))
        return {
            "judged": self.judged,
            "passed": True,
            "summary": self.summary(),
            "models": [row(e, role, {}) for role, e in self.models.items()],
            "measured": settings(first),
            "numbers": self.numbers(),
        }


def row(e: Efficiency, role: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One model of a trade-off table: what was measured, and its metrics."""
    return {
        "ref": e.ref,
        "role": role,
        "size_bytes": e.size_bytes,
        "params": e.params,
        "latency_p50_ms": e.latency_p50_ms,
        "latency_p99_ms": e.latency_p99_ms,
        "throughput": e.throughput,
        "metrics": metrics,
    }


def settings(e: Efficiency) -> dict[str, Any]:
    """How a measurement was taken, stated beside its numbers."""
    return {
        "threads": e.threads,
        "provider": e.provider,
        "latency_calls": e.calls,
        "batch": e.batch,
        "throughput_batches": e.batches,
    }


def check_settings(
    *,
    threads: int = 1,
    calls: int = 200,
    batch: int = 64,
    batches: int = 20,
    warmup: int = 20,
    provider: str = "cpu",
) -> None:
    """A ``UsageError`` for the first setting ``measure`` cannot take (checked before
    any model is loaded or evaluated)."""
    for name, value, least in [("threads", threads, 1), ("calls", calls, 2),
                               ("batch", batch, 1), ("batches", batches, 1), ("warmup", warmup, 0)]:  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(f"{name} {value!r} is not a whole number ≥ {least}; give one")
    if provider not in PROVIDERS:
        raise UsageError(f"provider {provider!r} is unknown; use one of: {', '.join(PROVIDERS)}")
    if provider != "cpu":
        ort = require("onnxruntime", "timing ONNX models")
        wanted, available = PROVIDERS[provider], ort.get_available_providers()
        if wanted not in available:
            raise UsageError(
                f"ONNX Runtime here has no {wanted} (available: {', '.join(available)}); "
                "measure with --provider cpu, or run on a machine with that accelerator and "
                "its onnxruntime build"
            )


def measure(
    info: ModelVersion,
    rows: Any,
    *,
    store: Store,
    threads: int = 1,
    calls: int = 200,
    batch: int = 64,
    batches: int = 20,
    warmup: int = 20,
    provider: str = "cpu",
) -> Efficiency:
    """Measure the version ``info`` on ``rows`` (its input columns only: an Arrow table,
    a DataFrame, anything ``Model.predict`` takes): ``calls`` single-row calls and
    ``batches`` calls of ``batch`` rows, each after ``warmup`` untimed calls, the rows
    reused in turn when there are fewer."""
    from assay.models.signature import Signature, to_batch
    from assay.store.verified import read_verified

    if info.flavor != "onnx" and provider != "cpu":
        raise UsageError(
            f"--provider {provider} applies to ONNX models; model {info.ref} is flavor "
            f"{info.flavor!r}: measure it with --provider cpu"
        )
    check_settings(
        threads=threads, calls=calls, batch=batch, batches=batches, warmup=warmup,
        provider=provider,
    )  # fmt: skip
    data = None
    if info.object_key is not None:
        assert info.sha256 is not None
        data = read_verified(
            store.objects, info.object_key, info.sha256, f"the artifact of model {info.ref}"
        )
    predictor = _predictor(info, data, threads, provider)
    table = to_batch(rows)
    n = table.rows
    if n == 0:
        raise UsageError(f"no rows to time model {info.ref} on; give a dataset with rows")
    signature = Signature.from_dict(info.signature)

    def prepared(positions: np.ndarray) -> Batch:
        part = _take(table, positions)
        return part if signature is None else signature.check(part, f"model {info.ref}")

    singles = [prepared(np.array([i % n])) for i in range(min(calls, n))]
    many = [prepared(np.arange(b * batch, (b + 1) * batch) % n) for b in range(min(batches, 4))]
    with _threads(info.flavor, threads):
        for i in range(warmup):
            predictor.predict(singles[i % len(singles)])
        times = np.empty(calls, dtype=np.int64)
        for i in range(calls):
            one = singles[i % len(singles)]
            start = time.perf_counter_ns()
            predictor.predict(one)
            times[i] = time.perf_counter_ns() - start
        for i in range(max(1, warmup // 10)):
            predictor.predict(many[i % len(many)])
        spans = np.empty(batches, dtype=np.int64)
        for i in range(batches):
            start = time.perf_counter_ns()
            predictor.predict(many[i % len(many)])
            spans[i] = time.perf_counter_ns() - start
    return Efficiency(
        ref=info.ref,
        size_bytes=0 if data is None else len(data),
        params=count_params(info.flavor, predictor.raw, data),
        latency_p50_ms=float(np.percentile(times, 50)) / 1e6,
        latency_p99_ms=float(np.percentile(times, 99)) / 1e6,
        # The median batch: one batch slowed by another process does not move it.
        throughput=batch / (max(float(np.median(spans)), 1.0) / 1e9),
        threads=threads,
        provider=provider,
        calls=calls,
        batch=batch,
        batches=batches,
    )


def _take(batch: Batch, positions: np.ndarray) -> Batch:
    from assay.models.signature import Batch

    if batch.columns is not None:
        columns = {k: np.asarray(v)[positions] for k, v in batch.columns.items()}
        return Batch(columns=columns, rows=len(positions))
    assert batch.array is not None
    return Batch(array=batch.array[positions], rows=len(positions))


def _predictor(info: ModelVersion, data: bytes | None, threads: int, provider: str) -> Predictor:
    """The flavor's predictor for ``data``; an ONNX session built here, with the thread
    count and the execution provider asked for."""
    from assay.models.flavors import get_flavor

    if info.flavor != "onnx":
        return get_flavor(info.flavor).load(data, info.options, trusted=False)
    from assay.models.flavors.onnx import OnnxPredictor

    ort = require("onnxruntime", "timing ONNX models")
    wanted = PROVIDERS[provider]  # check_settings made sure this ONNX Runtime has it
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(data, options, providers=[wanted])
    return OnnxPredictor(session)


@contextlib.contextmanager
def _threads(flavor: str, threads: int) -> Iterator[None]:
    """Every thread pool the model may use held to ``threads`` while it is timed."""
    import importlib.util

    torch = require("torch", "timing torch models") if flavor == "torch" else None
    before = torch.get_num_threads() if torch is not None else 0
    with contextlib.ExitStack() as stack:
        # threadpoolctl comes with scikit-learn; without it there is no BLAS/OpenMP pool
        # of a scikit-learn model to hold (ONNX Runtime's and torch's are set directly).
        if importlib.util.find_spec("threadpoolctl") is not None:
            import threadpoolctl

            stack.enter_context(threadpoolctl.threadpool_limits(threads))
        if torch is not None:
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, before)
        yield


def count_params(flavor: str, raw: Any, data: bytes | None) -> int | None:
    """The parameter count of a loaded model, as the module docstring defines it per
    flavor; None where it is not known."""
    if flavor == "onnx" and data is not None:
        return _onnx_params(data)
    if flavor == "torch":
        return _torch_params(raw)
    if flavor == "sklearn":
        return _sklearn_params(raw)
    return None


def _onnx_params(data: bytes) -> int:
    onnx = require("onnx", "counting an ONNX model's parameters")
    graph = onnx.load_from_string(data).graph
    count = sum(int(np.prod(t.dims)) for t in graph.initializer)
    count += sum(int(np.prod(s.dims)) for s in graph.sparse_initializer)
    for node in graph.node:
        if node.domain == "ai.onnx.ml":
            count += sum(len(a.floats) for a in node.attribute)
    return count


def _torch_params(module: Any) -> int:
    def elements(value: Any) -> int:
        if isinstance(value, tuple | list):
            return sum(elements(v) for v in value)
        return int(value.numel()) if hasattr(value, "numel") else 0

    state = module.state_dict()
    return sum(elements(v) for v in state.values())


def _sklearn_params(estimator: Any) -> int | None:
    if hasattr(estimator, "steps"):  # a pipeline: its steps' parameters
        counts = [_sklearn_params(step) for _, step in estimator.steps if step != "passthrough"]
        found = [c for c in counts if c is not None]
        return sum(found) if found else None
    count, known = 0, False  # known: the estimator has parameters this counts
    for name in ("coef_", "intercept_", "coefs_", "intercepts_"):
        value = getattr(estimator, name, None)
        if value is not None:
            parts = value if isinstance(value, list) else [value]
            count += sum(int(np.asarray(p).size) for p in parts)
            known = True
    tree = getattr(estimator, "tree_", None)
    if tree is not None:
        count += int(tree.node_count)
        known = True
    members = getattr(estimator, "estimators_", None)
    if members is not None:
        for member in np.asarray(members, dtype=object).ravel():
            inner = _sklearn_params(member)
            count += inner or 0
            known = known or inner is not None
    # Histogram gradient boosting keeps its trees as predictors with node arrays.
    for per_iteration in getattr(estimator, "_predictors", None) or []:
        count += sum(len(p.nodes) for p in per_iteration)
        known = True
    return count if known else None
