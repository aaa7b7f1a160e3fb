"""A training script that registers its model, as the demo's does: it fits a logistic
regression (deterministic: lbfgs, fixed data order), logs its test accuracy, registers
it as ``employment`` with ``--alias`` aliases, points ``--move`` aliases at it with
``set_alias``, and loads ``employment@<first alias>`` back. It logs as params what it
registered and what it loaded, so a test can see both.

Usage: ``python register_train.py [--alias A]... [--move A]...``
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression

import assay
from assay.models import load_model, register_model, set_alias

FEATURES = ["AGEP", "SCHL", "SEX", "MAR", "DIS", "CIT", "MIL", "NATIVITY"]
LABEL = "employed"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--move", action="append", default=[])
    args = p.parse_args()
    with assay.start_run() as run:
        data = run.read("train.yaml")
        train, test = data.to_pandas(split="train"), data.to_pandas(split="test")
        model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train[LABEL])
        accuracy = float(np.mean(model.predict(test[FEATURES]) == test[LABEL]))
        run.log_metrics({"accuracy": accuracy})
        info = register_model(
            "employment", model, aliases=args.alias, sample=test[FEATURES].head(50)
        )
        for alias in args.move:
            set_alias("employment", info.version, alias)
        params = {"registered": info.ref}
        if args.alias:
            params["loaded"] = load_model(f"employment@{args.alias[0]}").info.ref
        run.log_params(params)


if __name__ == "__main__":
    main()
