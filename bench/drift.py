"""Benchmark: drift between ACS 2015 and 2018, each resampled to 1M rows -- assay drift
against Evidently's DataDriftPreset.

What is measured, and why
-------------------------
Issue 15 asks for the same verdict per column as Evidently (or the differences
explained), at least 10x faster, with at most 1/5 of its peak memory. Both tools get
the same two Parquet files: ``--rows`` rows (1M) drawn with replacement, with a fixed
seed, from the 2015 and from the 2018 survey rows of
``examples/data/acs_employment_ma.parquet`` (the 17 survey columns; ``id`` and
``year`` left out), written once to ``bench/out/data/``. ``--width 50`` copies the
columns (``AGEP_2``, …) up to 50 columns, the size the issue's memory goal names.

Each tool runs in its own subprocess, one at a time, interleaved over ``--rounds``
rounds (the order rotates each round). Its time is measured inside the child from just
before the data is read to the verdicts (**the Parquet read is included**; imports and
interpreter start are not); its peak memory is its VmHWM (``/proc/self/status``) at the
end. assay runs in the project's ``.venv`` (``assay.diagnostics.drift.drift`` on the
two file paths: the engine scans them), Evidently 0.7 in ``bench/.venv-evidently``
(``bench/requirements-evidently.txt``; pandas frames from ``pd.read_parquet``, then
``Report([DataDriftPreset()]).run``). Medians over the rounds are reported, with the
load average, since the machine is shared.

After the rounds the per-column verdicts and statistics of the two tools are compared;
the script exits 1 if a verdict differs (a difference is a finding, not noise).

Run (from the repository root): ``.venv/bin/python bench/drift.py [--rows N]
[--rounds R] [--width W]``. Writes ``bench/out/drift.json``; see bench/README.md,
"Drift".
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
    "evidently": ROOT / "bench" / ".venv-evidently" / "bin" / "python",
}


def make_data(rows: int, width: int, seed: int = 15) -> tuple[Path, Path]:
    """The two resampled years as Parquet, written once per (rows, width)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = OUT / "data"
    folder.mkdir(parents=True, exist_ok=True)
    paths = tuple(folder / f"drift-{y}-{rows}-{width}.parquet" for y in (2015, 2018))
    if all(p.exists() for p in paths):
        return paths  # type: ignore[return-value]
    acs = pq.read_table(ACS)
    rng = np.random.default_rng(seed)
    for y, path in zip((2015, 2018), paths, strict=True):
        year = acs.filter(pc.equal(acs["year"], y)).drop_columns(["id", "year"])
        table = year.take(pa.array(rng.integers(0, year.num_rows, rows)))
        names, copy = list(table.column_names), 2
        while table.num_columns < width:
            for name in names[: width - table.num_columns]:
                table = table.append_column(f"{name}_{copy}", table[name])
            copy += 1
        pq.write_table(table, path)
    return paths  # type: ignore[return-value]


# -- the children -----------------------------------------------------------------------


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_assay(ref: str, cur: str) -> dict[str, Any]:
    import importlib

    # assay imports scipy lazily; imported here so that, like Evidently's, it is not timed
    for module in ("scipy.stats", "scipy.spatial.distance"):
        importlib.import_module(module)

    from assay.diagnostics.drift import drift

    start = time.perf_counter()
    report = drift(ref, cur)
    seconds = time.perf_counter() - start
    columns = {
        c.column: {"stat": c.stat, "value": c.statistic, "drifted": c.drifted}
        for c in report.columns
    }
    return {"seconds": seconds, "columns": columns, "dataset_drifted": report.drifted}


def child_evidently(ref: str, cur: str) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    seconds = time.perf_counter() - start
    columns, dataset = {}, None
    for m in snapshot.dict()["metrics"]:
        config = m["config"]
        if config["type"].endswith("ValueDrift"):
            method, value, limit = config["method"], m["value"], config["threshold"]
            # Evidently's rule: a p-value drifts below its threshold, a distance at or above
            drifted = bool(value < limit if "p_value" in method else value >= limit)
            columns[config["column"]] = {"stat": method, "value": float(value), "drifted": drifted}
        elif config["type"].endswith("DriftedColumnsCount"):
            dataset = bool(m["value"]["share"] >= config["drift_share"])
    return {"seconds": seconds, "columns": columns, "dataset_drifted": dataset}


def run_child(tool: str, ref: Path, cur: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYTHON[tool]), __file__, "--child", tool, str(ref), str(cur)],
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


def compare(a: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, mine in a["columns"].items():
        theirs = e["columns"].get(name)
        rows.append(
            {
                "column": name,
                "assay_stat": mine["stat"],
                "assay_value": mine["value"],
                "assay_drifted": mine["drifted"],
                "evidently_stat": theirs and theirs["stat"],
                "evidently_value": theirs and theirs["value"],
                "evidently_drifted": theirs and theirs["drifted"],
                "same_verdict": theirs is not None and theirs["drifted"] == mine["drifted"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=17)
    parser.add_argument("--tools", default="assay,evidently")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "REF", "CUR"))
    args = parser.parse_args()
    if args.child:
        tool, ref, cur = args.child
        result = (child_assay if tool == "assay" else child_evidently)(ref, cur)
        result["peak_mib"] = _peak_mib()
        print(json.dumps(result))
        return 0

    ref, cur = make_data(args.rows, args.width)
    tools = args.tools.split(",")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    loads = []
    for r in range(args.rounds):
        order = tools[r % len(tools) :] + tools[: r % len(tools)]
        for tool in order:
            loads.append(os.getloadavg()[0])
            got = run_child(tool, ref, cur)
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
            "dataset_drifted": runs[t][-1]["dataset_drifted"],
        }
        for t in tools
    }
    doc: dict[str, Any] = {
        "rows": args.rows,
        "width": args.width,
        "rounds": args.rounds,
        "load_average_during": [min(loads), statistics.median(loads), max(loads)],
        "cpus": os.cpu_count(),
        "tools": summary,
    }
    code = 0
    if {"assay", "evidently"} <= set(tools):
        a, e = summary["assay"], summary["evidently"]
        doc["speedup"] = e["median_seconds"] / a["median_seconds"]
        doc["memory_ratio"] = a["median_peak_mib"] / e["median_peak_mib"]
        doc["columns"] = compare(runs["assay"][-1], runs["evidently"][-1])
        differ = [c["column"] for c in doc["columns"] if not c["same_verdict"]]
        doc["verdicts_differ"] = differ
        print(
            f"assay {a['median_seconds']:.2f} s / {a['median_peak_mib']:.0f} MiB; "
            f"Evidently {e['median_seconds']:.2f} s / {e['median_peak_mib']:.0f} MiB: "
            f"{doc['speedup']:.1f}x faster, {doc['memory_ratio']:.2f} of its memory; "
            f"verdicts differ on: {', '.join(differ) or 'none'}",
            file=sys.stderr,
        )
        code = 1 if differ else 0
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"drift-{args.rows}-{args.width}.json").write_text(json.dumps(doc, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
