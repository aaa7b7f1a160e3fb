"""Label tests against their peers: aggregation against crowd-kit, label errors against
cleanlab.

    .venv/bin/python bench/labels.py [aggregation|label_errors] [--runs 7] [--rows 50000]

``aggregation()`` times assay's and crowd-kit's MajorityVote and DawidSkene on the real
e-2 annotations (15,521 items, 3 votes each, 8 annotators): both start from the same
in-memory frame, both DawidSkene use n_iter=100, tol=1e-5 on the same objective. It
reports the median of ``--runs`` fits of each, the iterations, and the share of
identical labels. crowd-kit lives only in the peer venv (bench/.venv), so its half
runs there as a subprocess of this script (``crowdkit`` below); the labels travel
through a temporary Parquet file.

``label_errors()`` draws ``--rows`` ACS people, flips 2% of their labels at random rows,
and finds them with assay (5-fold cross-validated gradient boosting, then confident
learning) and with cleanlab's ``CleanLearning`` (its default: 5-fold logistic
regression, then the same rules); precision, recall and the median of up to 3 runs of
each. cleanlab also runs ``find_label_issues`` on assay's probabilities (the same rows
must come out), and a model of the clean labels fitted on every other person gives the
precision no per-row score could beat at that recall.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
E2 = ROOT / "examples/data/annotations_e2.csv"
PEER_PYTHON = ROOT / "bench/.venv/bin/python"


def _median_seconds(fit: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def crowdkit(runs: int, out: Path) -> None:
    """crowd-kit's half (in the peer venv): times and labels, to ``out``."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote

    data = pd.read_csv(E2).rename(columns={"item": "task", "annotator": "worker"})
    mv_s, mv = _median_seconds(lambda: MajorityVote().fit(data), runs)
    ds_s, ds = _median_seconds(lambda: DawidSkene(n_iter=100, tol=1e-5).fit(data), runs)
    labels = pd.DataFrame({"mv": mv.labels_, "ds": ds.labels_}).rename_axis("item")
    labels.reset_index().to_parquet(out.with_suffix(".parquet"), index=False)
    out.write_text(json.dumps({"mv_s": mv_s, "ds_s": ds_s, "ds_iterations": len(ds.loss_history_)}))


def aggregation(runs: int) -> dict[str, Any]:
    """assay vs crowd-kit, MajorityVote and DawidSkene on e-2 (see the module docstring)."""
    import numpy as np
    import pandas as pd

    from assay.labels import DawidSkene, MajorityVote, read_annotations

    data = pd.read_csv(E2)

    def votes() -> Any:
        return read_annotations(data, item="item", annotator="annotator", label="label")

    mv_s, mv = _median_seconds(lambda: MajorityVote().fit(votes()), runs)
    ds_s, ds = _median_seconds(lambda: DawidSkene(n_iter=100, tol=1e-5).fit(votes()), runs)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "crowdkit.json"
        subprocess.run(
            [str(PEER_PYTHON), __file__, "crowdkit", "--runs", str(runs), "--out", str(report)],
            check=True,
        )
        peer = json.loads(report.read_text())
        theirs = pd.read_parquet(report.with_suffix(".parquet")).set_index("item").loc[mv.items_]
    result = {
        "items": int(mv.items_.size),
        "runs": runs,
        "majority_vote": {
            "assay_s": mv_s,
            "crowdkit_s": peer["mv_s"],
            "speedup": peer["mv_s"] / mv_s,
            "identical": float(np.mean(mv.labels_ == theirs["mv"].to_numpy())),
        },
        "dawid_skene": {
            "assay_s": ds_s,
            "crowdkit_s": peer["ds_s"],
            "speedup": peer["ds_s"] / ds_s,
            "identical": float(np.mean(ds.labels_ == theirs["ds"].to_numpy())),
            "assay_iterations": ds.n_iter_,
            "crowdkit_iterations": peer["ds_iterations"],
        },
    }
    for name in ("majority_vote", "dawid_skene"):
        r = result[name]
        print(
            f"{name:14} assay {r['assay_s'] * 1e3:8.1f} ms  crowd-kit {r['crowdkit_s'] * 1e3:8.1f} ms"
            f"  {r['speedup']:5.1f}x  identical labels {r['identical']:.2%}"
        )
    return result


ACS = ROOT / "examples/data/acs_employment_ma.parquet"


