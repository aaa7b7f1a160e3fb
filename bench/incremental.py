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

Then (``--upsert``, 100k keys; 0 skips it) an upsert of keys the new insert wrote,
with other values, is added to B, whose state the last incremental run stored, and the
same two are timed over half the rounds: the incremental run subtracts the rows the
upsert replaces (read from the one delta the key index names) and adds its own.

After the rounds, every expectation's verdict, counts and examples must be equal
(floats within 1e-12 relative), and the incremental run of the insert must report
that it read only the new delta; the script exits 1 otherwise.

Run: ``.venv/bin/python bench/incremental.py [--rows N] [--rounds R] [--upsert K]
[--fresh]``.
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


def measure(store: assay.Store, rounds: int) -> dict[str, Any]:
    """Full vs incremental check of ``deltas: all``, interleaved; the cache objects
    stored now are kept, any later one is deleted (untimed) before each run."""
    kept = set(store.objects.list(f"{PREFIX}/"))

    def forget() -> None:
        for key in set(store.objects.list(f"{PREFIX}/")) - kept:
            store.objects.delete(key)

    methods = {"full": True, "incremental": False}
    times: dict[str, list[float]] = {m: [] for m in methods}
    last: dict[str, Any] = {}
    for r in range(rounds + 1):  # round 0: warm-up, untimed
        order = list(methods) if r % 2 == 0 else list(reversed(methods))
        for m in order:
            forget()  # every incremental run reads the new delta again
            t0 = time.perf_counter()
            last[m] = check(str(SUITE), RECIPE, store=store, record=False, full=methods[m])
            if r:
                times[m].append(time.perf_counter() - t0)
        if r:
            print(f"round {r}: " + ", ".join(f"{m} {times[m][-1]:.3f} s" for m in methods))
    median = {m: statistics.median(v) for m, v in times.items()}
    return {
        "rows": last["full"].row_count,
        "rounds": rounds,
        "seconds": {m: {"median": median[m], "min": min(v), "all": v} for m, v in times.items()},
        "ratio_incremental_to_full": median["incremental"] / median["full"],
        "verdicts": [(r["label"], r["passed"]) for r in results(last["full"])],
        "differ": same(results(last["incremental"]), results(last["full"])),
        "incremental": last["incremental"].incremental,
        "queries": {m: last[m].queries for m in methods},
        "load_average": os.getloadavg(),
    }


def show(what: str, m: dict[str, Any]) -> None:
    s, inc = m["seconds"], m["incremental"]
    print(f"\n{what}: {m['rows']:,} rows")
    for name in ("full", "incremental"):
        print(f"  {name:<11} median {s[name]['median']:.3f} s (min {s[name]['min']:.3f})")
    print(f"  ratio {m['ratio_incremental_to_full']:.3f}; load average {m['load_average'][0]:.2f}")
    failed = sum(not p for _, p in m["verdicts"])
    print(f"  {len(m['verdicts'])} expectations, {failed} failing; differ: {m['differ']}")
    print(f"  incremental: {inc['reason']}; read {inc['deltas_read']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--insert", type=int, default=358_571)
    parser.add_argument("--upsert", type=int, default=100_000, help="0: skip the upsert")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="rebuild the history")
    args = parser.parse_args(argv)

    store, base = prepare(args.rows, args.insert, args.seed, args.fresh)
    insert = measure(store, args.rounds)
    inc = insert["incremental"]
    insert["met"] = (
        insert["ratio_incremental_to_full"] <= GOAL
        and not insert["differ"]
        and inc["used"]
        and inc["deltas_read"] == ["new"]
        and inc["base"] == base
    )
    show(f"A + one insert of {args.insert:,} rows (goal <= {GOAL})", insert)
    summary: dict[str, Any] = {
        "insert_rows": args.insert,
        "goal": GOAL,
        "insert": insert,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    ok = not insert["differ"] and insert["met"]
    if args.upsert:
        # B's own state stays (the last incremental run stored it); then an upsert of
        # keys the insert wrote, with other values: its removed rows are subtracted.
        check(str(SUITE), RECIPE, store=store, record=False)
        rows = new_insert(args.upsert, args.seed + 1)
        assay.add_delta(store, history.DATASET, rows, op="upsert", name="upd", tags=("upsert",))
        upsert = measure(store, max(1, args.rounds // 2))
        show(f"then one upsert of {args.upsert:,} keys", upsert)
        summary["upsert_rows"] = args.upsert
        summary["upsert"] = upsert
        ok = ok and not upsert["differ"]
    OUT.mkdir(exist_ok=True)
    (OUT / "incremental.json").write_text(json.dumps(summary, indent=2, default=str))
    store.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
