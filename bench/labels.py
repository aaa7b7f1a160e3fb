"""Label tests against their peers: aggregation against crowd-kit (and, from B's half,
label errors against cleanlab).

    .venv/bin/python bench/labels.py [--runs 7]

``aggregation()`` times assay's and crowd-kit's MajorityVote and DawidSkene on the real
e-2 annotations (15,521 items, 3 votes each, 8 annotators): both start from the same
in-memory frame, both DawidSkene use n_iter=100, tol=1e-5 on the same objective. It
reports the median of ``--runs`` fits of each, the iterations, and the share of
identical labels. crowd-kit lives only in the peer venv (bench/.venv), so its half
runs there as a subprocess of this script (``crowdkit`` below); the labels travel
through a temporary Parquet file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part", nargs="?", default="all", choices=["all", "aggregation", "crowdkit"]
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/labels.json")
    args = parser.parse_args()
    if args.part == "crowdkit":
        crowdkit(args.runs, args.out)
        return
    results = {"aggregation": aggregation(args.runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
