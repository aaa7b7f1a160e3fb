"""Real models for the quantization tests, fitted on 3,000 ACS rows of 2015.

A module of its own (not ``conftest``): the CLI tests import ``TabularMLP`` by its
``module:Class`` path, and conftest names are ambiguous. The store holds dataset
``employment`` (4,000 rows); ``RECIPE`` splits it into ``train`` and ``test``, and
``OLDEST`` keeps only the people over 75 (calibration drawn from one slice).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

import assay

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
LABEL = "employed"
ROWS = 4000
RECIPE = (
    "dataset: employment\n"
    "deltas: {include: [base]}\n"
    "split: {seed: 1, fractions: {train: 0.75, test: 0.25}}\n"
)
# Calibration drawn from one slice, the people over 75 (documented in docs/compress.md):
# the MLP answers 0 for nearly all of them, so static int8 learns a one-sided range for
# its last layer and answers 0 for everyone. Measured on the test split: accuracy on
# ages 25-64 falls by 51.7 points, on ages 65 and over it rises by 1.0.
OLDEST = 'dataset: employment\ndeltas: {include: [base]}\nwhere: "AGEP > 75"\n'


@dataclass
class Zoo:
    """The shared store, its recipes and what the tests compare against."""

    store: assay.Store
    root: Path
    recipe: Path
    oldest: Path  # calibration from one slice: static int8 that hurts another
    fingerprint: str
    test: pd.DataFrame  # rows no model saw
    fp32_bytes: bytes  # the MLP's float32 ONNX graph, converted independently


class TabularMLP(torch.nn.Module):
    """Standardised features → two ReLU layers → two logits."""

    def __init__(self, mean: list[float], scale: list[float], width: int = 64):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(len(mean), width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.scale)  # type: ignore[operator]


def build_store(root: Path, acs: pa.Table) -> tuple[Path, Path, Path]:
    """A store at ``root/.assay`` with the rows, and the two recipe files beside it."""
    data = root / "base.parquet"
    pq.write_table(acs.slice(0, ROWS), data)
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label=LABEL)
        assay.add_delta(store, "employment", data, name="base")
    recipe, oldest = root / "employment.yaml", root / "oldest.yaml"
    recipe.write_text(RECIPE)
    oldest.write_text(OLDEST)
    return root / ".assay", recipe, oldest


def fit_mlp(train: pd.DataFrame) -> Any:
    """scikit-learn's MLPClassifier (64, 64) behind a scaler, seeded."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), MLPClassifier((64, 64), max_iter=40, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 40 epochs are enough here
        return model.fit(train[FEATURES], train[LABEL])


def fit_torch(train: pd.DataFrame, epochs: int = 40) -> TabularMLP:
    """``TabularMLP`` trained full-batch with Adam, seeded."""
    torch.manual_seed(0)
    x = torch.tensor(train[FEATURES].to_numpy(np.float32))
    y = torch.tensor(train[LABEL].to_numpy(np.int64))
    net = TabularMLP(x.mean(0).tolist(), x.std(0).clamp_min(1e-6).tolist())
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimiser.step()
    return net.eval()
