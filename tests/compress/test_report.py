"""The trade-off report and the efficiency gate, on a real ACS MLP through ONNX and its
real int8 quantizations (``compress_models``): shapes, counts checked against ONNX's
own initializers and the stored bytes, metrics against a direct ``evaluate``, and the
gate accepting and rejecting compressed models by slice and by size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import assay
from assay.compress.report import tradeoff
from assay.errors import SpecError, UsageError
from assay.evaluation import evaluate
from assay.models.registry import get_model
from assay.results import GateStatus
from compress_models import SLICES, Project, build
from tests_helpers import run_assay

MODEL_KEYS = {
    "ref", "role", "size_bytes", "params", "latency_p50_ms", "latency_p99_ms", "throughput",
    "metrics",
}  # fmt: skip
METRICS = ["accuracy", "f1", "roc_auc", "log_loss"]
CALLS = 200  # the least the report times; fast for these small graphs


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Project]:
    built = build(tmp_path_factory.mktemp("compress"), acs)
    yield built
    built.store.close()


@pytest.fixture(scope="module")
def report(project: Project) -> Any:
    return tradeoff(project.int8, on=[f"{project.recipe}:test"], store=project.store)


def _object(project: Project, ref: str) -> bytes:
    info = get_model(ref, store=project.store)
    assert info.object_key is not None
    return project.store.objects.get_bytes(info.object_key)


def _initializers(data: bytes) -> int:
    """The parameter count by ONNX's own reader: every initializer as a numpy array."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(data).graph
    return sum(numpy_helper.to_array(t).size for t in graph.initializer)


def test_the_json_has_the_issues_shape_parent_first(project: Project, report: Any) -> None:
    data = json.loads(json.dumps(report.to_dict()))  # plain JSON, no numpy
    parent, compressed = data["models"]
    assert [set(m) for m in data["models"]] == [MODEL_KEYS, MODEL_KEYS]
    assert (parent["role"], compressed["role"]) == ("parent", "compressed")
    # The parent is the one the compressed version's lineage records.
    assert parent["ref"] == get_model(project.parent, store=project.store).ref
    assert compressed["ref"] == get_model(project.int8, store=project.store).ref
    dataset = "recipe.yaml:test"  # the --on text, called by its file name
    assert list(compressed["metrics"]) == [dataset]
    assert list(compressed["metrics"][dataset]) == ["all rows", *SLICES]
    assert all(list(v) == METRICS for v in compressed["metrics"][dataset].values())
    assert data["measured"]["threads"] == 1 and data["measured"]["provider"] == "cpu"
    assert data["measured"]["latency_calls"] >= CALLS
    assert data["measured"]["throughput_batches"] >= 20 and data["measured"]["batch"] == 64


def test_size_and_params_are_the_objects_own(project: Project, report: Any) -> None:
    for row, ref in zip(report.models, [project.parent, project.int8], strict=True):
        data = _object(project, ref)
        assert row["size_bytes"] == len(data)
        # The MLP's graph keeps every weight in initializers (no ai.onnx.ml float attributes).
        assert row["params"] == _initializers(data)
    parent, compressed = report.models
    assert compressed["size_bytes"] < 0.5 * parent["size_bytes"]  # int8 weights
    # The int8 graph holds the same weights plus a scale and a zero point per tensor.
    assert 0 < compressed["params"] - parent["params"] < 50


def test_latency_and_throughput_are_measured(report: Any) -> None:
    for row in report.models:
        assert 0 < row["latency_p50_ms"] <= row["latency_p99_ms"]
        assert row["throughput"] > 0


def test_the_metrics_are_the_gates(project: Project, report: Any) -> None:
    dataset = "recipe.yaml:test"  # the --on text, called by its file name
    direct = evaluate(
        {
            "models": {"candidate": project.int8, "baseline": project.parent},
            "datasets": {"test": {"recipe": str(project.recipe), "split": "test"}},
            "slices": list(SLICES),
            "metrics": METRICS,
            "bootstrap": {"samples": 50},
        },
        store=project.store,
        record=False,
    )
    for row, role in zip(report.models, ["baseline", "candidate"], strict=True):
        for slice_name, values in row["metrics"][dataset].items():
            for metric, value in values.items():
                assert value == direct.cell(role, "test", slice_name, metric).value
    # Quantization moved the answers: the two models' metrics are not all equal.
    parent, compressed = (m["metrics"][dataset]["all rows"] for m in report.models)
    assert parent != compressed


def test_against_compares_with_any_version(project: Project) -> None:
    found = tradeoff(
        project.copy, on=[f"{project.recipe}:test"], against=project.parent, calls=CALLS,
        store=project.store,
    )  # fmt: skip
    parent, copy = found.models
    assert copy["size_bytes"] == parent["size_bytes"] and copy["params"] == parent["params"]
    assert copy["metrics"] == parent["metrics"]  # the same bytes answer the same


