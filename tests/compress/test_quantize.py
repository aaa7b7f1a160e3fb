"""Quantization of real ACS models: int8 (dynamic, static QDQ) and fp16 through ONNX
Runtime, dynamic int8 in torch; lineage; refusals that register nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from quantize_models import FEATURES, Zoo

import assay
from assay.compress import compress
from assay.errors import UsageError
from assay.models import export_onnx, lineage, list_models, load_model, model_to_dict
from assay.runs import SANDBOX_ENV, held_back
from tests_helpers import objects_in


def _agreement(a: Any, b: Any) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def _ops(data: bytes) -> set[str]:
    return {n.op_type for n in onnx.load_from_string(data).graph.node}


# Measured on these 1,003 held-out rows (MLP 64x64, a 20.8 kB float32 graph): label
# agreement with the parent 0.996 (dynamic), 0.999 (per channel), 1.0 (fp16); |Δ proba|
# at most 0.021 / 0.017 / 0.0003; size 0.44 / 0.47 / 0.69 of the float32 graph.
@pytest.mark.parametrize(
    ("method", "params", "agree", "dproba", "ratio"),
    [
        ("dynamic-int8", {}, 0.985, 0.06, 0.5),
        ("dynamic-int8", {"per_channel": True}, 0.985, 0.06, 0.55),
        ("fp16", {}, 0.998, 0.003, 0.75),
    ],
)
def test_int8_and_fp16_answer_like_the_parent_and_are_smaller(
    zoo: Zoo, method: str, params: dict[str, Any], agree: float, dproba: float, ratio: float
) -> None:
    info = compress("mlp@1", method, store=zoo.store, **params)
    assert (info.name, info.flavor) == ("mlp", "onnx")
    parent, small = load_model("mlp@1", store=zoo.store), load_model(info.ref, store=zoo.store)
    rows = zoo.test[FEATURES]
    assert _agreement(small.predict(rows), parent.predict(rows)) >= agree
    assert np.abs(small.predict_proba(rows) - parent.predict_proba(rows)).max() <= dproba
    assert info.size <= ratio * len(zoo.fp32_bytes)
    data = zoo.store.objects.get_bytes(info.object_key)
    if method == "fp16":
        halves = [
            i for i in onnx.load_from_string(data).graph.initializer if i.data_type == 10
        ]  # TensorProto.FLOAT16
        assert len(halves) >= 6  # three weight matrices and three biases
    else:
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= _ops(data)
    # Lineage: the parent, the method and the ONNX conversion before it.
    shown = model_to_dict(info)
    assert shown["parent"] == {"name": "mlp", "version": 1}
    assert shown["compression"]["method"] == method and shown["compression"]["data"] is None
    if method == "dynamic-int8":
        assert shown["compression"]["params"]["per_channel"] is bool(params)
    export, step = info.source["steps"]
    assert (export["step"], export["bytes"]) == ("onnx-export", len(zoo.fp32_bytes))
    assert export["parity"]["passed"] and export["parity"]["labels_differ"] == 0
    assert step["engine"] == "onnxruntime"
    chain = lineage(info.ref, store=zoo.store)
    assert chain["derived_from"]["ref"] == "mlp@1" and chain["derived_from"]["run"] is not None


def test_dynamic_int8_weights_are_the_float_weights_rounded(zoo: Zoo) -> None:
    """Each int8 weight times its scale is within half a step of the float weight (the
    definition of symmetric per-tensor quantization), read from the two graphs."""
    info = compress("mlp@1", "dynamic-int8", store=zoo.store)
    graph = onnx.load_from_string(zoo.store.objects.get_bytes(info.object_key)).graph
    floats = {
        i.name: numpy_helper.to_array(i)
        for i in onnx.load_from_string(zoo.fp32_bytes).graph.initializer
    }
    tensors = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    checked = 0
    for name, weight in floats.items():
        if f"{name}_quantized" not in tensors:
            continue
        q = tensors[f"{name}_quantized"].astype(np.float64)
        scale = float(tensors[f"{name}_scale"])
        zero = float(tensors[f"{name}_zero_point"])
        assert np.abs((q - zero) * scale - weight).max() <= scale / 2 + 1e-7
        checked += 1
    assert checked == 3  # the three MatMul weights


@pytest.fixture(scope="module")
def gemm(zoo: Zoo) -> tuple[str, bytes]:
    """The torch MLP exported to ONNX (its Linear layers become Gemm with transB) and
    registered as an ONNX model: its ref and its float32 graph."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
        torch.onnx.export(
            load_model("net@1", store=zoo.store).raw,
            (torch.zeros(1, len(FEATURES)),),
            buffer,
            dynamo=False,
            input_names=["X"],
            output_names=["logits"],
            dynamic_axes={"X": {0: "rows"}, "logits": {0: "rows"}},
        )
    graph = onnx.load_from_string(buffer.getvalue())
    assert {n.op_type for n in graph.graph.node} >= {"Gemm"}
    sample = zoo.test[FEATURES].head(50).astype("float32")
    info = assay.register_model("gemm", graph, sample=sample, store=zoo.store)
    return info.ref, buffer.getvalue()


