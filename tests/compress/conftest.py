"""The models the quantization tests share: built once per session (fitting takes
seconds), in a store the CLI tests reach as a subprocess too."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from quantize_models import FEATURES, Zoo, build_store, fit_mlp, fit_torch

import assay
from assay.models import load_model
from assay.models.export import onnx_graph


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Zoo]:
    """``mlp@1`` (scikit-learn MLP, registered in a run that read the recipe),
    ``linear@1`` and ``trees@1`` (logistic regression, gradient boosting) and ``net@1``
    (a torch MLP, a state dict with its class)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("quantize")
    url, recipe, oldest = build_store(root, acs)
    with assay.open_store(url) as store:
        with assay.start_run("fit", store=store) as run:
            version = run.read(recipe)
            train = version.to_pandas(split="train")
            test = version.to_pandas(split="test").reset_index(drop=True)
            sample = train[FEATURES].head(50)
            assay.register_model("mlp", fit_mlp(train), sample=sample, store=store)
            x, y = train[FEATURES], train["employed"]
            linear = LogisticRegression(max_iter=500).fit(x, y)
            trees = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
            assay.register_model("linear", linear, sample=sample, store=store)
            assay.register_model("trees", trees, sample=sample, store=store)
            net = fit_torch(train)
            init = {"mean": net.mean.tolist(), "scale": net.scale.tolist()}
            assay.register_model(
                "net",
                net,
                model_class="quantize_models:TabularMLP",
                init=init,
                sample=sample,
                store=store,
            )
        assay.register_model("rule", "math:fsum", store=store)  # a python callable
        # A dataset without the models' columns but one, composed (recorded) here.
        pd.DataFrame({"id": [1, 2, 3], "AGEP": [30, 40, 50]}).to_parquet(root / "ages.parquet")
        assay.create_dataset(store, "ages", ["id"])
        assay.add_delta(store, "ages", root / "ages.parquet", name="base")
        (root / "ages.yaml").write_text("dataset: ages\ndeltas: {include: [base]}\n")
        assay.compose(str(root / "ages.yaml"), store=store)
        # The models' columns with one age missing.
        gaps = test[["id", *FEATURES]].head(100).copy()
        gaps["AGEP"] = gaps["AGEP"].astype("float64")
        gaps.loc[3, "AGEP"] = None
        gaps.to_parquet(root / "gaps.parquet")
        assay.create_dataset(store, "gaps", ["id"])
        assay.add_delta(store, "gaps", root / "gaps.parquet", name="base")
        (root / "gaps.yaml").write_text("dataset: gaps\ndeltas: {include: [base]}\n")
        assay.compose(str(root / "gaps.yaml"), store=store)
        graph, _ = onnx_graph(load_model("mlp@1", store=store), test[FEATURES].head(200))
        yield Zoo(store, root, recipe, oldest, version.fingerprint, test, graph)