def test_a_version_without_parent_needs_against(project: Project) -> None:
    with pytest.raises(UsageError, match=r"employment@\d+ records no parent.*--against"):
        tradeoff(project.copy, on=[f"{project.recipe}:test"], store=project.store)
    with pytest.raises(UsageError, match=r"--on 'people.parquet' names no dataset version"):
        tradeoff(project.int8, on=["people.parquet"], store=project.store)


# -- the gate ------------------------------------------------------------------------


def _gate(project: Project, candidate: str) -> assay.Evaluation:
    return evaluate(
        {
            "models": {"candidate": candidate, "baseline": project.parent},
            "datasets": {"test": {"recipe": str(project.recipe), "split": "test"}},
            "slices": list(SLICES),
            "metrics": ["accuracy"],
            "bootstrap": {"samples": 200},
            "thresholds": [
                {"metric": "accuracy", "vs": "baseline", "max_drop": 0.05, "slices": "all"}
            ],
            "diagnostics": {
                "efficiency": {
                    "thresholds": [{"metric": "size_bytes", "vs": "baseline", "max_ratio": 0.5}]
                }
            },
        },
        store=project.store,
        record=False,
    )


@pytest.fixture(scope="module")
def gates(project: Project) -> dict[str, assay.Evaluation]:
    return {ref: _gate(project, ref) for ref in (project.int8, project.hurt, project.copy)}


def _failed(evaluation: assay.Evaluation) -> list[tuple[str, str]]:
    return [(g.metric, g.slice) for g in evaluation.failures]


def test_the_gate_passes_int8_within_the_drop_on_every_slice(
    project: Project, gates: dict[str, assay.Evaluation]
) -> None:
    evaluation = gates[project.int8]
    assert evaluation.passed, evaluation.failures
    size = next(g for g in evaluation.gate if g.diagnostic == "efficiency")
    assert size.status == GateStatus.PASS
    ratio = len(_object(project, project.int8)) / len(_object(project, project.parent))
    assert size.observed == pytest.approx(ratio) and ratio < 0.5
    accuracy = [g for g in evaluation.gate if g.metric == "accuracy"]
    assert {g.slice for g in accuracy} == {"all rows", *SLICES}


def test_the_gate_rejects_the_quantization_that_hurts_one_slice(
    project: Project, gates: dict[str, assay.Evaluation]
) -> None:
    evaluation = gates[project.hurt]
    assert _failed(evaluation) == [("accuracy", "over_65")]
    hurt = evaluation.failures[0]
    direct = [
        evaluation.cell(role, "test", "over_65", "accuracy").value
        for role in ("candidate", "baseline")
    ]
    assert hurt.observed == pytest.approx(direct[0] - direct[1]) and hurt.observed < -0.05


def test_the_gate_rejects_an_fp32_copy_by_size(
    project: Project, gates: dict[str, assay.Evaluation]
) -> None:
    evaluation = gates[project.copy]
    assert _failed(evaluation) == [("size_bytes_ratio:baseline", "all rows")]
    assert evaluation.failures[0].observed == 1.0
    report = evaluation.diagnostics["efficiency"]
    assert [m["role"] for m in report["models"]] == ["candidate", "baseline"]
    assert report["numbers"]["size_bytes_ratio:baseline"] == 1.0
    # Every ratio the gate can bound is the candidate's number over the baseline's.
    candidate, baseline = report["models"]
    for number in ("latency_p50_ms", "latency_p99_ms", "throughput", "params"):
        ratio = report["numbers"][f"{number}_ratio:baseline"]
        assert ratio == pytest.approx(candidate[number] / baseline[number])


def test_efficiency_rules_are_checked_with_the_spec(project: Project) -> None:
    spec = {
        "models": {"candidate": project.int8, "baseline": project.parent},
        "datasets": {"test": {"recipe": str(project.recipe), "split": "test"}},
        "metrics": ["accuracy"],
        "diagnostics": {
            "efficiency": {
                "provider": "gpu",
                "thresholds": [
                    {"metric": "latency_p50", "vs": "baseline", "max_ratio": 0.67},
                    {"metric": "throughput", "vs": "previous", "min_ratio": 1.5},
                    {"metric": "size_bytes", "vs": "candidate", "max_ratio": 0.5},
                ],
            }
        },
    }
    with pytest.raises(SpecError) as e:
        evaluate(spec, store=project.store, record=False)
    message = str(e.value)
    assert "provider 'gpu' is unknown" in message
    assert "metric 'latency_p50' is not measured" in message
    assert "`vs: previous` is not one of the models timed (candidate, baseline)" in message
    assert "`vs: candidate` compares candidate with itself" in message


