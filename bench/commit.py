"""Benchmark: committing a ~1 GiB Parquet file with assay vs ``dvc add`` of the same file.

What is measured, and why
-------------------------
Issue 13 asks that committing a 1 GiB Parquet file (hash, statistics, write) take
<= 0.5x the time of ``dvc add`` of the same file. The two do different work:

* ``assay data add`` reads every row into Arrow, normalises types, sorts by key,
  checks the key is present and unique, computes the content id (SHA-256 of the
  canonical values) and the key hashes, per-column statistics, re-encodes the rows as
  zstd Parquet, hashes that file and commits a catalog row.
* ``assay data add --as-is`` (decision 84) stores the file byte for byte: it hashes
  the bytes (SHA-256) on a thread, reads only the key column, computes and sorts the
  key hashes (uniqueness, the key index run), takes the statistics from the footer
  and copies the file into the store while the keys are checked.
* ``dvc add`` hashes the file's bytes (MD5) and copies them into its cache (DVC's
  default ``cache.type`` is ``reflink,copy``: a reflink where the file system has
  them, else a plain copy; this script records which happened), then writes the
  ``.dvc`` file and ``.gitignore``.

The file (generated once, seeded, cached under ``bench/out/data/commit/``): an int64
key ``id`` (unique, shuffled: a real export is not sorted by assay's key), eight
ACS columns drawn row-wise (seeded ``Generator.choice``) from the real rows of
``examples/data/acs_employment_ma.parquet`` as ``bench/compose.py`` does, a float
``income`` (log-normal, whole cents), and two strings: ``household`` (16 hex digits,
a high-cardinality id) and ``county`` (one of the 14 Massachusetts counties).
Snappy-compressed Parquet as pyarrow writes it by default; ``--rows`` is chosen so
the file is about 1 GiB.

Timed, interleaved round by round (the order rotates each round), each in a fresh
temporary folder under ``bench/out/tmp`` (the same disk as the file), each in its
own process so that its peak RSS (``ru_maxrss`` from ``wait4``) is its own:

* ``assay_cli`` -- ``assay data add`` in a subprocess into a fresh store (the store
  and dataset are made first, untimed); wall time of the whole command.
* ``assay_lib`` -- ``assay.add_delta`` in a fresh interpreter; the time of the call
  alone (imports and store opening excluded), reported by the child.
* ``as_is_cli``, ``as_is_lib`` -- the same two with ``--as-is`` (``as_is=True``).
* ``dvc``      -- ``dvc add`` in a fresh ``git init`` + ``dvc init`` repository
  holding a copy of the file (copied and synced untimed); wall time of the command.

The page cache is warm for every method: the file (or dvc's copy) is read once
before each timed run. Medians and paired ratios (per round) are reported, with the
load average before and after. ``--profile`` also times the phases of ``add_delta``
in-process (read, sort, unique check, content id, key hash, statistics, Parquet
write, SHA-256, catalog) and writes the top of a cProfile listing.

Run: ``.venv/bin/python bench/commit.py [--rows N] [--rounds K] [--profile]
[--fresh] [--methods as_is_cli,as_is_lib]``; dvc comes from ``bench/.venv-dvc`` (``bench/requirements-dvc.txt``).
Writes ``bench/out/commit.json``; see ``bench/README.md``, "Committing a file".
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
ACS = ROOT / "examples" / "data" / "acs_employment_ma.parquet"
ASSAY = ROOT / ".venv" / "bin" / "assay"
PYTHON = ROOT / ".venv" / "bin" / "python"
DVC = HERE / ".venv-dvc" / "bin" / "dvc"
DATA_FORMAT = 1
ROWS = 33_200_000  # about 1 GiB of Parquet with this schema (32.4 bytes a row)
CHUNK = 2_000_000  # rows generated and written at a time: bounded memory
ACS_COLUMNS = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "employed"]
COUNTIES = [
    "Barnstable", "Berkshire", "Bristol", "Dukes", "Essex", "Franklin", "Hampden",
    "Hampshire", "Middlesex", "Nantucket", "Norfolk", "Plymouth", "Suffolk", "Worcester",
]  # fmt: skip
GOAL = 0.5
METHODS = ("assay_cli", "assay_lib", "as_is_cli", "as_is_lib", "dvc")
ASSAY_METHODS = METHODS[:-1]

# A fresh interpreter: open the store, time add_delta alone, print the seconds.
LIB_CHILD = """
import sys, time
import assay
store = assay.open_store(sys.argv[1])
add_delta = assay.add_delta  # its module imported here, not inside the timed call
t0 = time.perf_counter()
add_delta(store, "bench", sys.argv[2], name="commit", as_is=sys.argv[3] == "as-is")
print(time.perf_counter() - t0)
"""


# --------------------------------------------------------------------------- data


def generate(rows: int, seed: int, fresh: bool) -> Path:
    """The benchmark file (made once per rows and seed, then reused)."""
    folder = OUT / "data" / "commit"
    path = folder / f"commit-{rows}.parquet"
    manifest = folder / f"commit-{rows}.json"
    want = {"format": DATA_FORMAT, "rows": rows, "seed": seed}
    if (
        not fresh
        and path.exists()
        and manifest.exists()
        and json.loads(manifest.read_text()) == want
    ):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    print(f"generating {rows:,d} rows into {path.relative_to(ROOT)}", flush=True)
    real = pq.read_table(ACS, columns=ACS_COLUMNS)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(rows).astype(np.int64) * 7 + 1_000_003  # unique, shuffled
    counties = pa.array(COUNTIES)
    schema = None
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            t = real.take(rng.choice(real.num_rows, n))
            t = t.add_column(0, "id", pa.array(ids[start : start + n]))
            income = np.round(rng.lognormal(10.5, 0.8, n), 2)
            t = t.append_column("income", pa.array(income))
            hexes = rng.integers(0, 2**63, n, dtype=np.int64)
            t = t.append_column("household", pa.array([f"{h:016x}" for h in hexes.tolist()]))
            t = t.append_column("county", counties.take(rng.integers(0, len(COUNTIES), n)))
            if writer is None:
                schema = t.schema
                writer = pq.ParquetWriter(path.with_suffix(".tmp"), schema)
            writer.write_table(t)
    finally:
        if writer is not None:
            writer.close()
    path.with_suffix(".tmp").replace(path)
    manifest.write_text(json.dumps(want))
    return path


def warm(path: Path) -> None:
    """Read ``path`` once so that every method starts from a warm page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# --------------------------------------------------------------------------- methods


