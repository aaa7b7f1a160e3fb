"""Benchmark: checking the 10M-row version plus one 358k-row insert, incrementally vs in full.

What is measured, and why
-------------------------
Issue 13, item 5: deltas are immutable, so after a version was checked, a version that
adds one insert to it needs only the new delta's aggregates, combined with the stored
ones (``src/assay/checks/incremental.py``). The goal: **the incremental check in <= 0.1x
the time of a full check, with the same verdicts**.

Data: the 10M-row history of ``bench/compose.py`` (a 5M-row base, then 14 inserts,
4 upserts and 2 deletes; its generator and store, reused while its manifest matches),
copied to ``bench/out/data/incremental-N/store`` (objects hard-linked, the catalog
copied with SQLite's backup) so that adding a delta leaves compose's store as it is.
Version A is ``deltas: all`` of that history (10M rows). One insert of ``--insert``
(358,571, the size of one of the history's inserts) fresh rows, drawn with a fixed seed
from the real ACS rows like the history's, is added: version B is A plus it.

The suite (``bench/suites/incremental.yaml``, 17 expectations, 4 failing by design so
their examples are computed too): row count, nulls, key uniqueness, bounds, sets,
mean, standard deviation, quantile, median, distinct count, a comparison, an
expression, a slice.

Timed in one process, interleaved round by round (the order alternates), median over
``--rounds`` after one untimed warm-up of each:

* ``full``        -- ``assay.check(suite, B, full=True)``: composes B (reads every delta)
  and runs the one-pass suite, as before this item.
* ``incremental`` -- ``assay.check(suite, B)`` after A was checked (A's stored state is
  kept; B's state and the new delta's partial are deleted before each run, so every
  run reads and aggregates the new delta and combines).

After the rounds, every expectation's verdict, counts and examples must be equal
(floats within 1e-12 relative), and the incremental run must report that it read
only the new delta; the script exits 1 otherwise.

Run: ``.venv/bin/python bench/incremental.py [--rows N] [--rounds R] [--fresh]``.
Writes ``bench/out/incremental.json``; see ``bench/README.md``, "Incremental checks".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import assay
from assay.checks import check
from assay.checks.incremental import PREFIX

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compose as history  # noqa: E402  (bench/compose.py: the 10M-row history)

OUT = HERE / "out"
SUITE = HERE / "suites" / "incremental.yaml"
RECIPE: dict[str, Any] = {"dataset": history.DATASET}
GOAL = 0.1


def copy_store(source: Path, target: Path) -> None:
    """The store at ``source`` as a new one at ``target``: immutable objects linked."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source / "objects", target / "objects", copy_function=os.link)
    shutil.copy2(source / "assay.json", target / "assay.json")
    with (
        sqlite3.connect(source / "catalog.db") as src,
        sqlite3.connect(target / "catalog.db") as dst,
    ):
        src.backup(dst)


def new_insert(rows: int, seed: int) -> pa.Table:
    """``rows`` fresh rows drawn from the real ACS rows, with ids no delta has used."""
    real = pq.read_table(history.ACS)
    columns = [c for c in real.column_names if c != history.KEY]
    rng = np.random.default_rng(seed + 99)
    drawn = real.select(columns).take(rng.choice(real.num_rows, rows))
    ids = np.arange(rows, dtype=np.int64) + 10**12
    return drawn.add_column(0, history.KEY, pa.array(ids))


def prepare(rows: int, insert: int, seed: int, fresh: bool) -> tuple[assay.Store, str]:
    """The copied history with the new insert added (A checked once), and A's
    fingerprint."""
    source, _, _ = history.prepare(rows, seed, fresh)
    source_dir = Path(source.url)
    source.close()
    target = OUT / "data" / f"incremental-{rows}" / "store"
    print(f"copying {source_dir.relative_to(HERE.parent)} to {target.relative_to(HERE.parent)}")
    copy_store(source_dir, target)
    store = assay.open_store(target)
    a = check(str(SUITE), RECIPE, store=store, record=False)  # stores A's state
    print(f"checked A ({a.row_count:,} rows) in {a.seconds:.2f} s: {a.incremental}")
    t0 = time.perf_counter()
    assay.add_delta(store, history.DATASET, new_insert(insert, seed), name="new", tags=("insert",))
    print(f"added one insert of {insert:,} rows in {time.perf_counter() - t0:.2f} s")
    return store, str(a.fingerprint)


