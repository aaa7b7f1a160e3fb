"""Benchmark: composing a 10M-row dataset version vs a raw DuckDB scan of its files.

What is measured, and why
-------------------------
``assay.compose`` turns a recipe into rows: it replays the selected deltas (inserts,
upserts, deletes) in commit order, filters, and adds a ``split`` column. Its design
(``src/assay/data/compose.py``) claims the big work is one ordered scan of the stored
Parquet objects plus a cheap numpy pass over the few keys that upserts and deletes
touch, so composition should cost little more than reading the files. The goal from
the issue is **compose time <= 1.5x a raw DuckDB scan of the same Parquet files**.

The dataset is synthetic but shaped like the real ACS extract in
``examples/data/acs_employment_ma.parquet``: every row is drawn (seeded
``numpy.random.Generator.choice``) from the real rows, so each column follows its
real empirical distribution (and the columns keep their joint distribution); ``id``
is a fresh unique int64 key and ``employed`` the label. ``--rows N`` (default 10M)
is the composed size: a base of N/2 rows, then 20 deltas -- 14 inserts of new ids,
4 upserts (N/100 rows each: 80% live ids with new values, 20% new ids; the later ones
also rewrite ids of the previous upsert and re-create deleted ids) and 2 deletes
(N/200 live ids each; one deletes ids an earlier upsert wrote). Input files and the ingested store are
kept under ``bench/out/data/compose-N/`` and reused while they match the manifest
(ingest of 10M rows takes minutes); the ingest time of each delta is reported.

Timed in one process, interleaved round by round (the order rotates each round) so
that every method shares the machine's noise; median and min over ``--repeats``
rounds, after one untimed warm-up round:

* ``raw_scan``     -- baseline: DuckDB ``read_parquet`` of every stored delta object
  (the files assay reads) into one Arrow table; no semantics at all.
* ``assay_all``    -- ``assay.compose`` of ``deltas: all`` (the public call, store
  opened once), materialised to Arrow.
* ``assay_subset`` -- ``assay.compose`` excluding an insert, an upsert and a delete,
  with ``where: AGEP >= 16``.
* ``raw_subset``   -- DuckDB scan of the files ``assay_subset`` selects, same filter
  (the fair baseline for ``assay_subset``).
* ``sql_all``      -- hand-written DuckDB SQL computing the ``all`` rows: last write
  wins per id (``QUALIFY row_number() ...``), minus ids deleted after that write.

After the rounds, results are checked: ``assay_all`` must equal ``sql_all`` row for
row (same ids, same values) and the generator's expected row count; ``assay_subset``
must equal an independent SQL implementation of the documented replay semantics (an
upsert row that replaced a live row applies only if its key is present in the
selection). Per method, the rise of peak RSS (``VmHWM``, reset before each run)
above the RSS at its start, result included.

Run: ``.venv/bin/python bench/compose.py [--rows N] [--repeats K] [--profile]
[--no-sql] [--fresh]``. Writes ``bench/out/compose.json``; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import assay
from assay.data.compose import SPLIT_COLUMN
from assay.data.deltas import UPD_COLUMN

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ACS = HERE.parent / "examples" / "data" / "acs_employment_ma.parquet"
DATASET = "bench"
KEY = "id"
LABEL = "employed"
PLAN_FORMAT = 2
# The 20 deltas after the base: 14 inserts, 4 upserts, 2 deletes, interleaved.
OPS = "iiiuiiidiiuiiiuidiiu"
OP_NAMES = {"b": "insert", "i": "insert", "u": "upsert", "d": "delete"}
GOAL = 1.5
THREADS = 2

RECIPE_ALL: dict[str, Any] = {"dataset": DATASET, "deltas": {"include": ["all"]}}
SKIPPED = ["d05", "d11", "d17"]  # an insert, an upsert and a delete
WHERE = "AGEP >= 16"
RECIPE_SUBSET: dict[str, Any] = {
    "dataset": DATASET,
    "deltas": {"include": ["all"], "exclude": SKIPPED},
    "where": WHERE,
}


# --------------------------------------------------------------------------- data


@dataclass
class Delta:
    name: str
    op: str
    ids: np.ndarray  # the keys of the delta's rows
    fresh: bool = True  # rows carry newly drawn values (not deletes)


def plan(rows: int, seed: int) -> tuple[list[Delta], int]:
    """The deltas' keys (deterministic for ``rows`` and ``seed``) and the composed size."""
    rng = np.random.default_rng(seed)
    n_base = rows // 2
    n_ups = max(rows // 100, 10)
    n_ups_new = n_ups // 5
    n_del = max(rows // 200, 5)
    n_ins_total = rows - n_base - OPS.count("u") * n_ups_new + OPS.count("d") * n_del
    n_ins = [n_ins_total // OPS.count("i")] * OPS.count("i")
    n_ins[-1] += n_ins_total - sum(n_ins)
    # Fresh ids, shuffled: ids are unique across the whole dataset's history.
    n_ids = n_base + n_ins_total + OPS.count("u") * n_ups_new
    pool = rng.permutation(n_ids).astype(np.int64) + 1_000_000
    taken = 0

    def new_ids(n: int) -> np.ndarray:
        nonlocal taken
        out = pool[taken : taken + n]
        assert len(out) == n, "the id pool is too small"
        taken += n
        return out

    live = new_ids(n_base)
    deltas = [Delta("d00", "b", live.copy())]
    deleted: list[np.ndarray] = []
    upserted: list[np.ndarray] = []
    ins = iter(n_ins)
    for i, op in enumerate(OPS, start=1):
        name = f"d{i:02d}"
        if op == "i":
            ids = new_ids(next(ins))
            live = np.concatenate([live, ids])
        elif op == "u":
            n_old = n_ups - n_ups_new
            n_again = n_old // 10 if upserted else 0  # ids an earlier upsert wrote
            again = (
                rng.choice(upserted[-1][np.isin(upserted[-1], live)], n_again, replace=False)
                if n_again
                else np.zeros(0, np.int64)
            )
            rest = live[~np.isin(live, again)]
            old = np.concatenate([again, rng.choice(rest, n_old - n_again, replace=False)])
            n_back = n_ups_new // 10 if deleted else 0  # deleted ids, created again
            back = (
                rng.choice(deleted[0], n_back, replace=False) if n_back else np.zeros(0, np.int64)
            )
            new = np.concatenate([back, new_ids(n_ups_new - n_back)])
            if n_back:
                deleted[0] = deleted[0][~np.isin(deleted[0], back)]
            ids = rng.permutation(np.concatenate([old, new]))
            live = np.concatenate([live, new])
            upserted.append(ids)
        else:
            n_prev = n_del // 10 if upserted else 0  # ids an upsert wrote, then deleted
            prev = (
                rng.choice(upserted[0][np.isin(upserted[0], live)], n_prev, replace=False)
                if n_prev
                else np.zeros(0, np.int64)
            )
            rest = live[~np.isin(live, prev)]
            ids = rng.permutation(
                np.concatenate([prev, rng.choice(rest, n_del - n_prev, replace=False)])
            )
            live = live[~np.isin(live, ids)]
            deleted.append(ids)
        deltas.append(Delta(name, op, ids, fresh=op != "d"))
    assert len(live) == rows, (len(live), rows)
    return deltas, len(live)


def write_inputs(deltas: list[Delta], folder: Path, seed: int) -> None:
    """One Parquet file per delta: rows drawn from the real ACS rows, ids replaced."""
    real = pq.read_table(ACS)
    columns = [c for c in real.column_names if c != KEY]
    real = real.select(columns)
    rng = np.random.default_rng(seed + 1)
    folder.mkdir(parents=True, exist_ok=True)
    for d in deltas:
        if d.op == "d":
            t = pa.table({KEY: d.ids})
        else:
            rows = real.take(rng.choice(real.num_rows, len(d.ids)))
            t = rows.add_column(0, KEY, pa.array(d.ids))
        pq.write_table(t, folder / f"{d.name}.parquet")


def ingest(deltas: list[Delta], folder: Path, store_dir: Path) -> dict[str, float]:
    store = assay.init_store(store_dir)
    assay.create_dataset(store, DATASET, [KEY], label=LABEL)
    times: dict[str, float] = {}
    for d in deltas:
        op = OP_NAMES[d.op]
        t0 = time.perf_counter()
        assay.add_delta(
            store, DATASET, folder / f"{d.name}.parquet", op=op, name=d.name, tags=(op,)
        )
        times[d.name] = time.perf_counter() - t0
        print(
            f"  ingest {d.name} {op:6s} {len(d.ids):>10,d} rows  {times[d.name]:7.2f} s", flush=True
        )
    return times


def prepare(rows: int, seed: int, fresh: bool) -> tuple[assay.Store, dict[str, Any], bool]:
    """The store (built, or reused when the manifest matches), its manifest, and
    whether it was built by this run."""
    folder = OUT / "data" / f"compose-{rows}"
    store_dir = folder / "store"
    manifest_path = folder / "manifest.json"
    want = {"format": PLAN_FORMAT, "rows": rows, "seed": seed, "ops": "b" + OPS}
    if not fresh and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in want} == want:
            try:
                store = assay.open_store(store_dir)
                have = [(d.name, d.op, d.row_count) for d in store.catalog.list_deltas(DATASET)]
                if have == [tuple(x) for x in manifest["deltas"]]:
                    print(f"reusing {folder.relative_to(HERE.parent)} (manifest matches)")
                    return store, manifest, False
            except assay.AssayError as e:
                print(f"store unusable ({e}); rebuilding")
    if folder.exists():
        shutil.rmtree(folder)
    print(f"generating {rows:,d} rows into {folder.relative_to(HERE.parent)}", flush=True)
    t0 = time.perf_counter()
    deltas, expected = plan(rows, seed)
    write_inputs(deltas, folder, seed)
    gen_s = time.perf_counter() - t0
    print(f"  generated in {gen_s:.1f} s; ingesting", flush=True)
    t0 = time.perf_counter()
    ingest_s = ingest(deltas, folder, store_dir)
    total_s = time.perf_counter() - t0
    store = assay.open_store(store_dir)
    manifest = {
        **want,
        "expected_rows_all": expected,
        "deltas": [(d.name, d.op, d.row_count) for d in store.catalog.list_deltas(DATASET)],
        "generate_s": gen_s,
        "ingest_s": ingest_s,
        "ingest_total_s": total_s,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return store, manifest, True


# --------------------------------------------------------------------------- methods


def _q(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


class Methods:
    """The timed operations, each returning an Arrow table."""

    def __init__(self, store: assay.Store):
        self.store = store
        self.con = duckdb.connect()
        self.con.execute(f"SET threads={THREADS}")
        self.deltas = store.catalog.list_deltas(DATASET)
        self.columns = [c for c, _ in store.catalog.get_dataset(DATASET).schema]
        self.paths = {d.name: store.objects.local_path(d.object_key) for d in self.deltas}
        assert all(self.paths.values()), "the store must be local"

    def selected(self, skip: list[str]) -> list[Any]:
        return [d for d in self.deltas if d.name not in skip]

    def raw_scan(self) -> pa.Table:
        files = ", ".join(_q(self.paths[d.name]) for d in self.deltas)
        return self.con.sql(
            f"SELECT * FROM read_parquet([{files}], union_by_name=true)"
        ).to_arrow_table()

    def raw_subset(self) -> pa.Table:
        files = ", ".join(_q(self.paths[d.name]) for d in self.selected(SKIPPED))
        return self.con.sql(
            f"SELECT * FROM read_parquet([{files}], union_by_name=true) WHERE {WHERE}"
        ).to_arrow_table()

    def assay_all(self) -> pa.Table:
        return assay.compose(RECIPE_ALL, store=self.store).table

    def assay_subset(self) -> pa.Table:
        return assay.compose(RECIPE_SUBSET, store=self.store).table

    def assay_all_unverified(self) -> pa.Table:
        """``assay_all`` with verify on read switched off: what the hashing costs."""
        with unverified():
            return self.assay_all()

    def _sources(self, deltas: list[Any], kinds: bool) -> tuple[str, str]:
        cols = ", ".join(f'"{c}"' for c in self.columns)
        rows, dels = [], []
        for d in deltas:
            path = _q(self.paths[d.name])
            if d.op == "delete":
                dels.append(f"SELECT {KEY}, {d.number} AS _n FROM read_parquet({path})")
                continue
            kind = ""
            if kinds:
                k = f"CASE WHEN {UPD_COLUMN} THEN 'U' ELSE 'C' END" if d.op == "upsert" else "'C'"
                kind = f", {k} AS _k"
            rows.append(f"SELECT {cols}, {d.number} AS _n{kind} FROM read_parquet({path})")
        if not dels:
            dels.append(f"SELECT NULL::BIGINT AS {KEY}, 0 AS _n WHERE false")
        return " UNION ALL ".join(rows), " UNION ALL ".join(dels)

    def sql_all(self) -> pa.Table:
        """Last write wins per id, minus ids whose last event is a delete."""
        rows, dels = self._sources(self.deltas, kinds=False)
        cols = ", ".join(f'w."{c}"' for c in self.columns)
        return self.con.sql(
            f"""
            WITH r AS ({rows}), d AS ({dels}),
            w AS (SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY {KEY} ORDER BY _n DESC) = 1)
            SELECT {cols} FROM w
            WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.{KEY} = w.{KEY} AND d._n > w._n)
            """
        ).to_arrow_table()

    def sql_semantics(self, skip: list[str], where: str | None) -> pa.Table:
        """The documented replay semantics in SQL, independent of assay's numpy replay.

        Events per key in commit order: C (insert, or upsert of a key new at commit),
        U (upsert that replaced a live row), D (delete). A U applies only if the last
        C/D before it is a C; the key survives if its last C/D is a C; its row is the
        last applying event's row.
        """
        rows, dels = self._sources(self.selected(skip), kinds=True)
        cols = ", ".join(f'r."{c}"' for c in self.columns)
        state = (
            "last_value(CASE WHEN _k <> 'U' THEN _k END IGNORE NULLS) "
            "OVER (PARTITION BY {k} ORDER BY _n ROWS BETWEEN UNBOUNDED PRECEDING AND {end})"
        )
        before = state.format(k=KEY, end="1 PRECEDING")
        final = state.format(k=KEY, end="UNBOUNDED FOLLOWING")
        return self.con.sql(
            f"""
            WITH r AS ({rows}), d AS ({dels}),
            ev AS (SELECT {KEY}, _n, _k FROM r UNION ALL SELECT {KEY}, _n, 'D' AS _k FROM d),
            s AS (SELECT {KEY}, _n, _k, {before} AS before, {final} AS final FROM ev),
            win AS (
                SELECT {KEY}, max(_n) FILTER (WHERE _k = 'C' OR (_k = 'U' AND before = 'C')) AS wn
                FROM s GROUP BY {KEY} HAVING any_value(final) = 'C'
            )
            SELECT {cols} FROM r JOIN win ON r.{KEY} = win.{KEY} AND r._n = win.wn
            {"WHERE " + where if where else ""}
            """
        ).to_arrow_table()


# --------------------------------------------------------------------------- measuring


@contextlib.contextmanager
def unverified() -> Iterator[None]:
    """Compose without hashing objects (a bench-only switch; the library has none):
    the ``Verifier`` hands out paths and confirms nothing."""
    from assay.store.verified import Verifier

    saved = Verifier.start, Verifier.confirm
    Verifier.start = lambda self, deltas: None  # type: ignore[method-assign]
    Verifier.confirm = lambda self, d: None  # type: ignore[method-assign]
    saved_path = Verifier.path
    Verifier.path = lambda self, d: self.objects.local_path(d.object_key)  # type: ignore[method-assign,assignment,return-value]
    try:
        yield
    finally:
        Verifier.start, Verifier.confirm = saved  # type: ignore[method-assign]
        Verifier.path = saved_path  # type: ignore[method-assign]


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_mib(field: str = "VmHWM") -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], pa.Table]) -> tuple[float, pa.Table, float]:
    """Seconds, result, and how far the peak RSS rose above the RSS at the start (MiB).
    The CPU seconds the process spent (all its threads) go to ``CPU_S``: on a shared
    machine they vary less than wall time.

    The result is held when the peak is read, so the rise counts it (an Arrow table
    of 10M rows x 20 int64 columns is ~1.5 GiB) plus the method's working memory.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()  # each method starts with a trimmed pool
    _reset_peak()
    start = _rss_mib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    table = fn()
    elapsed = time.perf_counter() - t0
    CPU_S.append(time.process_time() - c0)
    return elapsed, table, _rss_mib() - start


CPU_S: list[float] = []  # process CPU seconds of each ``timed`` call, in order


def same_rows(a: pa.Table, b: pa.Table) -> tuple[bool, str]:
    """Equal as sets of rows (both keyed by id): same ids, same values."""
    a = a.drop_columns([c for c in a.column_names if c == SPLIT_COLUMN])
    b = b.select(a.column_names)
    if a.num_rows != b.num_rows:
        return False, f"{a.num_rows:,d} vs {b.num_rows:,d} rows"
    ia = np.sort(a.column(KEY).to_numpy())
    ib = np.sort(b.column(KEY).to_numpy())
    if not np.array_equal(ia, ib):
        only_a = np.setdiff1d(ia, ib)
        only_b = np.setdiff1d(ib, ia)
        return False, f"ids differ: {len(only_a)} only in first, {len(only_b)} only in second"
    sa, sb = a.sort_by(KEY), b.sort_by(KEY)
    bad = [c for c in a.column_names if not sa.column(c).equals(sb.column(c))]
    if bad:
        return False, f"same ids, values differ in {', '.join(bad)}"
    return True, f"{a.num_rows:,d} rows, same ids and values"


# Functions timed during one profiled compose: (module, owner attribute path, label).
# Wrapped by name at run time, so the profile follows compose.py as it changes; a
# function that is not there is skipped. Times are summed over threads (DuckDB may
# call assay's UDFs from its worker threads), so they may overlap.
PROBES = [
    ("assay.data.compose", "touched_keys", "touched_keys: key hashes + numpy replay"),
    ("assay.engine", "Engine.read_parquet", "Engine.read_parquet: Ibis table per delta"),
    ("assay.engine", "Engine.batches", "Engine.batches: Ibis compile + query start"),
    ("assay.engine", "Engine.to_arrow", "Engine.to_arrow"),
    ("assay.data._replay", "HashIndex.get", "HashIndex.get: winning delta per row"),
    ("assay.data.compose", "_Losers.rows", "_Losers.rows: superseded rows of a batch"),
    ("assay.data.compose", "_compact", "_compact: superseded rows compacted away"),
    ("assay.data.compose", "split_indices", "split_indices: split per row"),
    ("assay.data.compose", "split_names", "split_names: split column"),
    ("assay.data.compose", "DatasetVersion.summary", "summary (split counts)"),
    ("assay.store.catalog", "SqlCatalog.record_version", "catalog.record_version"),
]


def _probe(module: str, path: str, label: str, acc: dict[str, list[float]]) -> Callable[[], None]:
    """Wrap ``module.path`` with a timer adding into ``acc[label]``; return the undo."""
    import importlib

    owner: Any = importlib.import_module(module)
    *parents, attr = path.split(".")
    for name in parents:
        owner = getattr(owner, name, None)
    original = getattr(owner, attr, None) if owner is not None else None
    if original is None or not callable(original):
        return lambda: None
    lock = threading.Lock()

    @functools.wraps(original)
    def timed_call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            with lock:
                slot = acc.setdefault(label, [0.0, 0])
                slot[0] += dt
                slot[1] += 1

    setattr(owner, attr, timed_call)
    return lambda: setattr(owner, attr, original)


def profile_compose(store: assay.Store, folder: Path) -> dict[str, Any]:
    """Where one ``deltas: all`` compose spends its time.

    First with timers on the steps in ``PROBES`` (seconds and calls), then once more
    under cProfile (main thread only; the dump goes to ``bench/out/compose.prof``).
    The scan itself (DuckDB decoding Parquet into Arrow batches) runs in C and is what
    remains of the wall time.
    """
    acc: dict[str, list[float]] = {}
    undo = [_probe(m, p, label, acc) for m, p, label in PROBES]
    try:
        gc.collect()
        t0 = time.perf_counter()
        v = assay.compose(RECIPE_ALL, store=store)
        wall = time.perf_counter() - t0
        del v
    finally:
        for u in reversed(undo):
            u()
    prof = cProfile.Profile()
    gc.collect()
    prof.enable()
    v = assay.compose(RECIPE_ALL, store=store)
    prof.disable()
    del v
    prof.dump_stats(folder / "compose.prof")
    stream = io.StringIO()
    pstats.Stats(prof, stream=stream).sort_stats("tottime").print_stats(15)
    return {
        "wall_s": wall,
        "steps": {label: {"s": s, "calls": int(n)} for label, (s, n) in acc.items()},
        "cprofile_top_tottime": stream.getvalue().splitlines(),
    }


def source_digests() -> dict[str, str]:
    """Short hashes of the assay files compose runs through (the tree may be mid-edit)."""
    root = Path(assay.__file__).parent
    files = ["data/compose.py", "data/deltas.py", "data/_replay.py", "data/split.py"]
    files += ["engine/__init__.py", "engine/base.py", "engine/duckdb.py", "data/keyindex.py"]
    return {
        f: hashlib.sha256((root / f).read_bytes()).hexdigest()[:12]
        for f in files
        if (root / f).exists()
    }


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "assay": assay.__version__,
    }
    try:
        with open("/proc/meminfo") as f:
            mem = dict(line.split(":", 1) for line in f)
        info["mem_total_gib"] = int(mem["MemTotal"].split()[0]) / 2**20
        info["mem_available_gib"] = int(mem["MemAvailable"].split()[0]) / 2**20
    except (OSError, KeyError):
        pass
    return info


# --------------------------------------------------------------------------- main


# A fresh interpreter runs the CLI, then reports its own peak RSS (VmHWM, KiB).
OUT_RSS_CHILD = """
import sys
from pathlib import Path
from assay.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    if e.code:
        raise
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def out_rss(store_dir: Path) -> dict[str, Any]:
    """Peak RSS, wall time, rows and bytes of ``assay data compose --out`` of
    ``deltas: all``, run in a fresh interpreter."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        recipe, out = Path(tmp, "all.yaml"), Path(tmp, "all.parquet")
        recipe.write_text(json.dumps(RECIPE_ALL))  # JSON is YAML
        args = ["data", "compose", str(recipe), "--out", str(out), "--store", str(store_dir)]
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", OUT_RSS_CHILD, *args, "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"assay data compose --out failed ({done.returncode}): {done.stderr}")
        peak_kib = int(done.stdout.strip().splitlines()[-1])
        rows = pq.ParquetFile(out).metadata.num_rows
        size = out.stat().st_size
    return {"peak_rss_mib": peak_kib / 1024, "wall_s": wall, "rows": rows, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="composed rows (10M)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="regenerate and re-ingest")
    parser.add_argument("--profile", action="store_true", help="profile one compose")
    parser.add_argument(
        "--no-sql", action="store_true", help="leave sql_all out of the timed rounds (it is slow)"
    )
    parser.add_argument(
        "--verify-cost",
        action="store_true",
        help="also time assay_all with verify on read off (assay_all_unverified)",
    )
    parser.add_argument(
        "--out-rss",
        action="store_true",
        help="only measure the peak RSS of `assay data compose --out` (a fresh interpreter)",
    )
    parser.add_argument("--json", type=Path, default=OUT / "compose.json")
    args = parser.parse_args(argv)
    if args.out_rss:
        prepare(args.rows, args.seed, args.fresh)
        got = out_rss(OUT / "data" / f"compose-{args.rows}" / "store")
        print(
            f"compose --out of {got['rows']:,d} rows: peak RSS {got['peak_rss_mib']:.0f} MiB, "
            f"{got['wall_s']:.1f} s, load {os.getloadavg()[0]:.2f}"
        )
        return 0

    before = machine()
    sources = source_digests()
    print(
        f"machine: {before['cpus']} cpus, load {before['loadavg'][0]:.2f}, "
        f"{before.get('mem_available_gib', 0):.1f} GiB free; duckdb {duckdb.__version__}, "
        f"pyarrow {pa.__version__}"
    )
    store, manifest, built = prepare(args.rows, args.seed, args.fresh)
    ingest_s = manifest["ingest_s"]
    print(
        f"ingest: {manifest['ingest_total_s']:.1f} s total for {len(ingest_s)} deltas"
        + ("" if built else " (from the manifest: reused store)")
    )
    m = Methods(store)
    methods: dict[str, Callable[[], pa.Table]] = {
        "raw_scan": m.raw_scan,
        "assay_all": m.assay_all,
        "raw_subset": m.raw_subset,
        "assay_subset": m.assay_subset,
        "sql_all": m.sql_all,
    }
    if args.no_sql:
        del methods["sql_all"]  # still run once by the checks
    if args.verify_cost:
        methods["assay_all_unverified"] = m.assay_all_unverified
    names = list(methods)
    rows: dict[str, int] = {}

    # Warm-up round (untimed): page cache, imports, the catalog's version records.
    print("warm-up ...", flush=True)
    warm: dict[str, float] = {}
    for name in names:
        warm[name], table, _ = timed(methods[name])
        del table

    base_rss = _rss_mib("VmRSS")
    samples: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    peak: dict[str, float] = {n: 0.0 for n in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        line = []
        for name in order:
            s, table, rss = timed(methods[name])
            rows[name] = table.num_rows
            del table
            samples[name].append(s)
            cpu[name].append(CPU_S[-1])
            peak[name] = max(peak[name], rss)
            line.append(f"{name} {s:.2f}")
        print(f"  round {r + 1}/{args.repeats}: " + ", ".join(line), flush=True)

    end_rss = _rss_mib("VmRSS")

    # Checks last, so that their big sorts do not shape the memory the rounds run in.
    print("checks ...", flush=True)
    checks: dict[str, Any] = {}
    _, assay_all, _ = timed(m.assay_all)
    _, sql_all, _ = timed(m.sql_all)
    ok, msg = same_rows(assay_all, sql_all)
    checks["all_vs_sql"] = {"ok": ok, "detail": msg}
    expected = manifest["expected_rows_all"]
    checks["all_rows_vs_generator"] = {
        "ok": assay_all.num_rows == expected,
        "detail": f"{assay_all.num_rows:,d} composed, {expected:,d} expected",
    }
    splits = pc.value_counts(assay_all.column("split")).to_pylist()
    checks["all_splits"] = {s["values"]: s["counts"] / assay_all.num_rows for s in splits}
    del assay_all, sql_all
    _, assay_sub, _ = timed(m.assay_subset)
    t_sem, sem_sub, _ = timed(lambda: m.sql_semantics(SKIPPED, WHERE))
    ok, msg = same_rows(assay_sub, sem_sub)
    checks["subset_vs_sql_semantics"] = {"ok": ok, "detail": msg, "sql_semantics_s": t_sem}
    del assay_sub, sem_sub
    for name, c in checks.items():
        if "ok" in c:
            print(f"  {'OK  ' if c['ok'] else 'FAIL'} {name}: {c['detail']}")
    print(f"  (semantics SQL for the subset took {t_sem:.2f} s, once)")

    med = {n: statistics.median(v) for n, v in samples.items()}
    low = {n: min(v) for n, v in samples.items()}
    paired = {
        "assay_all": statistics.median(
            a / b for a, b in zip(samples["assay_all"], samples["raw_scan"], strict=True)
        ),
        "assay_subset": statistics.median(
            a / b for a, b in zip(samples["assay_subset"], samples["raw_subset"], strict=True)
        ),
    }
    baseline = {"raw_scan": "raw_scan", "assay_all": "raw_scan", "sql_all": "raw_scan"}
    baseline |= {"raw_subset": "raw_scan", "assay_subset": "raw_subset"}
    baseline["assay_all_unverified"] = "raw_scan"
    verify_cost: dict[str, float] = {}
    if args.verify_cost:
        verify_cost = {
            "median": med["assay_all"] / med["assay_all_unverified"],
            "paired_median": statistics.median(
                a / b
                for a, b in zip(samples["assay_all"], samples["assay_all_unverified"], strict=True)
            ),
            "min": low["assay_all"] / low["assay_all_unverified"],
        }

    print()
    print(f"rows {args.rows:,d}, {len(m.deltas)} deltas, {args.repeats} rounds, threads {THREADS}")
    print(
        f"{'method':14s} {'rows':>12s} {'median s':>9s} {'min s':>8s} {'x base':>7s}  "
        f"{'+peak RSS':>9s}  baseline"
    )
    for n in names:
        b = baseline[n]
        print(
            f"{n:14s} {rows[n]:>12,d} {med[n]:>9.2f} {low[n]:>8.2f} "
            f"{med[n] / med[b]:>6.2f}x  {peak[n]:>6.0f} MiB  {b}"
        )
    ratio = med["assay_all"] / med["raw_scan"]
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(
        f"\nassay_all / raw_scan = {ratio:.2f}x (median/median; paired per-round median "
        f"{paired['assay_all']:.2f}x, min/min {low['assay_all'] / low['raw_scan']:.2f}x): "
        f"{verdict} the goal of <= {GOAL}x"
    )
    vs_sql = med["assay_all"] / med["sql_all"] if "sql_all" in med else None
    print(
        f"assay_subset / raw_subset = {med['assay_subset'] / med['raw_subset']:.2f}x "
        f"(paired {paired['assay_subset']:.2f}x); "
        + (f"assay_all / sql_all = {vs_sql:.2f}x; " if vs_sql is not None else "")
        + f"RSS {base_rss:.0f} MiB before the rounds, {end_rss:.0f} MiB after"
    )

    cpu_med = {n: statistics.median(v) for n, v in cpu.items()}
    cpu_ratio = {
        "assay_all": cpu_med["assay_all"] / cpu_med["raw_scan"],
        "assay_subset": cpu_med["assay_subset"] / cpu_med["raw_subset"],
    }
    print(
        f"CPU seconds (process, all threads; median): raw_scan {cpu_med['raw_scan']:.2f}, "
        f"assay_all {cpu_med['assay_all']:.2f} ({cpu_ratio['assay_all']:.2f}x), raw_subset "
        f"{cpu_med['raw_subset']:.2f}, assay_subset {cpu_med['assay_subset']:.2f} "
        f"({cpu_ratio['assay_subset']:.2f}x)"
    )

    if verify_cost:
        print(
            f"verify on read: assay_all / assay_all_unverified = {verify_cost['median']:.3f}x "
            f"(paired {verify_cost['paired_median']:.3f}x, min/min {verify_cost['min']:.3f}x)"
        )

    profile: dict[str, Any] = {}
    if args.profile:
        profile = profile_compose(store, OUT)
        print(
            f"\nprofile of one assay_all compose ({profile['wall_s']:.2f} s wall; step times "
            "summed over threads; cProfile dump in bench/out/compose.prof):"
        )
        for label, st in sorted(profile["steps"].items(), key=lambda kv: -kv[1]["s"]):
            print(f"  {st['s']:7.3f} s  {st['calls']:>7,d} calls  {label}")

    result = {
        "benchmark": "compose",
        "goal_ratio": GOAL,
        "params": {
            "rows": args.rows,
            "repeats": args.repeats,
            "seed": args.seed,
            "threads": THREADS,
            "deltas": manifest["deltas"],
            "subset_recipe": RECIPE_SUBSET,
        },
        "machine_before": before,
        "assay_sources": sources,
        "machine_after": machine(),
        "ingest_reused": not built,
        "ingest_s": ingest_s,
        "ingest_total_s": manifest["ingest_total_s"],
        "generate_s": manifest["generate_s"],
        "warmup_s": warm,
        "checks": checks,
        "rows": rows,
        "samples_s": samples,
        "cpu_samples_s": cpu,
        "cpu_median_s": cpu_med,
        "cpu_ratio": cpu_ratio,
        "median_s": med,
        "min_s": low,
        "peak_rss_rise_mib": peak,
        "rss_before_rounds_mib": base_rss,
        "rss_after_rounds_mib": end_rss,
        "ratio_assay_all_vs_raw_scan": {
            "median": ratio,
            "paired_median": paired["assay_all"],
            "min": low["assay_all"] / low["raw_scan"],
            "meets_goal": ratio <= GOAL,
        },
        "ratio_assay_subset_vs_raw_subset": {
            "median": med["assay_subset"] / med["raw_subset"],
            "paired_median": paired["assay_subset"],
            "min": low["assay_subset"] / low["raw_subset"],
        },
        "ratio_assay_all_vs_sql_all": vs_sql,
        "ratio_verified_vs_unverified": verify_cost,
        "profile": profile,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.json}")
    return 0 if all(c.get("ok", True) for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
