"""``assay serve CONFIG``: serve an experiment over HTTP; ``assay serve log EXPERIMENT``.

The server is uvicorn running ``assay.server.from_environment`` (named, not imported:
``--workers N`` starts N processes that each import it), which reads the config's path
and the store from the environment this command sets. Everything that can be wrong
(the config, the store, a model reference, the token, the port) is checked here first,
so a mistake is one line and exit 2, and nothing starts.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._exposure import check_exposure
from assay.cli._output import DefaultCommandGroup, console, emit, err_console
from assay.errors import UsageError
from assay.files import atomic_write

app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help=(
        "Serve an experiment: `assay serve CONFIG [--host H] [--port P] [--workers N]` "
        "answers POST /v1/predict from the config's weighted, sticky arms and logs every "
        "answer; `assay serve log EXPERIMENT` prints the prediction log. "
        "See `assay serve run --help`."
    ),
)

PURPOSE = "experiments served over HTTP (assay serve)"
FACTORY = "assay.server:from_environment"
#: Rows `assay serve log` shows on a terminal without --limit (the newest).
TERMINAL_ROWS = 20


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="serve")


@app.command("run", hidden=True)
def run(
    config: Annotated[
        str, typer.Argument(help="The experiment config (YAML).", show_default=False)
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free).")
    ] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each logs on its own).")
    ] = 1,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help="Token file: who may read, write or promote in which domain through /api "
            "(docs/access.md). Without it the server listens on loopback only.",
        ),
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Serve CONFIG until stopped (Ctrl-C or SIGTERM answer what is in flight, then
    write the prediction log)."""
    from assay.extras import require

    for module in ("fastapi", "uvicorn", "prometheus_client"):
        require(module, PURPOSE)
    import uvicorn

    from assay.experiments.config import load_config
    from assay.experiments.records import start_experiment
    from assay.models import get_model
    from assay.store import open_store

    path = Path(config)
    if not path.is_file():
        raise UsageError(f"experiment config {config!r} does not exist; give the YAML file's path")
    parsed = load_config(path)
    if parsed.auth is not None and not os.environ.get(parsed.auth.token_env):
        env = parsed.auth.token_env
        raise UsageError(
            f"auth.token_env names {env}, which is not set; export {env}=<a long random "
            "secret> before serving"
        )
    check_exposure(host, auth)
    if auth is not None:
        from assay.server.auth import load_access

        load_access(auth)  # a malformed file or an unset secret stops it here, one line
    with open_store(store) as opened:
        url = opened.url
        models = {r.arm: get_model(r.model, store=opened).ref for r in parsed.routes}
        shadows = {ref: get_model(ref, store=opened).ref for ref in parsed.shadow}
        _check_port(host, port)
        # Recorded here too (the workers find it done), so that a name taken by another
        # endpoint is one line now, not a failed startup in every worker.
        start_experiment(opened, parsed, by="assay serve")
    os.environ["ASSAY_SERVE_CONFIG"] = str(path.resolve())
    os.environ["ASSAY_STORE"] = url
    if auth is not None:
        os.environ["ASSAY_SERVE_AUTH"] = str(Path(auth).resolve())
    else:
        os.environ.pop("ASSAY_SERVE_AUTH", None)
    emit(
        {
            "experiment": parsed.experiment,
            "endpoint": parsed.endpoint,
            "url": f"http://{host}:{port}",
            "workers": workers,
            "models": models,
            "shadow": shadows,
            "auth": auth,
        },
        json,
        lambda: err_console.print(
            f"Serving experiment [bold]{parsed.experiment}[/] ("
            + ", ".join(f"{arm}: {ref}" for arm, ref in models.items())
            + (f"; shadow: {', '.join(shadows.values())}" if shadows else "")
            + f") at http://{host}:{port}"
            + (
                f"; /api needs a token of {auth}"
                if auth
                else "; no --auth: /api is open, so listening on loopback only"
            )
        ),
    )
    if workers == 1:
        uvicorn.run(FACTORY, factory=True, host=host, port=port, log_level="info")
        return 0
    # Several processes: each counts in files here and /metrics adds them all up.
    with tempfile.TemporaryDirectory(prefix="assay-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info")
    return 0


def _check_port(host: str, port: int) -> None:
    """A port already taken is one line, not uvicorn's startup failure."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UsageError(
            f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port or --host"
        ) from None


@app.command("log")
def log(
    experiment: Annotated[str, typer.Argument(help="The experiment's name.", show_default=False)],
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the last N rows.")
    ] = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="Write the rows to this Parquet file.", show_default=False),
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Only 'live' or 'shadow' rows.")
    ] = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """The prediction log of EXPERIMENT, every worker's, by time."""
    import pyarrow.parquet as pq

    from assay.experiments.log import ROLES, read_log
    from assay.experiments.records import get_experiment
    from assay.report import tables
    from assay.store import open_store

    if role is not None and role not in ROLES:
        raise UsageError(f"--role {role!r} is not one of {', '.join(ROLES)}")
    with open_store(store) as opened:
        get_experiment(opened, experiment)  # an unknown name lists the recorded ones
        table = read_log(opened, experiment, role=role)
    total = table.num_rows
    if limit is None and out is None and not json:
        limit = TERMINAL_ROWS  # a terminal gets the newest rows; --limit or --out for more
    if limit is not None:
        table = table.slice(max(0, total - limit))
    if out is not None:
        with atomic_write(Path(out)) as tmp:
            pq.write_table(table, tmp)
        payload: dict[str, object] = {
            "experiment": experiment,
            "rows": total,
            "written": table.num_rows,
            "out": out,
        }
        # With --out the rows are in the file; stdout stays one line.
        emit(
            payload,
            json,
            lambda: console.print(f"Wrote {table.num_rows:,} of {total:,} log rows to {out}"),
        )
        return 0
    rows = table.to_pylist()
    for row in rows:
        row["time"] = row["time"].isoformat()
    payload = {"experiment": experiment, "rows": total, "shown": len(rows), "log": rows}
    emit(payload, json, lambda: tables.prediction_log(rows, total, console))
    return 0
