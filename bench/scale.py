"""Benchmark: how the store's costs grow with the history behind them (issue 13, item 6).

What is measured, and why
-------------------------
The store's cost should grow with the work asked, not with the history behind it. For
each size in ``--rows`` (default 1M, 10M, 30M composed rows) this script builds the
history ``bench/compose.py`` builds (its generator, imported: a base of N/2 rows, then
20 deltas -- 14 inserts, 4 upserts, 2 deletes -- drawn from the real ACS rows) into a
fresh store and measures, in one run:

* **ingest**: the seconds of each ``add_delta`` against the rows already stored. Within
  one size the inserts have a fixed size (~N/28 rows), so their times should stay flat
  as the history grows (goal: the last insert within 1.25x of the first). The history
  is built ``--ingest-rounds`` times (3) into fresh stores from the same files, and each
  delta's time is the median of its rounds: one insert takes ~0.3 s at 10M rows, and a
  single sample moves by a quarter from run to run on this machine. After the
  history, probes of a fixed ``--probe-keys`` (100k) keys -- an upsert of live keys
  with new values, then a delete of other live keys, three times over, on keys no
  other probe touches -- so that the same work is timed at every history size (goal:
  the same cost at 5M and 10M rows; medians of the three).
* **compose**: ``assay.compose`` of ``deltas: all`` against a raw DuckDB scan of the
  same objects (``compose.py``'s two methods), interleaved over ``--repeats`` rounds;
  the ratio of medians.
* **memory**: the peak RSS (``VmHWM``) of ``assay data compose RECIPE --out FILE`` run in a
  fresh interpreter, which streams the composed rows to Parquet (goal: at 30M rows
  within 1.25x of the peak at 10M).

The machine's load average is recorded before and after each size. Output: a Markdown
table on stdout, ``bench/out/scale.json`` and a plot ``bench/out/scale.html`` (Plotly:
ingest seconds per delta against history rows, and peak RSS against rows).

Run: ``.venv/bin/python bench/scale.py [--rows 1000000,10000000,30000000] [--repeats 3]
[--ingest-rounds 3] [--probe-keys 100000] [--quick]``; ``--rows 100000 --quick`` is a smoke run (< 1 minute).
Inputs and stores go under ``bench/out/data/scale-N/`` and are rebuilt every run (the
ingest is what is measured); see ``bench/README.md``, "How cost grows".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import assay

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compose as gen  # bench/compose.py: the generator and the timed methods

OUT = gen.OUT
INGEST_GOAL = 1.25  # the last insert within 1.25x of the first
RSS_GOAL = 1.25  # peak RSS at 30M rows within 1.25x of the peak at 10M

# Runs `assay compose` in this fresh interpreter, then writes its own peak RSS (VmHWM,
# KiB) to the file named by argv[1]: the child's peak, read by the child itself.


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def history_rows(deltas: list[gen.Delta]) -> list[int]:
    """Rows stored before each delta (delete deltas store their keys as rows too)."""
    sizes = [len(d.ids) for d in deltas]
    return [int(x) for x in np.cumsum([0, *sizes[:-1]])]


PROBE_ROUNDS = 3  # upserts and deletes of fresh keys each: single samples are noisy here


def probes(deltas: list[gen.Delta], n: int, seed: int) -> list[gen.Delta]:
    """``PROBE_ROUNDS`` upserts and deletes of a fixed size, alternating, each of live keys
    that nothing after the base touched and no other probe touches."""
    touched = np.concatenate([d.ids for d in deltas[1:] if d.op in "ud"])
    untouched = np.setdiff1d(deltas[0].ids, touched)
    n = min(n, len(untouched) // (2 * PROBE_ROUNDS))
    keys = np.random.default_rng(seed + 2).permutation(untouched)
    out = []
    for i in range(PROBE_ROUNDS):
        out.append(gen.Delta(f"p_upsert{i}", "u", keys[2 * i * n : (2 * i + 1) * n]))
        out.append(gen.Delta(f"p_delete{i}", "d", keys[(2 * i + 1) * n : (2 * i + 2) * n]))
    return out


def ingest_probes(
    store: assay.Store, folder: Path, extra: list[gen.Delta]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """The median seconds of each kind of probe (``p_upsert``, ``p_delete``), and every
    sample."""
    samples: dict[str, list[float]] = {"p_upsert": [], "p_delete": []}
    for d in extra:
        op = gen.OP_NAMES[d.op]
        t0 = time.perf_counter()
        assay.add_delta(store, gen.DATASET, folder / f"{d.name}.parquet", op=op, name=d.name)
        s = time.perf_counter() - t0
        samples[d.name.rstrip("0123456789")].append(s)
        print(f"  probe  {d.name} {len(d.ids):>10,d} keys  {s:7.2f} s", flush=True)
    return {k: statistics.median(v) for k, v in samples.items()}, samples


def time_compose(store: assay.Store, repeats: int) -> dict[str, Any]:
    """``assay_all`` and ``raw_scan`` interleaved (order alternating), after a warm-up."""
    m = gen.Methods(store)
    methods = {"raw_scan": m.raw_scan, "assay_all": m.assay_all}
    samples: dict[str, list[float]] = {n: [] for n in methods}
    rows: dict[str, int] = {}
    for name, fn in methods.items():  # warm-up: page cache, imports, the version record
        _, table, _ = gen.timed(fn)
        rows[name] = table.num_rows
        del table
    for r in range(repeats):
        for name in list(methods)[:: 1 if r % 2 == 0 else -1]:
            s, table, _ = gen.timed(methods[name])
            del table
            samples[name].append(s)
    med = {n: statistics.median(v) for n, v in samples.items()}
    return {
        "samples_s": samples,
        "median_s": med,
        "rows": rows,
        "ratio": med["assay_all"] / med["raw_scan"],
        "paired_ratio": statistics.median(
            a / b for a, b in zip(samples["assay_all"], samples["raw_scan"], strict=True)
        ),
    }


def run_size(
    rows: int,
    seed: int,
    repeats: int,
    probe_keys: int,
    compose_max: int | None = None,
    ingest_rounds: int = 3,
) -> dict[str, Any]:
    folder = OUT / "data" / f"scale-{rows}"
    store_dir = folder / "store"
    if folder.exists():
        shutil.rmtree(folder)
    load_before = load()
    print(f"\n== {rows:,d} rows (load {load_before[0]:.2f})", flush=True)
    deltas, expected = gen.plan(rows, seed)
    extra = probes(deltas, probe_keys, seed)
    t0 = time.perf_counter()
    gen.write_inputs(deltas, folder, seed)
    gen.write_inputs(extra, folder, seed + 3)
    print(f"  generated in {time.perf_counter() - t0:.1f} s; ingesting", flush=True)
    samples: dict[str, list[float]] = {d.name: [] for d in deltas}
    totals = []
    for r in range(ingest_rounds):
        if r:
            print(f"  ingest round {r + 1}/{ingest_rounds} (a fresh store)", flush=True)
            shutil.rmtree(store_dir)
        t0 = time.perf_counter()
        for name, s in gen.ingest(deltas, folder, store_dir).items():
            samples[name].append(s)
        totals.append(time.perf_counter() - t0)
    ingest_s = {name: statistics.median(v) for name, v in samples.items()}
    ingest_total = statistics.median(totals)
    store = assay.open_store(store_dir)
    history = history_rows(deltas)
    per_delta: list[dict[str, Any]] = [
        {
            "delta": d.name,
            "op": gen.OP_NAMES[d.op],
            "rows": len(d.ids),
            "history_rows": h,
            "s": ingest_s[d.name],  # the median of the rounds
            "samples_s": samples[d.name],
        }
        for d, h in zip(deltas, history, strict=True)
    ]
    inserts = [p for p in per_delta[1:] if p["op"] == "insert"]
    comp: dict[str, Any] | None = None
    if compose_max is None or rows <= compose_max:
        print("  compose vs raw scan ...", flush=True)
        comp = time_compose(store, repeats)
    if comp is not None and comp["rows"]["assay_all"] != expected:
        raise SystemExit(f"compose gave {comp['rows']['assay_all']:,d} rows, not {expected:,d}")
    print("  compose --out in a fresh interpreter ...", flush=True)
    rss = gen.out_rss(store_dir)
    if rss["rows"] != expected:
        raise SystemExit(f"compose --out wrote {rss['rows']:,d} rows, not {expected:,d}")
    stored = history[-1] + len(deltas[-1].ids)
    probe_s, probe_samples = ingest_probes(store, folder, extra)
    shutil.rmtree(folder)  # the next size needs the disk; nothing here is reused
    return {
        "rows": rows,
        "stored_rows": stored,
        "load_before": load_before,
        "load_after": load(),
        "ingest": per_delta,
        "ingest_rounds": ingest_rounds,
        "ingest_total_s": ingest_total,
        "first_insert_s": inserts[0]["s"],
        "last_insert_s": inserts[-1]["s"],
        "last_over_first_insert": inserts[-1]["s"] / inserts[0]["s"],
        # Single samples are noisy on a shared machine: the last three against the first
        # three, and the least-squares growth of an insert's seconds per 1M stored rows.
        "last3_over_first3_insert": statistics.median(p["s"] for p in inserts[-3:])
        / statistics.median(p["s"] for p in inserts[:3]),
        "insert_s_per_1m_history_rows": float(
            np.polyfit([p["history_rows"] / 1e6 for p in inserts], [p["s"] for p in inserts], 1)[0]
        ),
        "probe_keys": len(extra[0].ids),
        "probe_history_rows": stored,
        "probe_s": probe_s,  # medians of PROBE_ROUNDS
        "probe_samples_s": probe_samples,
        "compose": comp,
        "compose_out": rss,
    }


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table of one run: one line per size."""
    head = (
        "| rows | stored rows | ingest s | first / last insert s | last ÷ first (3 ÷ 3) | "
        "insert s per 1M stored rows | "
        "upsert / delete of k keys s | compose s | raw scan s | compose ÷ scan | "
        "`compose --out` peak RSS | load before → after |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        c = r["compose"]
        timed = (
            f"{c['median_s']['assay_all']:.2f} | {c['median_s']['raw_scan']:.2f} "
            f"| {c['ratio']:.2f}× (paired {c['paired_ratio']:.2f}×)"
            if c
            else "– | – | not timed (`--compose-max`)"
        )
        lines.append(
            f"| {r['rows']:,d} | {r['stored_rows']:,d} | {r['ingest_total_s']:.1f} "
            f"| {r['first_insert_s']:.2f} / {r['last_insert_s']:.2f} "
            f"| {r['last_over_first_insert']:.2f}× ({r['last3_over_first3_insert']:.2f}×) "
            f"| {r['insert_s_per_1m_history_rows']:+.3f} "
            f"| {r['probe_s']['p_upsert']:.2f} / {r['probe_s']['p_delete']:.2f} "
            f"(k = {r['probe_keys']:,d}) "
            f"| {timed} "
            f"| {r['compose_out']['peak_rss_mib']:,.0f} MiB "
            f"| {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |"
        )
    return "\n".join(lines)


def ingest_table(results: list[dict[str, Any]]) -> str:
    """Per delta: seconds of ``add_delta`` and the rows stored before it, per size."""
    head = "| delta | op | " + " | ".join(f"{r['rows']:,d}: history rows, s" for r in results)
    lines = [head + " |", "|---|---|" + "---|" * len(results)]
    for i, d in enumerate(results[0]["ingest"]):
        cells = [f"{r['ingest'][i]['history_rows']:,d}, {r['ingest'][i]['s']:.2f}" for r in results]
        lines.append(f"| {d['delta']} | {d['op']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> Path | None:
    """Ingest seconds against history rows, and peak RSS against rows (Plotly HTML)."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        print("plotly is not installed: no plot (pip install 'assay[report]')")
        return None
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("add_delta seconds vs rows already stored", "compose --out peak RSS"),
    )
    for r in results:
        for op, symbol in (("insert", "circle"), ("upsert", "diamond"), ("delete", "x")):
            pts = [p for p in r["ingest"][1:] if p["op"] == op]
            fig.add_trace(
                go.Scatter(
                    x=[p["history_rows"] for p in pts],
                    y=[p["s"] for p in pts],
                    mode="lines+markers" if op == "insert" else "markers",
                    marker_symbol=symbol,
                    name=f"{r['rows']:,d}: {op}s",
                ),
                row=1,
                col=1,
            )
    probes_x = [r["probe_history_rows"] for r in results]
    for name in ("p_upsert", "p_delete"):
        fig.add_trace(
            go.Scatter(
                x=probes_x,
                y=[r["probe_s"][name] for r in results],
                mode="lines+markers",
                name=f"{name[2:]} of {results[0]['probe_keys']:,d} keys",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=[r["rows"] for r in results],
            y=[r["compose_out"]["peak_rss_mib"] for r in results],
            mode="lines+markers",
            name="peak RSS (MiB)",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="rows stored before the delta", row=1, col=1)
    fig.update_yaxes(title_text="seconds", row=1, col=1)
    fig.update_xaxes(title_text="composed rows", row=1, col=2)
    fig.update_yaxes(title_text="MiB (VmHWM)", rangemode="tozero", row=1, col=2)
    fig.update_layout(title="assay: how cost grows with the history", height=520)
    fig.write_html(path, include_plotlyjs=True)  # viewable offline
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        default="1000000,10000000,30000000",
        help="composed sizes, comma-separated (1M,10M,30M)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed compose rounds (3)")
    parser.add_argument(
        "--ingest-rounds", type=int, default=3, help="histories built per size (3; medians)"
    )
    parser.add_argument("--probe-keys", type=int, default=100_000, help="keys per probe (100k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compose-max",
        type=int,
        default=None,
        metavar="ROWS",
        help="time compose against the scan only up to this size (it holds the version in "
        "memory; ingest, probes and compose --out's RSS are measured at every size)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one compose round")
    parser.add_argument("--json", type=Path, default=OUT / "scale.json")
    args = parser.parse_args(argv)
    sizes = sorted(int(x) for x in args.rows.split(",") if x.strip())
    repeats = 1 if args.quick else args.repeats

    before = gen.machine()
    print(
        f"machine: {before['cpus']} cpus, load {load()}, "
        f"{before.get('mem_available_gib', 0):.1f} GiB free; sizes {sizes}"
    )
    rounds = 1 if args.quick else args.ingest_rounds
    results = [
        run_size(n, args.seed, repeats, args.probe_keys, args.compose_max, rounds) for n in sizes
    ]
    after = gen.machine()

    print("\n" + table(results) + "\n\n" + ingest_table(results))
    for r in results:
        ratio = r["last_over_first_insert"]
        verdict = "meets" if ratio <= INGEST_GOAL else "MISSES"
        print(
            f"\n{r['rows']:,d} rows: last insert / first = {ratio:.2f}x ({verdict} "
            f"<= {INGEST_GOAL}x)",
            end="",
        )
    print()
    by_rows = {r["rows"]: r["compose_out"]["peak_rss_mib"] for r in results}
    rss_ratio = None
    if {10**7, 3 * 10**7} <= set(by_rows):
        rss_ratio = by_rows[3 * 10**7] / by_rows[10**7]
    if rss_ratio is not None:
        print(f"peak RSS 30M / 10M = {rss_ratio:.2f}x (goal <= {RSS_GOAL}x)")

    out = {
        "benchmark": "scale",
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "params": {
            "rows": sizes,
            "repeats": repeats,
            "probe_keys": args.probe_keys,
            "seed": args.seed,
            "ops": "b" + gen.OPS,
        },
        "goals": {"last_over_first_insert": INGEST_GOAL, "rss_30m_over_10m": RSS_GOAL},
        "machine_before": before,
        "machine_after": after,
        "assay_sources": gen.source_digests(),
        "results": results,
        "rss_30m_over_10m": rss_ratio,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")
    html = plot(results, args.json.with_suffix(".html"))
    if html is not None:
        print(f"wrote {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
