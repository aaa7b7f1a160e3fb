"""``assay serve CONFIG`` and ``assay serve log`` as subprocesses: one-line refusals that
start nothing, a graceful drain on SIGTERM that logs every answered request once, and
several workers whose metrics add up."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len
from sklearn.linear_model import LogisticRegression

import assay
from assay.experiments.log import read_log
from assay.experiments.records import list_experiments
from assay.server import Endpoint
from tests_helpers import ASSAY, run_assay, year

FEATURES = ["AGEP", "SCHL", "MAR", "SEX"]
CONFIG = """\
endpoint: employment
experiment: {experiment}
routes:
  - {{model: employment@production, weight: 0.8, arm: control}}
  - {{model: employment@candidate, weight: 0.2, arm: treatment}}
sticky_key: user_id
log: {{flush_rows: 50, flush_seconds: 0.5}}
"""
# After its graceful shutdown uvicorn raises the signal it caught again, so the status
# says SIGTERM stopped it (0 from older uvicorn releases).
STOPPED = (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """A store with two logistic regressions (@production, @candidate) on ACS rows."""
    root = tmp_path_factory.mktemp("serve")
    frame = acs.slice(0, 2000).to_pandas()
    with assay.init_store(root / ".assay") as store:
        for alias, rows in (("production", slice(0, 1000)), ("candidate", slice(1000, 2000))):
            part = frame.iloc[rows]
            model = LogisticRegression(max_iter=1000).fit(part[FEATURES], part["employed"])
            assay.register_model(
                "employment", model, sample=part[FEATURES].head(20), aliases=[alias], store=store
            )
    return root


@pytest.fixture(scope="module")
def records(acs: pa.Table) -> list[dict[str, Any]]:
    """Rows of the 2018 survey replayed as traffic (the models saw only 2015)."""
    return year(acs, 2018).slice(0, 500).select(FEATURES).to_pylist()


def write_config(project: Path, experiment: str, text: str | None = None) -> Path:
    path = project / f"{experiment}.yaml"
    path.write_text(text if text is not None else CONFIG.format(experiment=experiment))
    return path


@contextmanager
def serving(
    project: Path, config: Path, *extra: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``assay serve CONFIG --port 0 EXTRA`` running; yields it and its URL (read from
    uvicorn's log line), and kills it if the test did not stop it."""
    env = {k: v for k, v in os.environ.items() if k not in ("ASSAY_STORE", "ASSAY_DEBUG")}
    proc = subprocess.Popen(
        [str(ASSAY), "serve", str(config), "--port", "0", *extra],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers too are stopped by killpg below
    )
    url: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"Uvicorn running on (http://\S+)", line)
            if found and not url:
                url.append(found.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not url:
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        base = url[0]
        while not ready(base):  # the workers load their models after the port is bound
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=60)
        if not reader.is_alive():  # closing a pipe another thread reads would hang
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        assert "Traceback" not in "".join(lines), "".join(lines)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=60).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_drains_and_every_answered_request_is_logged_once(
    project: Path, records: list[dict[str, Any]]
) -> None:
    config = write_config(project, "drain")
    answered: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not stop.is_set():
                body = {"user_id": f"c{n}-{i}", "inputs": records[i % len(records)]}
                try:
                    reply = http.post(f"{base}/v1/predict", json=body)
                except httpx.HTTPError:
                    return  # the server stopped listening
                assert reply.status_code == 200, reply.text
                answered.append(reply.json()["request_id"])
                i += 1

    with serving(project, config) as (proc, base):
        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 300
        while len(answered) < 200:
            assert any(t.is_alive() for t in clients), "every client stopped early"
            assert time.monotonic() < deadline, f"only {len(answered)} answers in 300 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)  # requests are in flight now
        assert proc.wait(timeout=120) in STOPPED
        stop.set()
        for t in clients:
            t.join(timeout=60)

    shown = run_assay("serve", "log", "drain", "--json", cwd=project)
    assert shown.rc == 0, shown.err
    live = Counter(r["request_id"] for r in shown.json()["log"] if r["role"] == "live")
    assert len(answered) >= 200
    assert [i for i in answered if live[i] != 1] == []  # each answered id exactly once
    assert set(live.values()) == {1}


