"""``assay ui``: the dashboard over a store (``assay.server.ui``), served by uvicorn.

Everything that can be wrong (the store, the pipeline file, the port) is checked
before uvicorn starts, so a mistake is one line and exit 2, and nothing starts.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._exposure import check_exposure
from assay.cli._output import emit, err_console
from assay.errors import UsageError


def register(root: typer.Typer) -> None:
    root.command("ui")(ui)


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free).")
    ] = 8080,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="An assay.yaml whose status to show (default: ./assay.yaml, if there is one).",
            show_default=False,
        ),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help="Token file: which domains each token may read (and promote in) "
            "(docs/access.md). Without it the dashboard listens on loopback only.",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Serve the dashboard (datasets, runs, models, checks, evaluations, experiments,
    pipeline, what-if) until stopped; its JSON API is listed at /openapi.json."""
    from assay.extras import require
    from assay.server.ui import PURPOSE

    for module in ("fastapi", "uvicorn"):
        require(module, PURPOSE)
    import uvicorn

    from assay.server.ui import create_app
    from assay.store import open_store

    check_exposure(host, auth)
    access = None
    if auth is not None:
        from assay.server.auth import load_access

        access = load_access(auth)  # a malformed file or an unset secret: one line, now
    if pipeline is None and Path("assay.yaml").is_file():
        pipeline = "assay.yaml"  # as `assay pipeline status` finds it
    if pipeline is not None:
        from assay.pipeline import load_pipeline

        if not Path(pipeline).is_file():
            raise UsageError(f"pipeline file {pipeline!r} does not exist; give assay.yaml's path")
        load_pipeline(pipeline)  # a broken file is one line now, not a broken page later
    opened = open_store(store)
    try:
        sock = _listen(host, port)
    except BaseException:
        opened.close()
        raise
    url = f"http://{host}:{sock.getsockname()[1]}"
    emit(
        {"url": url, "store": opened.url, "pipeline": pipeline, "auth": auth},
        json,
        lambda: err_console.print(
            f"Dashboard of {opened.url} at {url}/ui"
            + (
                f"; each page needs a token of {auth}"
                if auth
                else "; no --auth: no token needed, so listening on loopback only"
            )
            + " (Ctrl-C stops it)"
        ),
    )
    sys.stdout.flush()  # the URL reaches a pipe now, not when the server stops
    app = create_app(opened, pipeline=pipeline, access=access)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        opened.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket (port 0: a free one), or one line saying why not."""
    try:
        return socket.create_server((host, port))
    except OSError as e:
        raise UsageError(
            f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port or --host"
        ) from None
