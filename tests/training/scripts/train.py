"""A deterministic training script: logistic regression by mini-batch SGD, in numpy.

It reads its data with ``run.read`` (so ``assay test smoke`` can sample it and
``assay test reproduce`` can pin it), trains for ``run.max_epochs or EPOCHS`` epochs
over the rows in the version's fixed order (no shuffling, no random state), logs the
loss of every step and the test accuracy and loss. Usage: ``python train.py
[RECIPE]``; with ``TRAIN_IDS_OUT`` set it also writes the ids of the training rows
there, one per line.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import assay

FEATURES = ["AGEP", "SCHL", "SEX", "MAR", "DIS", "CIT", "MIL", "NATIVITY"]
LABEL = "employed"
EPOCHS = 2
BATCH = 64
LR = 0.5


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main(recipe: str) -> None:
    with assay.start_run(params={"lr": LR, "batch": BATCH, "epochs": EPOCHS}) as run:
        data = run.read(recipe)
        train = data.to_pandas(split="train")
        test = data.to_pandas(split="test")
        if out := os.environ.get("TRAIN_IDS_OUT"):
            with open(out, "w") as f:
                f.writelines(f"{i}\n" for i in train["id"])
        x = train[FEATURES].to_numpy(dtype=np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
        x = (x - mean) / std
        y = train[LABEL].to_numpy(dtype=np.float64)
        w, b = np.zeros(len(FEATURES)), 0.0
        epochs = run.max_epochs or EPOCHS
        step = 0
        for _ in range(epochs):
            for start in range(0, len(x), BATCH):
                xb, yb = x[start : start + BATCH], y[start : start + BATCH]
                p = sigmoid(xb @ w + b)
                run.log_metrics({"loss": log_loss(p, yb)}, step=step)
                w -= LR * xb.T @ (p - yb) / len(xb)
                b -= LR * float(np.mean(p - yb))
                step += 1
        xt = (test[FEATURES].to_numpy(dtype=np.float64) - mean) / std
        yt = test[LABEL].to_numpy(dtype=np.float64)
        pt = sigmoid(xt @ w + b)
        run.log_metrics(
            {
                "accuracy": float(np.mean((pt > 0.5) == yt)),
                "test_loss": log_loss(pt, yt),
                "epochs": epochs,
                "train_rows": len(x),
            }
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "train.yaml")