def test_serve_log_prints_limits_and_writes_the_log(project: Path) -> None:
    config = CONFIG.format(experiment="logged")
    with assay.open_store(project / ".assay") as store:
        endpoint = Endpoint(config, store, weights_poll_s=None)
        endpoint.open()
        for i in range(30):
            endpoint.predict(
                {"user_id": f"u{i}", "inputs": {"AGEP": 30 + i, "SCHL": 20, "MAR": 1, "SEX": 2}}
            )
        endpoint.close()
    every = run_assay("serve", "log", "logged", "--json", cwd=project).json()
    assert (every["rows"], every["shown"]) == (30, 30)
    assert [r["sticky_key"] for r in every["log"]] == [f"u{i}" for i in range(30)]
    last = run_assay("serve", "log", "logged", "--limit", "5", "--json", cwd=project).json()
    assert [r["request_id"] for r in last["log"]] == [r["request_id"] for r in every["log"][-5:]]
    out = run_assay("serve", "log", "logged", "--out", "log.parquet", "--json", cwd=project)
    assert out.rc == 0 and "log" not in out.json()
    table = pq.read_table(project / "log.parquet")
    assert table["request_id"].to_pylist() == [r["request_id"] for r in every["log"]]
    shown = run_assay("serve", "log", "logged", "--limit", "3", cwd=project)
    assert shown.rc == 0
    assert every["log"][-1]["request_id"][:12] in shown.out
    assert "3 of 30 rows" in shown.out
    assert max(cell_len(line) for line in shown.out.splitlines()) <= 80  # fits a terminal
    # A terminal gets the newest 20 rows unless asked; --out writes the file, says one line.
    newest = run_assay("serve", "log", "logged", cwd=project)
    assert "20 of 30 rows" in newest.out
    assert every["log"][9]["request_id"][:12] not in newest.out
    assert every["log"][10]["request_id"][:12] in newest.out
    wrote = run_assay("serve", "log", "logged", "--out", "again.parquet", cwd=project)
    assert wrote.out.strip() == "Wrote 30 of 30 log rows to again.parquet"
    assert pq.read_table(project / "again.parquet").equals(table)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("endpoint: employment\nexperiment: bad\nroutes: []\n", "routes"),
        (
            CONFIG.format(experiment="typo").replace("candidate", "nightly"),
            "has no alias 'nightly'",
        ),
        (
            CONFIG.format(experiment="noauth") + "auth: {token_env: ASSAY_TEST_UNSET_TOKEN}\n",
            "ASSAY_TEST_UNSET_TOKEN, which is not set",
        ),
    ],
)
def test_a_bad_config_is_one_line_and_starts_nothing(project: Path, config: str, says: str) -> None:
    path = write_config(project, "broken", config)
    done = run_assay("serve", path.name, "--port", "0", cwd=project)
    assert done.rc == 2
    assert says in done.error_line()
    with assay.open_store(project / ".assay") as store:
        assert {e.name for e in list_experiments(store)} & {"bad", "typo", "noauth"} == set()


def test_usage_errors_are_one_line(project: Path) -> None:
    missing = run_assay("serve", "nowhere.yaml", cwd=project)
    assert missing.rc == 2 and "nowhere.yaml" in missing.error_line()
    config = write_config(project, "busy")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        busy = run_assay("serve", config.name, "--port", port, cwd=project)
    assert busy.rc == 2 and f"127.0.0.1:{port}" in busy.error_line()
    unknown = run_assay("serve", "log", "never-served", "--json", cwd=project)
    assert unknown.rc == 2 and "never-served" in unknown.json()["error"]


def test_several_workers_share_one_port_and_their_metrics_add_up(
    project: Path, records: list[dict[str, Any]]
) -> None:
    config = write_config(project, "workers")
    ids = []
    with serving(project, config, "--workers", "2") as (proc, base):
        for i in range(60):  # a new connection each: the kernel spreads them over workers
            reply = httpx.post(
                f"{base}/v1/predict", json={"user_id": f"w{i}", "inputs": records[i]}, timeout=60
            )
            ids.append(reply.json()["request_id"])
        text = httpx.get(f"{base}/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) in STOPPED
    answered = sum(
        float(m.group(1)) for m in re.finditer(r"^assay_requests_total\{[^}]*\} (\S+)$", text, re.M)
    )
    assert answered == 60
    with assay.open_store(project / ".assay") as store:
        log = read_log(store, "workers")
    assert sorted(log["request_id"].to_pylist()) == sorted(ids)


def test_an_experiment_name_taken_by_another_endpoint_is_one_line(project: Path) -> None:
    from assay.experiments.records import start_experiment

    other = CONFIG.format(experiment="taken").replace("endpoint: employment", "endpoint: other")
    with assay.open_store(project / ".assay") as store:
        start_experiment(store, other)
    config = write_config(project, "taken")
    done = run_assay("serve", config.name, "--port", "0", cwd=project)
    assert done.rc == 2
    assert "recorded for endpoint 'other'" in done.error_line()


def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    """Before: 'internal error (OverflowError: bind(): port must be 0-65535.)', exit 70."""
    done = run_assay("serve", "serve.yaml", "--port", "99999", cwd=tmp_path)
    assert done.rc == 2
    assert "Invalid value for '--port'" in done.error_line() and "65535" in done.error_line()