# -- the command -----------------------------------------------------------------------


def test_the_command_prints_the_json_and_writes_the_page(project: Project) -> None:
    page = project.root / "out" / "tradeoff.html"
    result = run_assay(
        "compress", "report", project.int8, "--on", f"{project.recipe}:test",
        "--threads", "2", "--html", page, "--markdown", project.root / "out" / "summary.md",
        "--json", cwd=project.root,
    )  # fmt: skip
    assert result.rc == 0, result.err
    data = result.json()
    assert [set(m) for m in data["models"]] == [MODEL_KEYS, MODEL_KEYS]
    assert data["measured"]["threads"] == 2
    assert data["models"][1]["size_bytes"] == len(_object(project, project.int8))
    assert "Size, speed and quality" in page.read_text()
    summary = (project.root / "out" / "summary.md").read_text()
    assert "| over_65 | accuracy |" in summary and "2 thread(s)" in summary


def test_the_terminal_view_states_the_threads(project: Project) -> None:
    result = run_assay(
        "compress", "report", project.int8, "--on", f"{project.recipe}:test", cwd=project.root
    )
    assert result.rc == 0, result.err
    assert "1 thread(s)" in result.out and "p50" in result.out
    assert all(len(line) <= 80 for line in result.out.splitlines())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--provider", "cuda"], "no CUDAExecutionProvider"),
        (["--provider", "tpu"], "provider 'tpu' is unknown"),
        (["--threads", "0"], "threads 0 is not a whole number"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(project: Project, args: list[str], expected: str) -> None:
    page = project.root / "never.html"
    result = run_assay(
        "compress", "report", project.int8, "--on", f"{project.recipe}:test", *args,
        "--html", page, cwd=project.root,
    )  # fmt: skip
    assert result.rc == 2
    assert expected in result.error_line()
    assert not page.exists()


def test_a_missing_dataset_is_exit_2(project: Project) -> None:
    result = run_assay(
        "compress", "report", project.int8, "--on", "nowhere.yaml:test", cwd=project.root
    )
    assert result.rc == 2
    assert "nowhere.yaml" in result.error_line()


def test_params_of_a_scikit_learn_model_are_its_weights(project: Project) -> None:
    from assay.models.registry import load_model
    from assay.scoring.efficiency import count_params

    mlp = load_model("employment@sklearn", store=project.store).raw
    expected = sum(np.asarray(a).size for a in [*mlp.coefs_, *mlp.intercepts_])
    assert count_params("sklearn", mlp, None) == expected
    # Its ONNX export holds the same weights, and a few constants of its own.
    assert expected <= _initializers(_object(project, project.parent)) <= expected + 10


def test_a_torch_model_is_timed_with_its_threads_fixed(project: Project) -> None:
    torch = pytest.importorskip("torch")
    from assay.scoring.efficiency import measure
    from compress_models import FEATURES

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(11, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    rows = assay.compose(project.recipe, store=project.store).to_pandas(split="test")[FEATURES]
    sample = rows.head(20).astype("float32")
    info = assay.register_model("net", net, sample=sample, store=project.store)
    before = torch.get_num_threads()
    found = measure(info, rows.head(300).astype("float32"), store=project.store, threads=1)
    assert found.params == sum(p.numel() for p in net.parameters()) == 11 * 32 + 32 + 32 * 2 + 2
    assert found.threads == 1 and 0 < found.latency_p50_ms <= found.latency_p99_ms
    assert torch.get_num_threads() == before  # the caller's setting is given back
    with pytest.raises(UsageError, match="--provider cuda applies to ONNX models"):
        measure(info, sample, store=project.store, provider="cuda")


def test_a_size_rule_among_the_metric_rules_says_where_it_belongs(project: Project) -> None:
    spec = {
        "models": {"candidate": project.int8, "baseline": project.parent},
        "datasets": {"test": {"recipe": str(project.recipe), "split": "test"}},
        "metrics": ["accuracy"],
        "thresholds": [{"metric": "latency_p50_ms", "vs": "baseline", "max_ratio": 0.67}],
    }
    move = "move the rule under `diagnostics: {efficiency: {thresholds: [...]}}`"
    with pytest.raises(SpecError, match=r"thresholds\[0\]\.max_ratio: size and speed rules"):
        evaluate(spec, store=project.store, record=False)
    spec["thresholds"] = [{"metric": "size_bytes", "max": 1e6}]
    with pytest.raises(SpecError) as e:
        evaluate(spec, store=project.store, record=False)
    assert move in str(e.value) and "not in `metrics`" not in str(e.value)
