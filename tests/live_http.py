"""One real HTTP server for the tests: a FastAPI app under uvicorn, in a thread, on a
free loopback port (the serving tests, the dashboard's, the store API's)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

START_S = 60  # generous: a loaded 2-core machine


@contextmanager
def live(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base
    URL, then stops it (lifespan shutdown runs) and checks that it stopped."""
    # Bound by us: no race for the port. IPPROTO_TCP, or asyncio leaves Nagle's algorithm
    # on for the connections and each answer waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_S)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"
