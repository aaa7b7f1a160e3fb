"""A deliberately broken training script, one way per argument, for smoke tests.

``python broken_train.py MODE [RECIPE]`` with MODE one of:

* ``diverge`` — the gradient step has the wrong sign, so the loss climbs;
* ``nan`` — the learning rate overflows the weights and the loss becomes NaN;
* ``crash`` — a bug (a misspelt column) raises a KeyError after the data is read;
* ``hang`` — it sleeps far past any smoke-test time bound.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import assay

FEATURES = ["AGEP", "SCHL", "SEX", "MAR", "DIS"]
BATCH = 16


def main(mode: str, recipe: str) -> None:
    with assay.start_run(params={"mode": mode}) as run:
        train = run.read(recipe).to_pandas(split="train")
        if mode == "crash":
            train["SCHOOLING"]  # the bug: no such column
        if mode == "hang":
            time.sleep(600)
        x = train[FEATURES].to_numpy(dtype=np.float64)
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
        y = train["employed"].to_numpy(dtype=np.float64)
        w = np.zeros(len(FEATURES))
        lr = 1e308 if mode == "nan" else 0.5
        sign = -1.0 if mode == "diverge" else 1.0
        with np.errstate(all="ignore"):
            for step, start in enumerate(range(0, len(x), BATCH)):
                xb, yb = x[start : start + BATCH], y[start : start + BATCH]
                z = xb @ w
                # log(1 + e^z) - y z, the logistic loss; NaN once the weights overflow.
                loss = float(np.mean(np.logaddexp(0.0, z) - yb * z))
                run.log_metrics({"loss": loss}, step=step)
                p = 1.0 / (1.0 + np.exp(-z))
                w -= sign * lr * xb.T @ (p - yb) / len(xb)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "train.yaml")
