"""Benchmark: slice finding over a real model's errors on 1M ACS rows -- assay's
SliceLine against the ``sliceline`` package.

What is measured, and why
-------------------------
Issue 15 asks for the same top-5 slices as the ``sliceline`` package, at least 3x
faster, with at most 1/3 of its peak memory. Both tools get the same input, written
once to ``bench/out/data/``:

* the rows: ``--rows`` rows (1M) drawn with replacement, with a fixed seed, from all
  277,677 rows of ``examples/data/acs_employment_ma.parquet`` (the 16 survey features);
* the errors: 0/1 misclassification of a real model, a scikit-learn
  ``HistGradientBoostingClassifier`` (50 iterations) trained on 20,000 other rows
  drawn from the same file;
* the same binning: each feature is cut by assay's own binning (``bins=10``: columns
  with more than 10 values get quantile bins), and both tools get the resulting
  integer codes, one per row and feature. assay reads them with ``bins=1000`` so that
  it takes every code column as categorical and bins nothing again.

Each tool runs in its own subprocess, one at a time, interleaved over ``--rounds``
rounds (the order rotates). Its time is measured inside the child from just before the
Parquet file of codes and errors is read to the top-k (imports and interpreter start
are not timed); its peak memory is its VmHWM (``/proc/self/status``) at the end, so
it includes the interpreter and the imported libraries. assay runs in the project's
``.venv`` (``slices_from_errors``), sliceline 0.3.0 in ``bench/.venv``
(``bench/requirements-peers.txt``; ``Slicefinder(alpha, k, max_l, min_sup).fit`` on
the codes as a NumPy array; numba is not installed, so it runs its NumPy code).
Settings: k=5, max_level=2, alpha=0.95, min_support = 1% of the rows (the paper's).
Medians over the rounds are reported, with the load average, since the machine is
shared. The top-5 slices (their predicates as column=code, their sizes and scores) are
compared at the end; the script exits 1 if they differ.

Run (from the repository root): ``.venv/bin/python bench/slices.py [--rows N]
[--rounds R] [--max-level L]``. Writes ``bench/out/slices-<rows>-<level>.json``; see
bench/README.md, "Slice finding".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACS = ROOT / "examples" / "data" / "acs_employment_ma.parquet"
OUT = ROOT / "bench" / "out"
PYTHON = {
    "assay": ROOT / ".venv" / "bin" / "python",
    "sliceline": ROOT / "bench" / ".venv" / "bin" / "python",
}
FEATURES = [
    "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG",
    "MIL", "ANC", "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P",
]  # fmt: skip
SETTINGS = {"k": 5, "alpha": 0.95}


def make_data(rows: int, seed: int = 15) -> Path:
    """The codes of the resampled rows and the model's errors, as Parquet, written once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.ensemble import HistGradientBoostingClassifier

    from assay.diagnostics.slices import _encode

    path = OUT / "data" / f"slices-{rows}.parquet"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    acs = pq.read_table(ACS)
    rng = np.random.default_rng(seed)
    train = acs.take(pa.array(rng.integers(0, acs.num_rows, 20_000))).to_pandas()
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    model.fit(train[FEATURES], train.employed)
    rows_ = acs.take(pa.array(rng.integers(0, acs.num_rows, rows)))
    frame = rows_.select(FEATURES).to_pandas()
    wrong = model.predict(frame) != rows_.column("employed").to_numpy()
    columns = {}
    for name in FEATURES:
        encoded = _encode(name, rows_.column(name), 10)
        assert not isinstance(encoded, str), encoded
        columns[name] = pa.array(encoded.codes.astype(np.int8))
    columns["_error"] = pa.array(wrong.astype(np.float64))
    pq.write_table(pa.table(columns), path)
    return path


