"""`assay compress` end to end as a subprocess: a registered, lineage-linked version
shown by `models show` and `models lineage`; bad input as one line, exit 2, nothing
registered."""

from __future__ import annotations

import pytest
from quantize_models import Zoo

from assay.models import get_model, list_models
from tests_helpers import objects_in, run_assay


def test_compress_registers_a_version_that_models_show_and_lineage_explain(zoo: Zoo) -> None:
    done = run_assay(
        "compress",
        "mlp@1",
        "--method",
        "static-int8",
        "--calibration",
        f"{zoo.recipe}:train",
        "--calibrate",
        "percentile",
        "--per-channel",
        "--alias",
        "small",
        "--json",
        cwd=zoo.root,
    )
    assert done.rc == 0, done.err
    made = done.json()
    assert made["aliases"] == ["small"] and made["flavor"] == "onnx"
    assert made["parent"] == {"name": "mlp", "version": 1}
    assert made["compression"] == {
        "method": "static-int8",
        "params": {"calibrate": "percentile", "per_channel": True, "format": "QDQ", "rows": 1024},
        "data": f"{zoo.fingerprint}:train",
    }
    shown = run_assay("models", "show", "mlp@small", "--json", cwd=zoo.root).json()
    assert (shown["ref"], shown["parent"], shown["compression"]) == (
        made["ref"],
        made["parent"],
        made["compression"],
    )
    text = run_assay("models", "lineage", "mlp@small", cwd=zoo.root).out
    assert "static-int8 of:" in text and "← model mlp@1 (sklearn" in text
    assert f"← data {zoo.fingerprint}" in text  # the data the parent's run read


def test_the_terminal_says_what_was_registered_and_how_much_smaller(zoo: Zoo) -> None:
    done = run_assay("compress", "run", "mlp@1", "--method", "fp16", cwd=zoo.root)
    assert done.rc == 0, done.err
    first, second, third = done.out.strip().splitlines()
    ref = first.split()[1]
    parent_size, size = (get_model(r, store=zoo.store).size for r in ("mlp@1", ref))
    assert first == f"Registered {ref} (onnx, {size / 1024:.1f} KiB): fp16 of mlp@1"
    ratio = parent_size / size
    assert (
        second.strip() == f"{ratio:.1f}x smaller than mlp@1 ({parent_size / 1024:.1f} KiB) on disk"
    )
    assert third.strip() == f"lineage: assay models lineage {ref}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--method", "int4"), "error: unknown compression method 'int4'; use one of dynamic-int8, "
         "static-int8, fp16, prune, distil"),
        (("--method", "static-int8"), "error: static-int8 needs --calibration RECIPE[:split]"),
        (("--method", "static-int8", "--calibration", "rows.csv"),
         "error: --calibration 'rows.csv' names no dataset version; give a recipe "
         "(recipes/train.yaml[:split]) or a version fingerprint or prefix ([:split])"),
        (("--method", "dynamic-int8", "--name", "x@2"),
         "error: --name 'x@2' is a model name, without '@'; e.g. employment-int8"),
        (("--method", "fp16", "--alias", "latest"), "error: alias 'latest' is not usable"),
        (("--method", "fp16", "--sparsity", "0.5"), "error: fp16 does not take --sparsity"),
        (("--method", "dynamic-int8", "--weight-only", "MatMul", "--weight-only", "Conv*"),
         "error: --weight-only 'Conv*' matches no MatMul or Gemm with a constant weight in "
         "model mlp@1; give a glob over their names (MatMul, MatMul1, MatMul2)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_registers_nothing(
    zoo: Zoo, args: tuple[str, ...], says: str
) -> None:
    before = [m.ref for m in list_models(store=zoo.store)], objects_in(zoo.store)
    done = run_assay("compress", "mlp@1", *args, cwd=zoo.root)
    assert done.rc == 2 and done.error_line().startswith(says), done.err
    assert ([m.ref for m in list_models(store=zoo.store)], objects_in(zoo.store)) == before
    as_json = run_assay("compress", "mlp@1", *args, "--json", cwd=zoo.root).json()
    assert as_json["exit_code"] == 2 and as_json["error"].startswith(says.removeprefix("error: "))