def results(report: Any) -> list[dict[str, Any]]:
    return list(report.to_dict()["results"])


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    """The expectations whose results differ (floats compared to 1e-12 relative)."""
    differ = []
    for x, y in zip(a, b, strict=True):
        fields = ("passed", "reason", "element_count", "unexpected_count", "sample")
        ok = all(x[f] == y[f] for f in fields)
        if isinstance(x["observed"], float) and isinstance(y["observed"], float):
            ok = ok and math.isclose(x["observed"], y["observed"], rel_tol=1e-12)
        else:
            ok = ok and x["observed"] == y["observed"]
        if not ok:
            differ.append(x["label"])
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--insert", type=int, default=358_571)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="rebuild the history")
    args = parser.parse_args(argv)

    store, base = prepare(args.rows, args.insert, args.seed, args.fresh)
    kept = set(store.objects.list(f"{PREFIX}/"))  # A's stored state

    def forget() -> None:
        for key in set(store.objects.list(f"{PREFIX}/")) - kept:
            store.objects.delete(key)

    def full() -> Any:
        return check(str(SUITE), RECIPE, store=store, record=False, full=True)

    def incremental() -> Any:
        return check(str(SUITE), RECIPE, store=store, record=False)

    methods = {"full": full, "incremental": incremental}
    times: dict[str, list[float]] = {m: [] for m in methods}
    last: dict[str, Any] = {}
    for m, fn in methods.items():  # warm-up, untimed
        forget()
        last[m] = fn()
    for r in range(args.rounds):
        order = list(methods) if r % 2 == 0 else list(reversed(methods))
        for m in order:
            forget()  # untimed: every incremental run reads the new delta again
            t0 = time.perf_counter()
            last[m] = methods[m]()
            times[m].append(time.perf_counter() - t0)
        print(f"round {r + 1}: " + ", ".join(f"{m} {times[m][-1]:.3f} s" for m in methods))

    inc = last["incremental"].incremental
    differ = same(results(last["incremental"]), results(last["full"]))
    median = {m: statistics.median(v) for m, v in times.items()}
    ratio = median["incremental"] / median["full"]
    read_only_new = inc["used"] and inc["deltas_read"] == ["new"] and inc["base"] == base
    summary = {
        "rows": last["full"].row_count,
        "insert_rows": args.insert,
        "rounds": args.rounds,
        "seconds": {m: {"median": median[m], "min": min(v), "all": v} for m, v in times.items()},
        "ratio_incremental_to_full": ratio,
        "goal": GOAL,
        "met": ratio <= GOAL and not differ and read_only_new,
        "verdicts": [(r["label"], r["passed"]) for r in results(last["full"])],
        "differ": differ,
        "incremental": inc,
        "queries": {m: last[m].queries for m in methods},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "incremental.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nfull        median {median['full']:.3f} s (min {min(times['full']):.3f})")
    print(f"incremental median {median['incremental']:.3f} s (min {min(times['incremental']):.3f})")
    print(f"ratio {ratio:.3f} (goal <= {GOAL}); load average {os.getloadavg()[0]:.2f}")
    failed = sum(not p for _, p in summary["verdicts"])
    print(f"verdicts: {len(summary['verdicts'])} expectations, {failed} failing, differ: {differ}")
    print(f"incremental read {inc['deltas_read']} on top of {str(inc['base'])[:12]}")
    store.close()
    return 0 if not differ and read_only_new else 1


if __name__ == "__main__":
    sys.exit(main())