def _rounded_graph(graph: bytes, names: set[str]) -> bytes:
    """``graph`` with the weights of nodes ``names`` replaced by their int8 rounding, one
    symmetric scale per output channel (columns of MatMul's B, rows of Gemm's transposed
    B): the float model that the int8 weights with float inputs describe."""
    model = onnx.load_from_string(graph)
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.name in names:
            weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
            keep = 1 if node.op_type == "Gemm" else 0  # the axis each scale spans
            scale = np.abs(weight).max(axis=keep, keepdims=True) / 127
            rounded = (np.round(weight / scale) * scale).astype(np.float32)
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(rounded, node.input[1]))
    return model.SerializeToString()


@pytest.mark.parametrize("which", ["mlp", "gemm"])
def test_weight_only_graph_is_the_float_graph_with_rounded_weights(
    zoo: Zoo, gemm: tuple[str, bytes], which: str
) -> None:
    """Every layer weight-only: the graph quantizes no input, so run as written (graph
    optimizations off: ONNX Runtime would fuse each pair into MatMulNBits, which
    quantizes rows) it must answer as the float graph with each weight rounded per output
    channel, built independently here."""
    import onnxruntime as ort

    from assay.models.flavors import get_flavor
    from assay.models.flavors.onnx import OnnxPredictor
    from assay.models.signature import to_batch

    ref, graph = ("mlp@1", zoo.fp32_bytes) if which == "mlp" else gemm
    pattern = "MatMul*" if which == "mlp" else "*Gemm"
    layers = {"MatMul", "Gemm"}
    names = {n.name for n in onnx.load_from_string(graph).graph.node if n.op_type in layers}
    info = compress(ref, "dynamic-int8", weight_only=[pattern], store=zoo.store)
    params = info.source["compression"]["params"]
    assert params["weight_only"] == [pattern] and params["weight_only_nodes"] == 3
    data = zoo.store.objects.get_bytes(info.object_key)
    nodes = onnx.load_from_string(data).graph.node
    assert "DynamicQuantizeLinear" not in _ops(data)
    dequantized = {n.output[0] for n in nodes if n.op_type == "DequantizeLinear"}
    assert len(dequantized) == 3
    # quantize_dynamic rewrites a Gemm as GEMM_MatMul + GEMM_Add: the MatMul reads it.
    readers = {n.name for n in nodes if n.op_type in layers and n.input[1] in dequantized}
    assert {n.removesuffix("_MatMul") if which == "gemm" else n for n in readers} == names
    rows = zoo.test[FEATURES].astype("float32")
    batch = to_batch(rows)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    got, want = (
        OnnxPredictor(session),
        get_flavor("onnx").load(_rounded_graph(graph, names), {}, trusted=True),
    )
    if which == "mlp":
        assert np.abs(got.predict_proba(batch) - want.predict_proba(batch)).max() < 1e-5
    else:
        assert np.abs(got.predict(batch) - want.predict(batch)).max() < 1e-4
    # As served (fused, rows quantized): measured labels 99.8% equal to the parent's.
    parent, small = load_model(ref, store=zoo.store), load_model(info.ref, store=zoo.store)
    labels = [m.predict(rows) for m in (parent, small)]
    if which == "gemm":
        labels = [x.argmax(1) for x in labels]
    assert _agreement(*labels) >= 0.98
    assert info.size < 0.5 * len(graph)  # the weights are stored as int8


