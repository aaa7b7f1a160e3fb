"""Quantization: int8 (dynamic or static QDQ) and float16, with ONNX Runtime or PyTorch.

ONNX models are quantized with ONNX Runtime's tools; a scikit-learn model (skl2onnx)
or, for static int8 and fp16, a torch model (``torch.onnx.export``) is first converted
to ONNX in memory, checked against the model on real rows (as ``export_onnx`` checks
an export) and recorded as the first step of the lineage, then the graph is quantized. ONNX Runtime
quantizes the operators of neural networks (MatMul, Gemm, Conv, attention, recurrent
layers); scikit-learn's linear and tree models convert to ``ai.onnx.ml`` operators
(LinearClassifier, TreeEnsembleClassifier), which it leaves in float, so those are
refused with a one-line error rather than registered unchanged. Dynamic int8 can leave
chosen layers weight-only (``weight_only`` globs): int8 weights, float inputs.

A torch model is quantized dynamically with ``torch.ao.quantization.quantize_dynamic``
on its ``Linear`` layers and stored as TorchScript; it must load as an eager module
(registered as a state dict with its class).
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from assay.compress._data import float_matrix, versioned_rows
from assay.compress.methods import Compressed, Parent, refuse_extra
from assay.errors import AssayError, ModelCheckFailed, UsageError, shorten
from assay.extras import require
from assay.models.export import DEFAULT_TOLERANCE, onnx_graph
from assay.models.registry import run_sample
from assay.store.verified import read_verified

__all__ = [
    "CALIBRATE",
    "CALIBRATION_ROWS",
    "QUANTIZABLE",
    "dynamic_int8",
    "dynamic_int8_graph",
    "fp16",
    "static_int8",
]

#: ONNX operators that ONNX Runtime's int8 quantizers rewrite.
QUANTIZABLE = frozenset(
    {"MatMul", "Gemm", "Conv", "ConvTranspose", "Attention", "LSTM", "GRU", "Gather"}
)
#: ``--calibrate`` names → ONNX Runtime's CalibrationMethod members.
CALIBRATE = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
CALIBRATION_ROWS = 1024  # at most this many first rows of --calibration set the ranges
_BATCH = 64  # rows per calibration batch


def dynamic_int8(
    parent: Parent,
    *,
    per_channel: bool = False,
    weight_only: str | Sequence[str] = (),
    **rest: Any,
) -> Compressed:
    """Weights to int8 ahead of time, activations quantized on the fly at each call,
    except the inputs of the layers ``weight_only`` selects (ONNX node-name globs)."""
    refuse_extra("dynamic-int8", rest)
    patterns = [weight_only] if isinstance(weight_only, str) else [*weight_only]
    if parent.info.flavor == "torch":
        if patterns:
            raise UsageError(
                "--weight-only applies to ONNX models; PyTorch's dynamic quantization "
                "quantizes the inputs of every Linear layer"
            )
        return _torch_dynamic(parent, per_channel)
    graph, steps = _onnx_of(parent, "dynamic-int8")
    data, kept = dynamic_int8_graph(
        graph, per_channel=per_channel, weight_only=patterns, ref=parent.info.ref
    )
    params: dict[str, Any] = {
        "per_channel": per_channel,
        "weight_type": "int8",
        "weight_only": patterns,
    }
    if kept:
        params["weight_only_nodes"] = len(kept)
    return Compressed(
        "onnx",
        data,
        params,
        steps=(*steps, {"step": "quantize_dynamic", "engine": "onnxruntime"}),
    )


def dynamic_int8_graph(
    graph: bytes,
    *,
    per_channel: bool = False,
    weight_only: Sequence[str] = (),
    ref: str = "the graph",
) -> tuple[bytes, list[str]]:
    """An ONNX graph quantized by ONNX Runtime's ``quantize_dynamic``, and the names of
    the nodes whose weights alone were quantized.

    A MatMul or Gemm whose name matches a ``weight_only`` glob (``fnmatch``, e.g.
    ``/layer.?/output/dense/*``) is left out of ``quantize_dynamic`` and given its weight
    as int8 with one symmetric scale per output channel, dequantized in the graph
    (``DequantizeLinear`` → the float node): the file shrinks as with int8, but the
    node's input is not rounded to the 256 levels of one range per tensor, which is what
    costs a transformer's feed-forward layers their accuracy (docs/compress.md). ONNX
    Runtime's CPU provider runs such a pair as its 8-bit ``MatMulNBits`` kernel, which
    by default quantizes each input row on the fly (``accuracy_level`` 4).
    """
    qt = require("onnxruntime.quantization", "int8 quantization")
    onnx = require("onnx", "int8 quantization")
    model = onnx.load_from_string(graph)
    kept = _select(model, weight_only, ref) if weight_only else []
    with (
        _workdir(graph) as (source, target),
        _quiet(),
        _tool("ONNX Runtime's quantize_dynamic", ref),
    ):
        qt.quantize_dynamic(
            str(source),
            str(target),
            weight_type=qt.QuantType.QInt8,
            per_channel=per_channel,
            # 7-bit weights: x86 CPUs without VNNI (AVX2 alone) multiply u8 by s8 in
            # pairs that saturate at 16 bits; full-range weights then lose whole logits
            # (max |dp| 0.20 on an AMD EPYC VM; the tests allow 0.06). ONNX Runtime's advice.
            reduce_range=True,
            # quantize_dynamic first rewrites a Gemm as MatMul + Add, the MatMul named
            # GEMM_MatMul (onnx_model.py, replace_gemm_with_matmul): exclude both names.
            nodes_to_exclude=[*kept, *(f"{name}_MatMul" for name in kept)],
        )
        if not kept:
            return target.read_bytes(), kept
        quantized = onnx.load(str(target))
    _weights_to_int8(quantized, set(kept), ref)
    return quantized.SerializeToString(), kept


def static_int8(
    parent: Parent,
    *,
    calibration: str | None = None,
    calibrate: str = "minmax",
    per_channel: bool = False,
    **rest: Any,
) -> Compressed:
    """Weights and activations to int8 (QDQ), activation ranges calibrated on rows of
    ``calibration`` (a recipe[:split] or fingerprint[:split]) by ``calibrate``."""
    refuse_extra("static-int8", rest)
    if calibrate not in CALIBRATE:
        raise UsageError(
            f"--calibrate {calibrate!r} is not a calibration method; use one of "
            f"{', '.join(CALIBRATE)}"
        )
    if calibration is None:
        raise UsageError(
            "static-int8 needs --calibration RECIPE[:split] (rows that set the activation "
            "ranges); e.g. --calibration recipes/train.yaml:train"
        )
    columns = parent.columns
    if columns is None:
        raise UsageError(
            f"model {parent.info.ref} has no signature naming its input columns, so "
            "--calibration rows cannot be fed to it; register it with --sample"
        )
    table, data_ref = versioned_rows(calibration, parent.store, columns, what="--calibration")
    _check_numbers(table, calibration)
    # The histogram calibrators (entropy, percentile) stack batches: all the same size.
    batch = min(_BATCH, table.num_rows)
    table = table.slice(0, min(CALIBRATION_ROWS, table.num_rows) // batch * batch)
    graph, steps = _onnx_of(parent, "static-int8", sample=table)
    qt = require("onnxruntime.quantization", "int8 quantization")
    with (
        _workdir(graph) as (source, target),
        _quiet(),
        _tool("ONNX Runtime's quantize_static", parent.info.ref),
    ):
        reader = _reader(qt, source, table, batch)
        qt.quantize_static(
            str(source),
            str(target),
            reader,
            quant_format=qt.QuantFormat.QDQ,
            activation_type=qt.QuantType.QInt8,
            weight_type=qt.QuantType.QInt8,
            per_channel=per_channel,
            # 7-bit weights: x86 CPUs without VNNI (AVX2 alone) multiply u8 by s8 in
            # pairs that saturate at 16 bits; full-range weights then lose whole logits
            # (max |dp| 0.20 on an AMD EPYC VM; the tests allow 0.06). ONNX Runtime's advice.
            reduce_range=True,
            calibrate_method=getattr(qt.CalibrationMethod, CALIBRATE[calibrate]),
        )
        data = target.read_bytes()
    params = {
        "calibrate": calibrate,
        "per_channel": per_channel,
        "format": "QDQ",
        "rows": table.num_rows,
    }
    return Compressed(
        "onnx",
        data,
        params,
        data_ref=data_ref,
        steps=(*steps, {"step": "quantize_static", "engine": "onnxruntime"}),
    )


def fp16(parent: Parent, **rest: Any) -> Compressed:
    """Float weights and arithmetic to float16; inputs and outputs stay float32."""
    refuse_extra("fp16", rest)
    graph, steps = _onnx_of(parent, "fp16")
    onnx = require("onnx", "float16 conversion")
    convert = require("onnxruntime.transformers.float16", "float16 conversion")
    model = onnx.load_from_string(graph)
    with _quiet(), _tool("the float16 conversion", parent.info.ref):
        half = convert.convert_float_to_float16(model, keep_io_types=True)
    halved = [i.name for i in half.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    if not halved:
        raise UsageError(
            f"fp16 found no float weights it converts in model {parent.info.ref} "
            f"({_ops(model)}); ai.onnx.ml operators stay float32, so there is nothing to halve"
        )
    return Compressed(
        "onnx",
        half.SerializeToString(),
        {"keep_io_types": True},
        steps=(*steps, {"step": "convert_float_to_float16", "engine": "onnxruntime"}),
    )


# --------------------------------------------------------------------------- ONNX


def _onnx_of(
    parent: Parent, method: str, sample: pa.Table | None = None
) -> tuple[bytes, tuple[dict[str, Any], ...]]:
    """The parent's ONNX graph (converted in memory from scikit-learn or torch, with that
    step), refused when it holds nothing ``method`` changes."""
    info = parent.info
    steps: tuple[dict[str, Any], ...] = ()
    if info.flavor == "onnx":
        assert info.object_key is not None and info.sha256 is not None
        graph = read_verified(
            parent.store.objects, info.object_key, info.sha256, f"the artifact of model {info.ref}"
        )
    elif info.flavor in ("sklearn", "torch"):
        rows = sample
        if rows is None and info.run_id is not None and parent.columns:
            rows = run_sample(
                parent.store, parent.store.catalog.get_run(info.run_id), parent.columns
            )
        if rows is None:
            fix = (
                f"export it first (assay models export-onnx {info.ref} --sample FILE) and "
                "compress that version"
                if info.flavor == "sklearn"
                else "register it in a run that read its data, or register its ONNX export"
            )
            raise UsageError(
                f"model {info.ref} records no run whose rows could check its ONNX conversion; {fix}"
            )
        if info.flavor == "sklearn":
            graph, parity = onnx_graph(parent.model, rows, DEFAULT_TOLERANCE)
            export = {"step": "onnx-export", "engine": "skl2onnx", "bytes": len(graph)}
            steps = ({**export, "parity": parity.to_dict()},)
        else:
            graph, diff = _torch_onnx(parent, rows)
            export = {"step": "onnx-export", "engine": "torch.onnx", "bytes": len(graph)}
            steps = ({**export, "max_abs_diff": diff},)
    else:
        kinds = "ONNX, scikit-learn and torch"
        raise UsageError(f"{method} applies to {kinds} models; model {info.ref} is {info.flavor}")
    if method != "fp16":
        onnx = require("onnx", "int8 quantization")
        model = onnx.load_from_string(graph)
        if not {n.op_type for n in model.graph.node} & QUANTIZABLE:
            raise UsageError(
                f"{method} found no layer ONNX Runtime quantizes in model {info.ref} "
                f"({_ops(model)}); scikit-learn's linear and tree models stay float: "
                "compress a neural network, or distil this one"
            )
    return graph, steps


def _torch_onnx(parent: Parent, rows: pa.Table) -> tuple[bytes, float]:
    """The torch module as an ONNX graph (one float32 input ``X`` of the signature's
    columns, its output as is), checked against the module on ``rows``."""
    torch = require("torch", "PyTorch models")
    ort = require("onnxruntime", "ONNX models")
    columns = parent.columns
    if columns is None:
        raise UsageError(
            f"model {parent.info.ref} has no signature naming its input columns, so it "
            "cannot be converted to ONNX; register it with --sample"
        )
    x = float_matrix(rows.select(columns))
    buffer = io.BytesIO()
    with _quiet(), _tool("torch.onnx.export", parent.info.ref):
        torch.onnx.export(
            parent.model.raw,
            (torch.from_numpy(x[:1]),),
            buffer,
            dynamo=False,  # the TorchScript-based exporter: no onnxscript needed
            input_names=["X"],
            output_names=["output"],
            dynamic_axes={"X": {0: "rows"}, "output": {0: "rows"}},
        )
    graph = buffer.getvalue()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    want = np.asarray(parent.model.predict(rows), dtype=np.float64)
    got = np.asarray(session.run(None, {"X": x})[0], dtype=np.float64)
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    if got.shape != want.shape or not diff <= DEFAULT_TOLERANCE:
        raise ModelCheckFailed(
            f"the ONNX graph of {parent.info.ref} does not match it on {len(x)} rows "
            f"(max |Δ| = {diff:.3g}, tolerance {DEFAULT_TOLERANCE:g}); nothing was registered"
        )
    return graph, diff


def _select(model: Any, patterns: Sequence[str], ref: str) -> list[str]:
    """The MatMul and Gemm nodes with a constant 2-D weight whose names match one of
    ``patterns``; each pattern must match one."""
    weights = {i.name for i in model.graph.initializer if len(i.dims) == 2}
    candidates = [
        n.name
        for n in model.graph.node
        if n.op_type in ("MatMul", "Gemm") and n.name and n.input[1] in weights
    ]
    for pattern in patterns:
        if not fnmatch.filter(candidates, pattern):
            more = f", … {len(candidates) - 4} more" if len(candidates) > 4 else ""
            shown = ", ".join(candidates[:4]) + more
            raise UsageError(
                f"--weight-only {pattern!r} matches no MatMul or Gemm with a constant "
                f"weight in model {ref}; give a glob over their names ({shown or 'none'})"
            )
    if model.opset_import and _onnx_opset(model) < 13:
        raise UsageError(
            f"--weight-only needs ONNX opset 13 or later (per-channel "
            f"DequantizeLinear); model {ref} is opset {_onnx_opset(model)}: export it again"
        )
    return [n for n in candidates if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def _onnx_opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _weights_to_int8(model: Any, names: set[str], ref: str) -> None:
    """Store the weight of each node in ``names`` as int8 with one symmetric scale per
    output channel, dequantized in the graph just before the node reads it."""
    require("onnx", "int8 quantization")
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = {n.name: n for n in graph.node}
    for wanted in sorted(names):
        node = nodes.get(wanted) or nodes.get(f"{wanted}_MatMul")  # a Gemm, rewritten
        if node is None or node.input[1] not in inits:  # never a silent float32 layer
            raise ModelCheckFailed(
                f"ONNX Runtime's quantize_dynamic rewrote node {wanted} of {ref} past "
                "recognition, so --weight-only cannot quantize its weight; nothing was "
                "registered"
            )
        name = node.input[1]
        weight = numpy_helper.to_array(inits[name]).astype(np.float32)
        # The output channels: columns of MatMul's B [K, N], rows of Gemm's B when transB.
        trans = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        axis = 0 if trans else 1
        scale = np.abs(weight).max(axis=1 - axis) / 127
        scale[scale == 0] = 1  # an all-zero channel: any scale reproduces it
        shaped = scale[:, None] if axis == 0 else scale[None, :]
        int8 = np.clip(np.rint(weight / shaped), -127, 127).astype(np.int8)
        stem = f"{node.name}_{name}"
        graph.initializer.extend(
            [
                numpy_helper.from_array(int8, f"{stem}_int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{stem}_scale"),
                numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{stem}_zero_point"),
            ]
        )
        graph.node.insert(
            0,
            helper.make_node(
                "DequantizeLinear",
                [f"{stem}_int8", f"{stem}_scale", f"{stem}_zero_point"],
                [f"{stem}_dequantized"],
                name=f"{stem}_DequantizeLinear",
                axis=axis,
            ),
        )
        node.input[1] = f"{stem}_dequantized"
    read = {i for n in graph.node for i in n.input} | {v.name for v in graph.output}
    read |= {v.name for v in graph.input}
    for init in [i for i in graph.initializer if i.name in inits and i.name not in read]:
        graph.initializer.remove(init)  # the float weights now unused


def _check_numbers(table: pa.Table, calibration: str) -> None:
    """Calibration rows the graph can take: numbers, no nulls (NaN ranges would
    quantize everything to nonsense)."""
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise UsageError(
                f"--calibration {calibration!r}: column {name!r} holds {kind}, not numbers; "
                "give the numeric columns the model reads"
            )
        if column.null_count:
            raise UsageError(
                f"--calibration {calibration!r}: column {name!r} has {column.null_count} "
                "null(s); give rows without nulls (e.g. a recipe with where: "
                f'"{name} is not null")'
            )


def _ops(model: Any) -> str:
    names = list(dict.fromkeys(n.op_type for n in model.graph.node))
    more = f", … {len(names) - 6} more" if len(names) > 6 else ""
    return "its operators: " + ", ".join(names[:6]) + more


def _reader(qt: Any, graph_path: Path, table: pa.Table, batch: int) -> Any:
    """A CalibrationDataReader over ``table`` in batches of ``batch`` rows, fed as the
    graph takes input: one float32 matrix in signature order, or one column per input."""
    ort = require("onnxruntime", "int8 quantization")
    inputs = ort.InferenceSession(str(graph_path), providers=["CPUExecutionProvider"]).get_inputs()
    if len(inputs) == 1:
        matrix = float_matrix(table)
        feeds = [{inputs[0].name: matrix[i : i + batch]} for i in range(0, len(matrix), batch)]
    else:
        absent = [i.name for i in inputs if i.name not in table.column_names]
        if absent:
            raise UsageError(
                f"--calibration lacks the graph's input(s) {', '.join(absent)}; give data "
                "with the columns the model reads"
            )
        columns = {i.name: float_matrix(table.select([i.name])) for i in inputs}
        feeds = [
            {name: col[i : i + batch] for name, col in columns.items()}
            for i in range(0, table.num_rows, batch)
        ]

    class Reader(qt.CalibrationDataReader):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    return Reader()


@contextlib.contextmanager
def _workdir(graph: bytes) -> Iterator[tuple[Path, Path]]:
    """A private folder holding the graph as a file (ONNX Runtime's quantizers read and
    write paths, and the entropy calibrator leaves files beside them)."""
    with tempfile.TemporaryDirectory(prefix="assay-compress-") as folder:
        source = Path(folder) / "model.onnx"
        source.write_bytes(graph)
        yield source, Path(folder) / "compressed.onnx"


@contextlib.contextmanager
def _tool(step: str, ref: str) -> Iterator[None]:
    """A third-party step's failure as one line naming the step and the model (the
    converters raise many types, with messages many lines long)."""
    try:
        yield
    except (AssayError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelCheckFailed(
            f"{step} failed on model {ref} ({shorten(first, 200)}); nothing was registered"
        ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the quantizers' chatter off the terminal: ONNX Runtime prints calibration
    progress to stdout (which carries --json) and logs advice on the root logger."""
    disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)


# --------------------------------------------------------------------------- torch


def _torch_dynamic(parent: Parent, per_channel: bool) -> Compressed:
    torch = require("torch", "PyTorch models")
    module = parent.model.raw
    if isinstance(module, torch.jit.ScriptModule):
        raise UsageError(
            f"model {parent.info.ref} is TorchScript, which dynamic-int8 cannot rewrite; "
            "register it as a state dict with its class (--class module:Class)"
        )
    if per_channel:
        raise UsageError(
            "--per-channel applies to ONNX models; PyTorch's dynamic quantization of Linear "
            "layers is per tensor"
        )
    linear = sum(isinstance(m, torch.nn.Linear) for m in module.modules())
    if not linear:
        raise UsageError(
            f"model {parent.info.ref} has no torch.nn.Linear layer for dynamic-int8 to quantize"
        )
    from assay.models.flavors import get_flavor

    with _quiet(), _tool("torch's quantize_dynamic", parent.info.ref):
        quantized = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(module), {torch.nn.Linear}, dtype=torch.qint8
        )
        data, options = get_flavor("torch").dump(quantized, {})
    assert data is not None
    return Compressed(
        "torch",
        data,
        {"per_channel": False, "weight_type": "int8", "layers": "Linear", "quantized": linear},
        options=options,
        steps=({"step": "quantize_dynamic", "engine": "torch"},),
    )
