"""A small closed-loop HTTP/1.1 load generator for the serving benchmarks (loopback only).

``CONCURRENCY`` keep-alive connections each send a request, wait for its answer, and send
the next, for ``seconds``; bodies come from a caller's function of the request number
(so the sticky key varies and the traffic splits as real users would). Raw asyncio
streams, no HTTP library: on a 2-core machine the generator must cost far less than the
server it measures (it sustains well over 10k requests/s on one core).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Load:
    """What one run of the generator saw."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)  # kept when asked
    errors: int = 0  # connections that broke (refused, reset)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p90_ms": round(self.percentile(90), 3),
            "p99_ms": round(self.percentile(99), 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "broken_connections": self.errors,
        }


async def _client(
    host: str,
    port: int,
    path: str,
    body: Callable[[int], bytes],
    counter: list[int],
    stop_at: float,
    load: Load,
    keep: bool,
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        load.errors += 1
        return
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    try:
        while time.perf_counter() < stop_at:
            counter[0] += 1
            payload = body(counter[0])
            request = f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                load.errors += 1
                return
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            data = await reader.readexactly(length)
            load.latencies_ms.append((time.perf_counter() - started) * 1000)
            load.statuses[status] = load.statuses.get(status, 0) + 1
            if keep and status == 200:
                load.answers.append(json.loads(data))
    except (OSError, asyncio.IncompleteReadError):
        load.errors += 1
    finally:
        writer.close()


async def _run(
    host: str,
    port: int,
    path: str,
    body: Callable[[int], bytes],
    seconds: float,
    concurrency: int,
    keep: bool,
) -> Load:
    started = time.perf_counter()
    load = Load(seconds=seconds)
    counter = [0]
    await asyncio.gather(
        *(
            _client(host, port, path, body, counter, started + seconds, load, keep)
            for _ in range(concurrency)
        )
    )
    load.seconds = time.perf_counter() - started
    return load


def run_load(
    port: int,
    body: Callable[[int], bytes],
    *,
    seconds: float,
    concurrency: int = 16,
    path: str = "/v1/predict",
    host: str = "127.0.0.1",
    keep: bool = False,
) -> Load:
    """Drive ``host:port`` for ``seconds`` with ``concurrency`` connections."""
    return asyncio.run(_run(host, port, path, body, seconds, concurrency, keep))