def test_weight_only_leaves_the_other_layers_dynamic(zoo: Zoo) -> None:
    info = compress("mlp@1", "dynamic-int8", weight_only="MatMul1", store=zoo.store)
    assert info.source["compression"]["params"] == {
        "per_channel": False,
        "weight_type": "int8",
        "weight_only": ["MatMul1"],
        "weight_only_nodes": 1,
    }
    graph = onnx.load_from_string(zoo.store.objects.get_bytes(info.object_key)).graph
    kinds = [n.op_type for n in graph.node]
    assert kinds.count("MatMulInteger") == 2 and kinds.count("MatMul") == 1
    (layer,) = [n for n in graph.node if n.op_type == "MatMul"]
    (dequantize,) = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert layer.name == "MatMul1" and layer.input[1] == dequantize.output[0]
    tensors = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    fp32 = onnx.load_from_string(zoo.fp32_bytes).graph
    floats = {i.name: numpy_helper.to_array(i) for i in fp32.initializer}
    int8, scale = tensors[dequantize.input[0]], tensors[dequantize.input[1]]
    assert int8.dtype == np.int8 and int8.shape == floats["coefficient1"].shape == (64, 64)
    np.testing.assert_allclose(scale, np.abs(floats["coefficient1"]).max(axis=0) / 127, rtol=1e-6)
    assert "coefficient1" not in tensors  # the float copy is gone


def test_static_int8_calibrates_on_a_recorded_version_three_ways(zoo: Zoo) -> None:
    parent, rows = load_model("mlp@1", store=zoo.store), zoo.test[FEATURES]
    scales = {}
    for calibrate in ("minmax", "entropy", "percentile"):
        info = compress(
            "mlp@1",
            "static-int8",
            calibration=f"{zoo.recipe}:train",
            calibrate=calibrate,
            store=zoo.store,
        )
        compression = info.source["compression"]
        assert compression["data"] == f"{zoo.fingerprint}:train"
        assert compression["params"] == {
            "calibrate": calibrate,
            "per_channel": False,
            "format": "QDQ",
            "rows": 1024,
        }
        graph = onnx.load_from_string(zoo.store.objects.get_bytes(info.object_key)).graph
        assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
        small = load_model(info.ref, store=zoo.store)
        # Measured: 0.996 for each method.
        assert _agreement(small.predict(rows), parent.predict(rows)) >= 0.98
        assert info.size < 0.7 * len(zoo.fp32_bytes)  # measured 0.60
        scales[calibrate] = {
            i.name: float(numpy_helper.to_array(i))
            for i in graph.initializer
            if i.name.endswith("_scale") and numpy_helper.to_array(i).size == 1
        }
    # The input's range: percentile clips the outer 0.001% that minmax keeps; on these
    # rows entropy's best threshold is the maximum itself.
    first = "cast_input_scale"
    assert scales["percentile"][first] < scales["minmax"][first]
    assert scales["entropy"][first] == pytest.approx(scales["minmax"][first], rel=0.01)


def test_an_onnx_parent_is_quantized_as_stored_and_the_chain_reaches_the_estimator(
    zoo: Zoo,
) -> None:
    exported, _ = export_onnx("mlp@1", sample=zoo.test[FEATURES].head(200), store=zoo.store)
    info = compress(exported.ref, "dynamic-int8", store=zoo.store)
    assert [step["step"] for step in info.source["steps"]] == ["quantize_dynamic"]
    assert model_to_dict(info)["parent"] == {"name": "mlp", "version": exported.version}
    chain = lineage(info.ref, store=zoo.store)
    assert chain["derived_from"]["ref"] == exported.ref
    assert chain["derived_from"]["derived_from"]["ref"] == "mlp@1"
    stored = zoo.store.objects.get_bytes(exported.object_key)
    assert len(stored) == len(zoo.fp32_bytes) and info.size < 0.5 * len(stored)


