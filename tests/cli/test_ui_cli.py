"""``assay ui`` as a real subprocess: it serves the dashboard over the store it is
given until stopped, and a mistake is one line and exit 2 before anything starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

import assay
from tests_helpers import ASSAY, run_assay


def test_ui_serves_the_store_until_stopped(tmp_path: Path) -> None:
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "people", ["id"], label="employed")
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_STORE"} | {"NO_COLOR": "1"}
    command = [str(ASSAY), "ui", "--port", "0", "--store", str(tmp_path / ".assay"), "--json"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            lines: list[str] = []
            while not lines or lines[-1] != "}\n":  # the JSON object, then uvicorn runs
                line = proc.stdout.readline()
                assert line, "assay ui stopped before saying where it listens"
                lines.append(line)
            started = json.loads("".join(lines))
            assert started["url"].startswith("http://127.0.0.1:")
            with httpx.Client(base_url=started["url"], timeout=60) as client:
                datasets = client.get("/api/ui/datasets").json()["datasets"]
                assert [(d["name"], d["deltas"]) for d in datasets] == [("people", 0)]
                assert "/api/whatif/predict" in client.get("/openapi.json").json()["paths"]
                page = client.get("/ui/datasets")
                assert page.status_code == 200 and ">people</a>" in page.text
        finally:
            proc.send_signal(signal.SIGTERM)
            # After its graceful shutdown uvicorn raises the signal it caught again.
            assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stderr.read()


def test_a_missing_pipeline_file_is_one_line(tmp_path: Path) -> None:
    assay.init_store(tmp_path / ".assay").close()
    result = run_assay(
        "ui", "--pipeline", "nope.yaml", "--store", tmp_path / ".assay", cwd=tmp_path
    )
    assert result.rc == 2
    assert "pipeline file 'nope.yaml' does not exist" in result.error_line()


def test_the_assay_yaml_beside_it_is_the_pipeline_it_shows(tmp_path: Path) -> None:
    # Found as `assay pipeline status` finds it; checked before anything starts.
    assay.init_store(tmp_path / ".assay").close()
    (tmp_path / "assay.yaml").write_text("name: broken\nstages: 3\n")
    result = run_assay("ui", "--store", tmp_path / ".assay", cwd=tmp_path)
    assert result.rc == 2
    assert "assay.yaml" in result.error_line()


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    assay.init_store(tmp_path / ".assay").close()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_assay("ui", "--port", port, "--store", tmp_path / ".assay", cwd=tmp_path)
    assert result.rc == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.error_line()


def test_a_network_address_is_refused_without_tokens(tmp_path: Path) -> None:
    assay.init_store(tmp_path / ".assay").close()
    result = run_assay("ui", "--host", "0.0.0.0", "--store", tmp_path / ".assay", cwd=tmp_path)
    assert result.rc == 2
    # The one check assay serve makes too (cli/_exposure.py).
    assert result.error_line() == (
        "error: --host 0.0.0.0 without --auth would open the store to the network; give "
        "--auth TOKENS.yaml (docs/access.md) or serve on --host 127.0.0.1"
    )