# -- the children -----------------------------------------------------------------------


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_assay(path: str, max_level: int, min_support: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from assay.diagnostics.slices import slices_from_errors

    start = time.perf_counter()
    table = pq.read_table(path)
    errors = table.column("_error").to_numpy()
    report = slices_from_errors(
        table.drop_columns(["_error"]),
        errors,
        max_level=max_level,
        min_support=min_support,
        bins=1000,
        **SETTINGS,
    )
    seconds = time.perf_counter() - start
    top = [
        {
            "slice": sorted(f"{p.column}={p.value}" for p in s.predicates),
            "size": s.size,
            "score": s.score,
        }
        for s in report.slices
    ]
    return {"seconds": seconds, "top": top, "levels": [vars(lv) for lv in report.levels]}


def child_sliceline(path: str, max_level: int, min_support: int) -> dict[str, Any]:
    import warnings

    import pyarrow.parquet as pq
    from sliceline.slicefinder import Slicefinder

    start = time.perf_counter()
    table = pq.read_table(path)
    errors = table.column("_error").to_numpy()
    names = [c for c in table.column_names if c != "_error"]
    x = table.select(names).to_pandas().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "numba not available"
        finder = Slicefinder(
            alpha=SETTINGS["alpha"],
            k=SETTINGS["k"],
            max_l=max_level,
            min_sup=min_support,
            verbose=False,
        )
        finder.fit(x, errors)
    seconds = time.perf_counter() - start
    top = [
        {
            "slice": sorted(
                f"{n}={int(v)}" for n, v in zip(names, row, strict=True) if v is not None
            ),
            "size": int(stats["slice_size"]),
            "score": float(stats["slice_score"]),
        }
        for row, stats in zip(finder.top_slices_, finder.top_slices_statistics_, strict=True)
    ]
    return {"seconds": seconds, "top": top}


def run_child(tool: str, path: Path, max_level: int, min_support: int) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYTHON[tool]), __file__, "--child", tool, str(path), str(max_level), str(min_support)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


# -- the parent ---------------------------------------------------------------------------


def same_top(a: list[dict[str, Any]], s: list[dict[str, Any]], k: int) -> bool:
    """The first k slices: the same predicates and sizes, in the same order, with scores
    equal to 1e-9 (relative)."""
    if len(a) != min(k, len(s)):
        return False
    return all(
        x["slice"] == y["slice"]
        and x["size"] == y["size"]
        and abs(x["score"] - y["score"]) <= 1e-9 * max(1.0, abs(y["score"]))
        for x, y in zip(a, s[:k], strict=False)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-level", type=int, default=2)
    parser.add_argument("--tools", default="assay,sliceline")
    parser.add_argument("--child", nargs=4, metavar=("TOOL", "PATH", "LEVEL", "SUPPORT"))
    args = parser.parse_args()
    if args.child:
        tool, path, level, support = args.child
        run = child_assay if tool == "assay" else child_sliceline
        result = run(path, int(level), int(support))
        result["peak_mib"] = _peak_mib()
        print(json.dumps(result))
        return 0

    path = make_data(args.rows)
    min_support = max(32, -(-args.rows // 100))
    tools = args.tools.split(",")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    loads = []
    for r in range(args.rounds):
        order = tools[r % len(tools) :] + tools[: r % len(tools)]
        for tool in order:
            loads.append(os.getloadavg()[0])
            got = run_child(tool, path, args.max_level, min_support)
            runs[tool].append(got)
            print(
                f"round {r + 1} {tool:9s} {got['seconds']:7.2f} s  "
                f"{got['peak_mib']:7.0f} MiB peak  (load {loads[-1]:.1f})",
                file=sys.stderr,
            )
    summary = {
        t: {
            "median_seconds": statistics.median(x["seconds"] for x in runs[t]),
            "median_peak_mib": statistics.median(x["peak_mib"] for x in runs[t]),
            "median_process_seconds": statistics.median(x["process_seconds"] for x in runs[t]),
            "seconds": [x["seconds"] for x in runs[t]],
            "peak_mib": [x["peak_mib"] for x in runs[t]],
            "top": runs[t][-1]["top"],
        }
        for t in tools
    }
    doc: dict[str, Any] = {
        "rows": args.rows,
        "max_level": args.max_level,
        "min_support": min_support,
        **SETTINGS,
        "rounds": args.rounds,
        "load_average_during": [min(loads), statistics.median(loads), max(loads)],
        "cpus": os.cpu_count(),
        "tools": summary,
    }
    code = 0
    if {"assay", "sliceline"} <= set(tools):
        a, s = summary["assay"], summary["sliceline"]
        doc["speedup"] = s["median_seconds"] / a["median_seconds"]
        doc["memory_ratio"] = a["median_peak_mib"] / s["median_peak_mib"]
        doc["same_top_k"] = same_top(a["top"], s["top"], SETTINGS["k"])
        print(
            f"assay {a['median_seconds']:.2f} s / {a['median_peak_mib']:.0f} MiB; "
            f"sliceline {s['median_seconds']:.2f} s / {s['median_peak_mib']:.0f} MiB: "
            f"{doc['speedup']:.1f}x faster, {doc['memory_ratio']:.2f} of its memory; "
            f"same top-{SETTINGS['k']}: {doc['same_top_k']}; load "
            f"{doc['load_average_during'][1]:.1f} (median)",
            file=sys.stderr,
        )
        code = 0 if doc["same_top_k"] else 1
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"slices-{args.rows}-{args.max_level}.json"
    (OUT / name).write_text(json.dumps(doc, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