def test_under_a_training_test_the_registration_is_held_back_on_the_run(
    zoo: Zoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``assay test reproduce``/``smoke`` a compressing script runs unchanged but
    the registry stays as it was: the write is recorded on the test's run."""
    before = [m.ref for m in list_models(store=zoo.store)]
    monkeypatch.setenv(SANDBOX_ENV, "smoke")
    with assay.start_run("smoke", store=zoo.store) as run:
        info = compress("mlp@1", "fp16", store=zoo.store)
    monkeypatch.delenv(SANDBOX_ENV)
    assert [m.ref for m in list_models(store=zoo.store)] == before
    would_be = max(int(r.split("@")[1]) for r in before if r.startswith("mlp@")) + 1
    assert info.ref == f"mlp@{would_be}"
    (write,) = held_back(assay.get_run(run.id, store=zoo.store))
    assert (write["action"], write["name"], write["version"]) == ("register", "mlp", would_be)
    assert write["source"]["compression"]["method"] == "fp16"


def test_name_registers_under_another_name_linked_to_the_parent(zoo: Zoo) -> None:
    info = compress("mlp@1", "fp16", name="mlp-half", aliases=["small"], store=zoo.store)
    assert (info.ref, info.aliases) == ("mlp-half@1", ("small",))
    assert model_to_dict(info)["parent"] == {"name": "mlp", "version": 1}
    assert lineage("mlp-half@small", store=zoo.store)["derived_from"]["ref"] == "mlp@1"


def test_calibration_from_one_slice_hurts_another(zoo: Zoo) -> None:
    """The documented way to make a quantized model that fails a slice: calibrate on
    people over 75 only. Measured: accuracy -51.7 points on ages 25-64, +1.0 on 65+."""
    info = compress("mlp@1", "static-int8", calibration=str(zoo.oldest), store=zoo.store)
    assert info.source["compression"]["data"] is not None  # the slice's version, recorded
    parent, small = load_model("mlp@1", store=zoo.store), load_model(info.ref, store=zoo.store)
    test, y = zoo.test, zoo.test["employed"].to_numpy()
    working = ((test["AGEP"] >= 25) & (test["AGEP"] < 65)).to_numpy()
    retired = (test["AGEP"] >= 65).to_numpy()
    before, after = parent.predict(test[FEATURES]) == y, small.predict(test[FEATURES]) == y
    assert after[working].mean() < before[working].mean() - 0.3
    assert after[retired].mean() >= before[retired].mean() - 0.01


def test_torch_dynamic_int8_quantizes_the_linear_layers(zoo: Zoo) -> None:
    import torch

    info = compress("net@1", "dynamic-int8", store=zoo.store)
    assert info.flavor == "torch" and "model_class" not in info.options  # TorchScript
    assert info.source["compression"]["params"]["quantized"] == 3
    parent, small = load_model("net@1", store=zoo.store), load_model(info.ref, store=zoo.store)
    rows = zoo.test[FEATURES]
    want, got = parent.predict(rows), small.predict(rows)
    # Measured: labels 0.992 the same, logits within 0.12; TorchScript 17.7 kB against
    # the float state dict's 22.7 kB (the script's code weighs more than its weights here).
    assert _agreement(got.argmax(1), want.argmax(1)) >= 0.98
    assert np.abs(got - want).max() < 0.4
    assert info.size < 0.9 * parent.info.size
    kinds = {type(m).__name__ for m in small.raw.modules()}
    assert "Linear" not in kinds and isinstance(small.raw, torch.jit.ScriptModule)


def test_a_torch_model_goes_through_onnx_for_fp16_and_static_int8(zoo: Zoo) -> None:
    parent, rows = load_model("net@1", store=zoo.store), zoo.test[FEATURES]
    want = parent.predict(rows)
    half = compress("net@1", "fp16", store=zoo.store)
    static = compress("net@1", "static-int8", calibration=f"{zoo.recipe}:train", store=zoo.store)
    # Measured: the float32 graph (20.5 kB) within 1e-6 of the module; fp16 11.2 kB,
    # labels 100% equal, logits within 0.0024; static int8 9.7 kB, 99.8%, within 0.13.
    for info, agree, logits in ((half, 0.998, 0.01), (static, 0.98, 0.5)):
        assert info.flavor == "onnx"
        export = info.source["steps"][0]
        assert (export["step"], export["engine"]) == ("onnx-export", "torch.onnx")
        assert export["max_abs_diff"] < 1e-4  # the float32 graph against the module
        assert info.size < 0.6 * export["bytes"]
        got = load_model(info.ref, store=zoo.store).predict(rows)
        assert got.shape == want.shape
        assert _agreement(got.argmax(1), want.argmax(1)) >= agree
        assert np.abs(got - want).max() < logits


@pytest.mark.parametrize(
    ("ref", "method", "params", "says"),
    [
        ("mlp@1", "int4", {}, "unknown compression method 'int4'; use one of dynamic-int8, "),
        ("linear@1", "dynamic-int8", {}, "found no layer ONNX Runtime quantizes in model "
         "linear@1 (its operators: LinearClassifier"),
        ("trees@1", "static-int8", {"calibration": "RECIPE"}, "TreeEnsembleClassifier"),
        ("rule@1", "fp16", {}, "fp16 applies to ONNX, scikit-learn and torch models; model "
         "rule@1 is python"),
        ("mlp@1", "static-int8", {}, "static-int8 needs --calibration RECIPE[:split]"),
        ("mlp@1", "static-int8", {"calibration": "RECIPE", "calibrate": "mse"},
         "--calibrate 'mse' is not a calibration method; use one of minmax, entropy, percentile"),
        ("mlp@1", "static-int8", {"calibration": "nowhere.csv"},
         "--calibration 'nowhere.csv' names no dataset version; give a recipe"),
        ("mlp@1", "static-int8", {"calibration": "OTHER"},
         "lacks the model's input column(s) SCHL, MAR, RELP, DIS, SEX, RAC1P, CIT"),
        ("mlp@1", "fp16", {"calibration": "RECIPE"}, "fp16 does not take --calibration"),
        ("mlp@1", "static-int8", {"calibration": "GAPS"}, "column 'AGEP' has 1 null(s); give "
         'rows without nulls (e.g. a recipe with where: "AGEP is not null")'),
        ("net@1", "dynamic-int8", {"per_channel": True}, "--per-channel applies to ONNX models"),
        ("net@1", "dynamic-int8", {"weight_only": ["*"]},
         "--weight-only applies to ONNX models"),
        ("mlp@1", "dynamic-int8", {"weight_only": ["MatMul1", "Conv*"]},
         "--weight-only 'Conv*' matches no MatMul or Gemm with a constant weight in "
         "model mlp@1; give a glob over their names (MatMul, MatMul1, MatMul2)"),
        ("mlp@1", "fp16", {"weight_only": ["*"]}, "fp16 does not take --weight-only"),
        ("mlp@1", "dynamic-int8", {"teachers": ["mlp@1"]},
         "dynamic-int8 does not take --teacher; see `assay compress --help`"),
        ("rule@1", "dynamic-int8", {}, "dynamic-int8 applies to ONNX, scikit-learn and torch "
         "models; model rule@1 is python"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_registers_nothing(
    zoo: Zoo, ref: str, method: str, params: dict[str, Any], says: str
) -> None:
    if params.get("calibration") in ("OTHER", "GAPS"):
        named = {"OTHER": "ages.yaml", "GAPS": "gaps.yaml"}[params["calibration"]]
        params = {**params, "calibration": str(zoo.root / named)}
    elif params.get("calibration") == "RECIPE":
        params = {**params, "calibration": str(zoo.recipe)}
    before = [m.ref for m in list_models(store=zoo.store)], objects_in(zoo.store)
    with pytest.raises(UsageError) as caught:
        compress(ref, method, store=zoo.store, **params)
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert ([m.ref for m in list_models(store=zoo.store)], objects_in(zoo.store)) == before


def test_a_converter_failing_is_one_line_naming_the_step_and_the_model() -> None:
    from assay.compress.quantize import _tool
    from assay.errors import ModelCheckFailed

    with (
        pytest.raises(ModelCheckFailed) as caught,
        _tool("ONNX Runtime's quantize_static", "mlp@1"),
    ):
        raise ValueError("setting an array element with a sequence.\n  File …\n")
    assert str(caught.value) == (
        "ONNX Runtime's quantize_static failed on model mlp@1 (setting an array element "
        "with a sequence.); nothing was registered"
    )
    with pytest.raises(UsageError), _tool("x", "mlp@1"):  # assay's own errors pass through
        raise UsageError("as it was")
