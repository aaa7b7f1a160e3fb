"""ONNX export: parity on a real sample, refusal under a tiny tolerance, lineage to the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from models_helpers import FEATURES

import assay
from assay.errors import ModelCheckFailed, UsageError
from assay.models import export_onnx, lineage, list_models, load_model, register_model
from tests_helpers import objects_in


@pytest.mark.parametrize("which", ["logreg", "gboost"])
def test_export_matches_the_model(
    store: assay.Store,
    which: str,
    request: pytest.FixtureRequest,
    held_out: pd.DataFrame,
    tmp_path: Path,
) -> None:
    est: Any = request.getfixturevalue(which)
    golden = tmp_path / "g.jsonl"
    golden.write_text('{"input": ' + held_out[FEATURES].iloc[0].to_json() + ', "expected": '
                      + str(int(est.predict(held_out[FEATURES].head(1))[0])) + "}\n")  # fmt: skip
    source = register_model("emp", est, sample=held_out.head(50), golden=golden, store=store)
    info, parity = export_onnx("emp", sample=held_out, aliases=["serving"], store=store)
    assert (info.ref, info.flavor, info.aliases) == ("emp@2", "onnx", ("serving",))
    assert (parity.compared, parity.rows, parity.labels_differ) == ("predict_proba", 1000, 0)
    assert 0 < parity.max_abs_diff < 1e-5  # float32 graph vs float64 estimator
    assert info.source["from"] == {"name": "emp", "version": 1}
    assert info.source["parity"]["max_abs_diff"] == parity.max_abs_diff
    assert info.golden == source.golden  # the examples carry over

    onnx = load_model("emp@serving", store=store)
    want = est.predict_proba(held_out[FEATURES])
    got = onnx.predict_proba(held_out)  # the same table input as the source: signature kept
    assert np.abs(got - want).max() == pytest.approx(parity.max_abs_diff)
    assert (
        onnx.signature is not None
        and onnx.signature.columns == load_model("emp@1", store=store).signature.columns
    )  # type: ignore[union-attr]
    chain = lineage("emp@serving", store=store)
    assert chain["derived_from"]["ref"] == "emp@1" and chain["derived_from"]["flavor"] == "sklearn"

    before = objects_in(store)
    with pytest.raises(
        ModelCheckFailed,
        match=r"the ONNX export of emp@1 does not match it on 1000 rows \(max \|Δ predict_proba\| = .*, tolerance 1e-12\); nothing was registered",
    ):
        export_onnx("emp@1", sample=held_out, tolerance=1e-12, store=store)  # fmt: skip
    assert [m.ref for m in list_models(store=store)] == ["emp@1", "emp@2"]
    assert objects_in(store) == before


def test_export_needs_sklearn_and_a_sample(store: assay.Store, logreg: Any) -> None:
    register_model("rule", "math:fsum", store=store)
    with pytest.raises(UsageError, match="flavor 'python'; only scikit-learn models export"):
        export_onnx("rule", store=store)
    register_model("emp", logreg, store=store)
    with pytest.raises(
        UsageError, match=r"records no run .* give a sample of its input \(--sample FILE\)"
    ):
        export_onnx("emp", store=store)  # fmt: skip