def _flipped(rows: int, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """``rows`` ACS people drawn at random, their features, their labels with 2% flipped
    at random rows, the mask of those rows, and every other person (for the bound)."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(ACS).to_pandas()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    picked, rest = table.iloc[order[:rows]], table.iloc[order[rows:]]
    features = [c for c in table.columns if c not in ("id", "employed", "year")]
    y = picked.employed.to_numpy().copy()
    at = rng.choice(rows, rows // 50, replace=False)
    y[at] = 1 - y[at]
    wrong = np.zeros(rows, dtype=bool)
    wrong[at] = True
    return picked[features].to_numpy(np.float64), y, wrong, rest


def _scored(flagged: Any, wrong: Any) -> dict[str, float]:
    hits = int((flagged & wrong).sum())
    return {
        "flagged": int(flagged.sum()),
        "precision": hits / max(int(flagged.sum()), 1),
        "recall": hits / int(wrong.sum()),
    }


def cleanlab_half(runs: int, data: Path, out: Path) -> None:
    """cleanlab's half (in the peer venv): ``CleanLearning`` with its default logistic
    regression (5-fold), and ``find_label_issues`` on assay's own probabilities."""
    import numpy as np
    from cleanlab.classification import CleanLearning
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression

    arrays = np.load(data)
    X, y, wrong, proba = arrays["X"], arrays["y"], arrays["wrong"], arrays["proba"]

    def clean_learning() -> Any:
        cl = CleanLearning(LogisticRegression(max_iter=1000), seed=0, cv_n_folds=5)
        return cl.find_label_issues(X, y)["is_label_issue"].to_numpy()

    cl_s, flagged = _median_seconds(clean_learning, runs)
    same_s, same = _median_seconds(
        lambda: find_label_issues(y, proba, filter_by="prune_by_noise_rate", n_jobs=1), runs
    )
    out.write_text(
        json.dumps(
            {
                "clean_learning": {"seconds": cl_s, **_scored(flagged, wrong)},
                "on_assay_proba": {"seconds": same_s, **_scored(same, wrong)},
                "on_assay_proba_rows": np.flatnonzero(same).tolist(),
            }
        )
    )


def label_errors(runs: int, rows: int) -> dict[str, Any]:
    """assay vs cleanlab on ``rows`` ACS people with 2% of labels flipped: precision,
    recall and the median time of each, and the best any per-row score could do."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from assay.labels.issues import cross_val_proba, find_issues

    X, y, wrong, rest = _flipped(rows)

    def assay_issues() -> tuple[Any, Any]:
        proba = cross_val_proba(X, y, cv=5)
        return find_issues(y, proba), proba

    assay_s, (flagged, proba) = _median_seconds(assay_issues, runs)
    find_s, _ = _median_seconds(lambda: find_issues(y, proba), runs)
    with tempfile.TemporaryDirectory() as tmp:
        data, report = Path(tmp) / "data.npz", Path(tmp) / "cleanlab.json"
        np.savez(data, X=X, y=y, wrong=wrong, proba=proba)
        subprocess.run(
            [str(PEER_PYTHON), __file__, "cleanlab", "--runs", str(runs), "--data", str(data),
             "--out", str(report)],
            check=True,
        )  # fmt: skip
        peer = json.loads(report.read_text())
    same = peer.pop("on_assay_proba_rows") == np.flatnonzero(flagged).tolist()
    # The bound: a model of the clean labels fitted on every other person (~250,000)
    # stands in for the true P(employed | features); ranking by the given label's
    # probability under it is the best a per-row score can do. Its precision at the
    # recall assay reached is the ceiling for any method that sees only the features.
    features = [c for c in rest.columns if c not in ("id", "employed", "year")]
    oracle = HistGradientBoostingClassifier(max_iter=300, random_state=0)
    oracle.fit(rest[features].to_numpy(np.float64), rest.employed.to_numpy())
    p = oracle.predict_proba(X)[np.arange(rows), y]
    hits = np.cumsum(wrong[np.argsort(p, kind="stable")])
    mine = _scored(flagged, wrong)
    at = int(np.searchsorted(hits, np.ceil(mine["recall"] * wrong.sum())))
    result = {
        "rows": rows,
        "flipped": int(wrong.sum()),
        "runs": runs,
        "assay": {"seconds": assay_s, "rules_seconds": find_s, **mine},
        "cleanlab": peer["clean_learning"],
        "cleanlab_on_assay_proba": {**peer["on_assay_proba"], "identical_rows": same},
        "bound_precision_at_assay_recall": float(hits[at] / (at + 1)),
    }
    for name in ("assay", "cleanlab", "cleanlab_on_assay_proba"):
        r = result[name]
        print(
            f"{name:24} precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
            f"flagged {r['flagged']:6,}  {r['seconds']:7.2f} s"
        )
    print(
        f"the rules alone: assay {find_s * 1e3:.1f} ms, cleanlab "
        f"{peer['on_assay_proba']['seconds'] * 1e3:.1f} ms; bound: precision "
        f"{result['bound_precision_at_assay_recall']:.3f} at assay's recall"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part",
        nargs="?",
        default="all",
        choices=["all", "aggregation", "label_errors", "crowdkit", "cleanlab"],
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=50_000, help="ACS rows for label_errors")
    parser.add_argument("--data", type=Path, help="(cleanlab) the arrays label_errors wrote")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/labels.json")
    args = parser.parse_args()
    if args.part == "crowdkit":
        crowdkit(args.runs, args.out)
        return
    if args.part == "cleanlab":
        cleanlab_half(args.runs, args.data, args.out)
        return
    results: dict[str, Any] = {}
    if args.part in ("all", "aggregation"):
        results["aggregation"] = aggregation(args.runs)
    if args.part in ("all", "label_errors"):
        results["label_errors"] = label_errors(min(args.runs, 3), args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