def _wait4(
    args: list[str], env: dict[str, str] | None, cwd: Path | None
) -> tuple[float, float, str]:
    """Run ``args``: wall seconds, peak RSS in MiB (``ru_maxrss`` of the child tree), stdout."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(
                f"{' '.join(map(str, args[:4]))} failed ({proc.returncode}): "
                f"{err.read().strip()[-2000:]}"
            )
        return wall, usage.ru_maxrss / 1024, out.read()


def fresh_store(tmp: Path) -> Path:
    store = tmp / "store"
    subprocess.run([ASSAY, "init", store, "--json"], check=True, capture_output=True)
    subprocess.run(
        [ASSAY, "data", "create", "bench", "--key", "id", "--store", store, "--json"],
        check=True,
        capture_output=True,
    )
    return store


def assay_cli(path: Path, tmp: Path, as_is: bool = False) -> dict[str, Any]:
    store = fresh_store(tmp)
    warm(path)
    argv = [str(ASSAY), "data", "add", "bench", str(path), "--name", "commit"]
    argv += ["--as-is"] * as_is + ["--store", str(store), "--json"]
    wall, rss, out = _wait4(argv, None, None)
    delta = json.loads(out)["delta"]
    return {"s": wall, "rss_mib": rss, "id": delta["id"], "stored_bytes": _stored_bytes(store)}


def assay_lib(path: Path, tmp: Path, as_is: bool = False) -> dict[str, Any]:
    store = fresh_store(tmp)
    warm(path)
    layout = "as-is" if as_is else "canonical"
    wall, rss, out = _wait4(
        [str(PYTHON), "-c", LIB_CHILD, str(store), str(path), layout], None, None
    )
    return {"s": float(out.strip().splitlines()[-1]), "process_s": wall, "rss_mib": rss}


def _stored_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in (store / "objects").rglob("*.parquet"))


def dvc_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def dvc(path: Path, tmp: Path) -> dict[str, Any]:
    repo = tmp / "repo"
    repo.mkdir()
    env = dvc_env()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([DVC, "config", "core.analytics", "false"], cwd=repo, check=True, env=env)
    copy = repo / path.name
    shutil.copyfile(path, copy)
    os.sync()  # the copy's dirty pages are on disk before the clock starts
    warm(copy)
    wall, rss, _ = _wait4([str(DVC), "add", "-q", copy.name], env, repo)
    cached = [p for p in (repo / ".dvc" / "cache").rglob("*") if p.is_file()]
    assert len(cached) == 1, cached
    same_inode = cached[0].stat().st_ino == copy.stat().st_ino
    # dvc add does not sync its copy; assay syncs a delta's object before its catalog
    # row names it. The time to make dvc's copy durable too gives the same-durability
    # comparison beside the plain one.
    t0 = time.perf_counter()
    with open(cached[0], "rb") as f:
        os.fsync(f.fileno())
    synced = time.perf_counter() - t0
    return {
        "s": wall,
        "then_fsync_s": synced,
        "rss_mib": rss,
        # A reflink shares extents without sharing the inode: report what the bytes did.
        "cache_link": "hardlink" if same_inode else "copy_or_reflink",
        "cache_bytes": cached[0].stat().st_size,
    }


RUNNERS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "assay_cli": assay_cli,
    "assay_lib": assay_lib,
    "as_is_cli": lambda path, tmp: assay_cli(path, tmp, as_is=True),
    "as_is_lib": lambda path, tmp: assay_lib(path, tmp, as_is=True),
    "dvc": dvc,
}


# --------------------------------------------------------------------------- profile


# (file name ends with, function name, phase): cumulative times from one cProfile run.
PHASES = [
    ("assay/data/schema.py", "read_table_file", "read"),
    ("assay/data/schema.py", "fit_to_schema", "fit to schema"),
    ("assay/data/deltas.py", "_check_keys_present", "keys present"),
    ("pyarrow/compute.py", "take", "sort: reorder rows (take)"),
    ("assay/data/deltas.py", "_check_unique", "unique check"),
    ("assay/data/hashing.py", "content_id", "content id"),
    ("assay/data/hashing.py", "key_hash", "key hash"),
    ("~", "<built-in method numpy._core._multiarray_umath._unique_hash>", "np.unique(key hashes)"),
    ("assay/data/keyindex.py", "delta_events", "key index: delta_events"),
    ("assay/data/deltas.py", "_column_stats", "statistics"),
    ("assay/data/deltas.py", "_label_counts", "label counts"),
    ("pyarrow/parquet/core.py", "write_table", "Parquet write"),
    ("assay/store/objects.py", "sha256_file", "sha256"),
    ("assay/data/deltas.py", "_put_object", "object put"),
    ("assay/store/manifests.py", "write_delta_manifest", "manifest"),
    ("assay/store/catalog.py", "commit_delta", "catalog commit"),
]


def profile_add(path: Path) -> dict[str, Any]:
    """``add_delta``'s time and its phases', from one cProfile run in this process."""
    import assay

    def fresh(tmp: str) -> Any:
        store = assay.init_store(Path(tmp) / "store")
        assay.create_dataset(store, "bench", ["id"])
        warm(path)
        return store

    # One run, profiled: cProfile adds little to calls this long (435 s with, 434 without).
    with tempfile.TemporaryDirectory(dir=OUT / "tmp") as tmp:
        store = fresh(tmp)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        assay.add_delta(store, "bench", path, name="commit")
        prof.disable()
        profiled = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    phases: dict[str, float] = {}
    for suffix, func, label in PHASES:
        phases[label] = round(
            max(  # the largest: a method and a function may share a name (write_table)
                row[3]  # cumulative seconds
                for (file, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
                if name == func and file.endswith(suffix)
            )
            if any(name == func and file.endswith(suffix) for (file, _, name) in stats.stats)  # type: ignore[attr-defined]
            else 0.0,
            3,
        )
    phases["other"] = round(profiled - sum(phases.values()), 3)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(20)
    return {
        "total_s": round(profiled, 3),
        "phases_s": phases,
        "cprofile_top": [line for line in buf.getvalue().splitlines() if line.strip()][:40],
    }


# --------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "dvc": subprocess.run([DVC, "--version"], capture_output=True, text=True).stdout.strip(),
    }
    with open("/proc/meminfo") as f:
        mem = dict(line.split(":", 1) for line in f)
    info["mem_total_gib"] = round(int(mem["MemTotal"].split()[0]) / 2**20, 1)
    info["mem_available_gib"] = round(int(mem["MemAvailable"].split()[0]) / 2**20, 1)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--profile", action="store_true", help="also time add_delta's phases")
    ap.add_argument("--only-profile", action="store_true", help="time the phases, nothing else")
    ap.add_argument("--fresh", action="store_true", help="regenerate the file")
    ap.add_argument("--generate-only", action="store_true", help="make the file, nothing else")
    ap.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated, of {', '.join(METHODS)} (dvc is always run)",
    )
    args = ap.parse_args(argv)
    if args.generate_only:
        generate(args.rows, args.seed, args.fresh)
        return 0
    if not DVC.exists():
        raise SystemExit(
            f"{DVC} is missing; python3 -m venv bench/.venv-dvc && "
            "bench/.venv-dvc/bin/pip install -r bench/requirements-dvc.txt"
        )
    # Made in a child: on Linux a child's ru_maxrss starts from its parent's RSS at the
    # fork, and making the file takes this process to ~1.1 GiB (every method then showed
    # 1,098 MiB).
    make = [sys.executable, __file__, "--generate-only", "--rows", str(args.rows)]
    make += ["--seed", str(args.seed)] + ["--fresh"] * args.fresh
    subprocess.run(make, check=True)
    path = generate(args.rows, args.seed, fresh=False)
    size = path.stat().st_size
    print(
        f"file: {path.relative_to(ROOT)}, {size / 2**30:.3f} GiB, {args.rows:,d} rows", flush=True
    )
    (OUT / "tmp").mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "goal": f"assay <= {GOAL}x dvc add",
        "file": {"path": str(path.relative_to(ROOT)), "bytes": size, "rows": args.rows},
        "machine": machine(),
        "loadavg_before": os.getloadavg(),
    }
    if args.only_profile:
        result["profile"] = profile_add(path)
        print(json.dumps(result["profile"]["phases_s"], indent=2))
        (OUT / "commit-profile.json").write_text(json.dumps(result, indent=2))
        return 0
    methods = tuple(m for m in METHODS if m in args.methods.split(",") or m == "dvc")
    rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(args.rounds):
        k = r % len(methods)
        order = methods[k:] + methods[:k]
        got: dict[str, dict[str, Any]] = {}
        for m in order:
            with tempfile.TemporaryDirectory(dir=OUT / "tmp") as tmp:
                got[m] = RUNNERS[m](path, Path(tmp))
            print(
                f"  round {r + 1} {m:9s} {got[m]['s']:7.2f} s  peak RSS {got[m]['rss_mib']:8.0f} MiB"
                f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        rounds.append(got)
        # Written after every round: a long run that is stopped keeps what it measured.
        result.update(summarise(rounds, methods), loadavg_after=os.getloadavg())
        (OUT / "commit.json").write_text(json.dumps(result, indent=2))
    if args.profile:
        result["profile"] = profile_add(path)
        (OUT / "commit.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))
    return 0


def summarise(rounds: list[dict[str, dict[str, Any]]], methods: tuple[str, ...]) -> dict[str, Any]:
    """Medians, paired ratios to dvc and peak RSS over ``rounds``; the delta ids."""
    ids = {m: {g[m]["id"] for g in rounds} for m in ("assay_cli", "as_is_cli") if m in methods}
    assert all(len(v) == 1 for v in ids.values()), f"a delta id changed between rounds: {ids}"
    summary: dict[str, Any] = {}
    for m in methods:
        summary[m] = {
            "median_s": round(statistics.median(g[m]["s"] for g in rounds), 3),
            "min_s": round(min(g[m]["s"] for g in rounds), 3),
            "median_peak_rss_mib": round(statistics.median(g[m]["rss_mib"] for g in rounds)),
        }
    for m in (m for m in methods if m in ASSAY_METHODS):
        ratios = [g[m]["s"] / g["dvc"]["s"] for g in rounds]
        summary[m]["paired_ratio_to_dvc"] = [round(x, 2) for x in ratios]
        summary[m]["median_ratio_to_dvc"] = round(statistics.median(ratios), 2)
        summary[m]["meets_goal"] = statistics.median(ratios) <= GOAL
        durable = [g[m]["s"] / (g["dvc"]["s"] + g["dvc"]["then_fsync_s"]) for g in rounds]
        summary[m]["paired_ratio_to_dvc_then_fsync"] = [round(x, 2) for x in durable]
        summary[m]["median_ratio_to_dvc_then_fsync"] = round(statistics.median(durable), 2)
    summary["dvc"]["cache_link"] = rounds[0]["dvc"]["cache_link"]
    summary["dvc"]["median_then_fsync_s"] = round(
        statistics.median(g["dvc"]["then_fsync_s"] for g in rounds), 3
    )
    return {
        "rounds": rounds,
        "summary": summary,
        "delta_ids": {m: v.pop() for m, v in ids.items()},
        "stored_bytes": {m: rounds[0][m]["stored_bytes"] for m in ids},
    }


if __name__ == "__main__":
    raise SystemExit(main())
