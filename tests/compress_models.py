"""A store with a real ACS model and compressed versions of it, for the trade-off report
and the gate: a scikit-learn MLP exported to ONNX (the parent), its dynamic int8
quantization, a static int8 quantization calibrated on people under 65 only (so people
65 and over are out of its input range: it hurts that one slice), and a byte-for-byte
copy of the parent (an "fp32 copy": no smaller, no faster)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import assay
from assay.compress import compress
from assay.models.export import export_onnx
from assay.models.signature import Signature
from tests_helpers import year

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "SEX", "RAC1P"]
SLICES = {"women": "SEX = 2", "over_65": "AGEP >= 65", "young": "AGEP < 30"}


@dataclass
class Project:
    root: Path
    store: assay.Store
    recipe: Path  # its test split is what the reports evaluate on
    parent: str  # the ONNX export of the MLP
    int8: str  # dynamic int8
    hurt: str  # static int8 calibrated on people under 65
    copy: str  # the parent's bytes registered again


def build(
    root: Path, acs: pa.Table, *, rows: int = 12_000, hidden: tuple[int, ...] = (128, 64)
) -> Project:
    """Train, export, compress and register; ``rows`` people of 2016 (60% train)."""
    people = year(acs, 2016)
    people = people.take(np.random.default_rng(0).choice(people.num_rows, rows, replace=False))
    pq.write_table(people, root / "people.parquet")
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "employment", ["id"], label="employed")
    assay.add_delta(store, "employment", root / "people.parquet", name="base")
    slices = "".join(f'\n  {name}: "{text}"' for name, text in SLICES.items())
    recipe = root / "recipe.yaml"
    recipe.write_text(
        "dataset: employment\n"
        f"columns: [id, employed, {', '.join(FEATURES)}]\n"
        "split: {seed: 3, fractions: {train: 0.6, test: 0.4}}\n"
        f"slices:{slices}\n"
    )
    (root / "under_65.yaml").write_text('dataset: employment\nwhere: "AGEP < 65"\n')
    train = assay.compose(recipe, store=store).to_pandas(split="train")
    # Raw features, no scaler: AGEP is the widest input, so a calibration that never
    # saw anyone over 64 clips exactly the over-65s.
    # 40 epochs make a fair model, short of sklearn's idea of convergence.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden, max_iter=40, random_state=0)
        mlp.fit(train[FEATURES], train.employed)
    sample = train[FEATURES].head(200)
    assay.register_model("employment", mlp, sample=sample, aliases=["sklearn"], store=store)
    parent, _ = export_onnx("employment@sklearn", sample=sample, aliases=["fp32"], store=store)
    compress("employment@fp32", "dynamic-int8", aliases=["int8"], store=store)
    compress(
        "employment@fp32", "static-int8", calibration=str(root / "under_65.yaml"),
        aliases=["hurt"], store=store,
    )  # fmt: skip
    graph = root / "copy.onnx"
    assert parent.object_key is not None
    graph.write_bytes(store.objects.get_bytes(parent.object_key))
    signature = Signature.from_dict(parent.signature)
    assay.register_model("employment", graph, aliases=["copy"], signature=signature, store=store)
    return Project(
        root, store, recipe, "employment@fp32", "employment@int8", "employment@hurt",
        "employment@copy",
    )  # fmt: skip
