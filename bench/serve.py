"""`assay serve` against the same model behind a bare FastAPI endpoint, and a soak.

    .venv/bin/python bench/serve.py                     # 3 rounds of 15 s per server
    .venv/bin/python bench/serve.py --seconds 30 --rounds 5
    .venv/bin/python bench/serve.py --soak 120          # + two minutes at saturation,
                                                        #   SIGTERM and SIGKILL mid-load

Three servers, each its own process on loopback, one uvicorn worker each:
``bare`` (bench/bare_app.py: the endpoint a team writes by hand), ``assay`` (`assay
serve` with a 90/10 split, no shadow) and ``assay+shadow`` (the same plus one shadow).
Every arm and the shadow serve the same model version, so the difference is what assay
adds. Throughput is measured at saturation (``--concurrency`` connections, closed loop);
latency with one connection (one request at a time: service time, not queueing).
Rounds rotate the servers' order; medians over rounds. Writes bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Load, run_load

import assay
from assay.experiments.log import read_log

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "SEX", "RAC1P", "CIT"]
PYTHON = sys.executable
ASSAY = str(Path(PYTHON).with_name("assay"))


def build_store(where: Path) -> tuple[Path, list[dict[str, int]]]:
    """A fresh store with ``employment`` v1 (logistic regression on 20k ACS rows); the
    traffic: 10,000 other real rows as clients send them."""
    import shutil

    shutil.rmtree(where, ignore_errors=True)
    frame = pq.read_table(ROOT / "examples" / "data" / "acs_employment_ma.parquet").to_pandas()
    frame = frame.sample(30_000, random_state=0)
    train, rest = frame.iloc[:20_000], frame.iloc[20_000:]
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train["employed"])
    with assay.init_store(where) as store:
        assay.register_model(
            "employment",
            model,
            sample=train[FEATURES].head(50),
            aliases=["production"],
            store=store,
        )
    records = [{k: int(v) for k, v in r.items()} for r in rest[FEATURES].to_dict("records")]
    return where, records


def config(experiment: str, shadow: bool) -> dict[str, Any]:
    return {
        "endpoint": "employment",
        "experiment": experiment,
        "routes": [
            {"model": "employment@1", "weight": 0.9, "arm": "control"},
            {"model": "employment@1", "weight": 0.1, "arm": "treatment"},
        ],
        "shadow": ["employment@1"] if shadow else [],
        "sticky_key": "user_id",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server process on a free loopback port."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read() if self.proc.stderr else b""
                    raise RuntimeError(f"{name} did not start: {err!r}") from None
                time.sleep(0.1)

    def rss_mib(self) -> float:
        """Resident memory of the server and its children."""
        pids = [self.proc.pid, *_children(self.proc.pid)]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total / 1024

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=120)
        finally:
            if self.proc.stderr:
                self.proc.stderr.close()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            out += [child, *_children(child)]
    return out


def start(name: str, store: Path, work: Path, experiment: str) -> Server:
    port = free_port()
    if name == "bare":
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        return Server(
            name, argv, {"BARE_STORE": str(store), "PYTHONPATH": str(ROOT / "bench")}, port
        )
    path = work / f"{experiment}.yaml"
    path.write_text(yaml.safe_dump(config(experiment, shadow=name == "assay+shadow")))
    argv = [ASSAY, "serve", str(path), "--port", str(port), "--store", str(store)]
    return Server(name, argv, {}, port)


def bodies(records: list[dict[str, int]]) -> Any:
    encoded = [json.dumps(r).encode() for r in records]

    def body(n: int) -> bytes:
        return b'{"user_id":"u-%d","inputs":%s}' % (n % 50_000, encoded[n % len(encoded)])

    return body


def measure(args: argparse.Namespace, store: Path, records: list[dict[str, int]]) -> dict[str, Any]:
    body = bodies(records)
    names = ["bare", "assay", "assay+shadow"]
    results: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for round_ in range(args.rounds):
        order = names[round_ % 3 :] + names[: round_ % 3]
        for name in order:
            server = start(name, store, OUT / "serve", f"bench-{round_}-{name.replace('+', '-')}")
            try:
                run_load(server.port, body, seconds=2, concurrency=args.concurrency)  # warm-up
                sat = run_load(
                    server.port, body, seconds=args.seconds, concurrency=args.concurrency
                )
                one = run_load(server.port, body, seconds=args.seconds / 2, concurrency=1)
            finally:
                server.stop()
            _check(name, sat)
            row = results[name]
            for key, value in (
                ("throughput_rps", sat.throughput),
                ("p50_ms", one.percentile(50)),
                ("p99_ms", one.percentile(99)),
                ("saturated_p99_ms", sat.percentile(99)),
            ):
                row.setdefault(key, []).append(value)
            print(
                f"round {round_ + 1} {name:13s} {sat.throughput:8.1f} req/s  "
                f"p50 {one.percentile(50):6.3f} ms  p99 {one.percentile(99):6.3f} ms  "
                f"(saturated p99 {sat.percentile(99):.1f} ms)",
                flush=True,
            )
    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in results.items()}
    bare = med["bare"]
    return {
        "rounds": results,
        "median": med,
        "throughput_ratio": med["assay+shadow"]["throughput_rps"] / bare["throughput_rps"],
        "throughput_ratio_no_shadow": med["assay"]["throughput_rps"] / bare["throughput_rps"],
        "added_p50_ms": med["assay+shadow"]["p50_ms"] - bare["p50_ms"],
        "added_p50_ms_no_shadow": med["assay"]["p50_ms"] - bare["p50_ms"],
        "live_p99_ms": {
            "shadow": med["assay+shadow"]["p99_ms"],
            "no_shadow": med["assay"]["p99_ms"],
        },
    }


def _check(name: str, load: Load) -> None:
    bad = {s: n for s, n in load.statuses.items() if s != 200}
    if bad or load.errors:
        print(f"  {name}: non-200 answers {bad}, broken connections {load.errors}", flush=True)


def soak(
    args: argparse.Namespace, store_path: Path, records: list[dict[str, int]]
) -> dict[str, Any]:
    """Two minutes at saturation with a shadow; then SIGTERM and SIGKILL mid-load."""
    body = bodies(records)
    out: dict[str, Any] = {}
    for mode, seconds in (("soak", args.soak), ("sigterm", 20.0), ("sigkill", 20.0)):
        experiment = f"soak-{mode}-{int(time.time())}"
        server = start("assay+shadow", store_path, OUT / "serve", experiment)
        samples: list[float] = []
        done = threading.Event()

        def sample(
            server: Server = server, samples: list[float] = samples, done: threading.Event = done
        ) -> None:
            while not done.wait(1.0):
                samples.append(server.rss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        if mode != "soak":  # stop the server halfway through the load
            sig = signal.SIGTERM if mode == "sigterm" else signal.SIGKILL
            timer = threading.Timer(seconds / 2, server.proc.send_signal, args=(sig,))
            timer.start()
        load = run_load(server.port, body, seconds=seconds, concurrency=args.concurrency, keep=True)
        done.set()
        code = server.stop() if mode == "soak" else server.proc.wait(timeout=120)
        with assay.open_store(store_path) as store:
            log = read_log(store, experiment, role="live")
        logged = log["request_id"].to_pylist()
        answered = [a["request_id"] for a in load.answers]
        counts: dict[str, int] = {}
        for rid in logged:
            counts[rid] = counts.get(rid, 0) + 1
        third = max(1, len(samples) // 3)
        row = {
            **load.summary(),
            "exit_code": code,
            "answered": len(answered),
            "answered_logged_once": sum(1 for r in answered if counts.get(r) == 1),
            "answered_missing_from_log": sum(1 for r in answered if r not in counts),
            "logged_twice": sum(1 for n in counts.values() if n > 1),
            "log_rows": len(logged),
            "server_5xx": sum(n for s, n in load.statuses.items() if s >= 500),
            "rss_mib_first_third_median": statistics.median(samples[:third]) if samples else None,
            "rss_mib_last_third_median": statistics.median(samples[-third:]) if samples else None,
            "rss_mib_max": max(samples) if samples else None,
        }
        out[mode] = row
        print(f"{mode}: {json.dumps(row)}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak (0: none)")
    parser.add_argument("--no-compare", action="store_true", help="only the soak")
    args = parser.parse_args()
    (OUT / "serve").mkdir(parents=True, exist_ok=True)
    store, records = build_store(OUT / "serve" / "store")
    result: dict[str, Any] = {
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "concurrency": args.concurrency,
    }
    if not args.no_compare:
        result["compare"] = measure(args, store, records)
        c = result["compare"]
        print(
            f"throughput assay+shadow / bare: {c['throughput_ratio']:.3f} "
            f"(no shadow {c['throughput_ratio_no_shadow']:.3f}); added p50 "
            f"{c['added_p50_ms']:.3f} ms (no shadow {c['added_p50_ms_no_shadow']:.3f}); "
            f"live p99 {c['live_p99_ms']}",
            flush=True,
        )
    if args.soak:
        result["soak"] = soak(args, store, records)
    result["load_average_after"] = os.getloadavg()
    (OUT / "serve.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {OUT / 'serve.json'}")


if __name__ == "__main__":
    main()
