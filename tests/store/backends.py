"""Real backends for the contract suites: PostgreSQL and an S3 (moto) server on loopback.

Each is started by the tests themselves, once per session (the fixtures at the end,
shared by every test folder through ``tests/conftest.py``). Where the machine lacks
one (no PostgreSQL binaries), its cases are skipped with the reason, except in CI
(``CI=true``), where a backend that cannot run fails the run: CI's machine has both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def missing_service(reason: str) -> NoReturn:
    """Skip a test whose backend cannot run here; in CI (``CI=true``), fail it instead,
    so a backend never drops out of CI silently."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{reason}; CI runs every backend", pytrace=False)
    pytest.skip(reason)


@contextmanager
def postgres_server(password: str | None = None) -> Iterator[str | None]:
    """A throwaway PostgreSQL cluster on 127.0.0.1; yields its base URL (or None).

    With ``password``, the user ``assay`` must give it over TCP (the URL holds none).
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="assay-pg-"))
    data = root / "data"
    port = free_port()
    # PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    run = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    auth = ["-A", "trust"]
    if password is not None:
        (root / "pw").write_text(password)
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={root / 'pw'}"]
    subprocess.run([*prefix, initdb, "-D", str(data), *auth, "-U", "assay"], **run)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-w", "start", "-l", str(root / "log")],
        **run,
    )
    try:
        yield f"postgresql+psycopg://assay@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


def new_database(base_url: str) -> str:
    """A fresh, empty database on the server at ``base_url``; returns its URL."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{base_url}/{name}"


@contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, with fsspec's s3 settings pointed at it."""
    import fsspec.config
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
    }
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield endpoint
    finally:
        if saved is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved
        server.stop()


def new_bucket(prefix: str = "assay") -> str:
    """A fresh bucket on the configured S3 endpoint; returns an s3:// URL inside it."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    return f"s3://{name}/store"


# -- fixtures: one server of each per session -----------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def pg_database(postgres_url: str | None) -> str:
    if postgres_url is None:
        missing_service("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    return new_database(postgres_url)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    return new_bucket()


def s3_env(endpoint: str) -> dict[str, str]:
    """What an ``assay`` subprocess needs to reach the moto server (fsspec's S3
    settings, read from the environment)."""
    return {
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_KEY": "testing",
        "FSSPEC_S3_SECRET": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def no_credentials(endpoint: str, home: Path) -> dict[str, str]:
    """The environment of a user with no AWS credentials anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(home),
        AWS_EC2_METADATA_DISABLED="true",  # no 1 s wait on the instance metadata endpoint
        AWS_DEFAULT_REGION="us-east-1",
        FSSPEC_S3_ENDPOINT_URL=endpoint,
    )
    return env
