"""Train an employment classifier on the ACS data as a recorded run, and register it.

    python examples/train.py --model logreg --alias baseline      # in a folder with a store
    assay run -- python examples/train.py --model gboost --alias candidate

The run records the code commit, the dataset version the recipe composed, the params
and the test metrics; the model is saved with skops as a run artifact and registered
from that run, so `assay models lineage employment@baseline` leads back to the data
and the code. Both models are deterministic (fixed random_state, fixed data order).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import assay
from assay.models import register_model

FEATURES = [
    "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG",
    "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P",
]  # fmt: skip
LABEL = "employed"
HERE = Path(__file__).resolve().parent


def build(kind: str, params: dict[str, Any]) -> Any:
    """The estimator for ``--model``: a scaled logistic regression, or gradient boosting."""
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=1000))
    return HistGradientBoostingClassifier(
        max_iter=params["max_iter"],
        learning_rate=params["learning_rate"],
        random_state=params["random_state"],
        early_stopping=False,
    )


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["logreg", "gboost"], default="logreg")
    p.add_argument("--recipe", default=str(HERE / "recipes" / "train.yaml"))
    p.add_argument("--name", default="employment", help="registered model name")
    p.add_argument("--alias", action="append", default=[], help="alias to set (repeatable)")
    p.add_argument("--store", default=None, help="store path (default: ASSAY_STORE / nearest)")
    args = p.parse_args(argv)

    params: dict[str, Any] = {"model": args.model}
    if args.model == "logreg":
        params.update(C=1.0)
    else:
        params.update(max_iter=60, learning_rate=0.15, random_state=0)
    store = assay.open_store(args.store) if args.store else None
    with assay.start_run(f"train-{args.model}", params, store=store) as run:
        version = run.read(args.recipe)
        train = version.to_pandas(split="train")
        test = version.to_pandas(split="test")
        model = build(args.model, params)
        model.fit(train[FEATURES], train[LABEL])

        proba = model.predict_proba(test[FEATURES])[:, 1]
        metrics = {
            "accuracy": float(accuracy_score(test[LABEL], proba >= 0.5)),
            "roc_auc": float(roc_auc_score(test[LABEL], proba)),
            "log_loss": float(log_loss(test[LABEL], np.column_stack([1 - proba, proba]))),
            "train_rows": len(train),
            "test_rows": len(test),
        }
        assert all(math.isfinite(v) for v in metrics.values())
        run.log_metrics(metrics)

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{args.model}.skops"
            sio.dump(model, path)  # skops, not pickle: loading it runs no code
            run.log_artifact(path)
        info = register_model(
            args.name,
            from_run=run.id,
            aliases=args.alias,
            sample=test[FEATURES].head(200),
            description=f"{args.model} on {version.short}",
            store=run.store,
        )
    tags = f" ({', '.join(info.aliases)})" if info.aliases else ""
    print(
        f"registered {info.ref}{tags}: accuracy {metrics['accuracy']:.4f}, "
        f"ROC AUC {metrics['roc_auc']:.4f} on {metrics['test_rows']:,} test rows "
        f"(run {run.id}, data {version.short})"
    )
    return info.ref


if __name__ == "__main__":
    main()
