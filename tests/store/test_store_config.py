"""A store is easy to point at, and its catalog's credentials stay out of its files:
``assay init`` says how to use a store, ``assay.json`` never holds a password, the
password comes from the environment, and an old store with one in it still opens."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from backends import free_port, missing_service, new_database, postgres_server, s3_env

import assay
from assay.errors import CatalogPasswordWarning, StoreAccessError, UsageError
from assay.store import without_password
from tests_helpers import run_assay

PASSWORD = "s3cret-Pw"


@pytest.fixture(scope="module")
def secured_postgres() -> Iterator[str]:
    """A PostgreSQL server whose user ``assay`` must give ``PASSWORD``; its base URL
    (without the password)."""
    with postgres_server(password=PASSWORD) as url:
        if url is None:
            missing_service("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        yield url


@pytest.fixture
def catalog_url(secured_postgres: str) -> str:
    """A fresh database on the secured server, its URL with the password in it."""
    with_password = secured_postgres.replace("assay@", f"assay:{PASSWORD}@", 1)
    return new_database(with_password)


@pytest.fixture
def no_pg_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No catalog credentials anywhere in this process's environment (nor a ~/.pgpass)."""
    for name in ("PGPASSWORD", "ASSAY_CATALOG", "ASSAY_CATALOG_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    return {"PGPASSFILE": str(tmp_path / "no-pgpass")}


def read_config(store_url: str) -> tuple[bytes, dict[str, object]]:
    raw = fsspec.open(f"{store_url}/assay.json", "rb").open().read()
    return raw, json.loads(raw)


def test_without_password_keeps_everything_else() -> None:
    assert (
        without_password("postgresql+psycopg://u:p%40ss@db.example:6432/x?sslmode=require")
        == "postgresql+psycopg://u@db.example:6432/x?sslmode=require"
    )
    assert without_password("postgresql://u@h/x") == "postgresql://u@h/x"
    assert without_password("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_init_of_a_remote_store_says_how_to_use_it_and_stores_no_password(
    s3_endpoint: str, s3_bucket: str, catalog_url: str, no_pg_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**s3_env(s3_endpoint), **no_pg_env}
    done = run_assay("init", s3_bucket, "--catalog", catalog_url, cwd=tmp_path, env=env)
    assert done.rc == 0, done.err
    assert f"export ASSAY_STORE={s3_bucket}" in done.out
    assert "PGPASSWORD" in done.out and "ASSAY_CATALOG " in done.out
    assert PASSWORD not in done.out + done.err  # not even echoed back
    raw, config = read_config(s3_bucket)
    assert PASSWORD.encode() not in raw
    assert config["catalog"] == catalog_url.replace(f":{PASSWORD}@", "@")


def test_the_catalog_password_comes_from_the_environment(
    s3_endpoint: str,
    s3_bucket: str,
    catalog_url: str,
    no_pg_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assay.init_store(s3_bucket, catalog=catalog_url).close()
    # Nothing supplies the password: one line that names where it goes; exit 2.
    with pytest.raises(StoreAccessError) as refused:
        assay.open_store(s3_bucket)
    plain = catalog_url.replace(f":{PASSWORD}@", "@")
    assert str(refused.value) == (
        f"the catalog {plain} needs a password: set PGPASSWORD (or a ~/.pgpass entry, "
        "or ASSAY_CATALOG to the URL with its password)"
    )
    cli = run_assay(
        "verify", "--store", s3_bucket, cwd=tmp_path, env={**s3_env(s3_endpoint), **no_pg_env}
    )
    assert cli.rc == 2
    assert cli.error_line() == f"error: {refused.value}"
    # A wrong one is named as such.
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(StoreAccessError, match=r"refused the password given: set PGPASSWORD"):
        assay.open_store(s3_bucket)
    # libpq's PGPASSWORD, or ASSAY_CATALOG_URL (which wins over assay.json).
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with assay.open_store(s3_bucket) as store:
        assert store.catalog.list_datasets() == []
    monkeypatch.setenv("PGPASSWORD", "wrong")
    monkeypatch.setenv("ASSAY_CATALOG_URL", catalog_url)
    with assay.open_store(s3_bucket) as store:
        assert store.catalog.list_datasets() == []


def test_the_catalog_url_variable_never_points_a_store_at_another_catalog(
    secured_postgres: str,
    catalog_url: str,
    no_pg_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assay.init_store(tmp_path / "team", catalog=catalog_url).close()
    assay.init_store(tmp_path / "scratch").close()
    other = new_database(secured_postgres.replace("assay@", f"assay:{PASSWORD}@", 1))
    monkeypatch.setenv("ASSAY_CATALOG_URL", other)
    plain = catalog_url.replace(f":{PASSWORD}@", "@")
    with pytest.raises(UsageError) as refused:
        assay.open_store(tmp_path / "team")
    assert str(refused.value) == (
        f"ASSAY_CATALOG_URL names the catalog {other.replace(f':{PASSWORD}@', '@')}, but the "
        f"store at {tmp_path / 'team'} uses {plain}; unset ASSAY_CATALOG_URL or set it to "
        "that catalog's URL"
    )
    with assay.open_store(tmp_path / "scratch") as scratch:  # its own SQLite file
        assert scratch.catalog.url == f"sqlite:///{tmp_path / 'scratch'}/catalog.db"


def test_an_old_store_with_a_password_in_its_config_opens_with_one_warning(
    catalog_url: str, no_pg_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "old"
    assay.init_store(root, catalog=catalog_url).close()
    config = root / "assay.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "catalog": catalog_url}))
    with pytest.warns(CatalogPasswordWarning, match=r"assay.json holds the catalog's password"):
        assay.open_store(root).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assay.open_store(root).close()  # once per store and process
    cli = run_assay("verify", "--store", root, cwd=tmp_path, env=no_pg_env)
    assert cli.rc == 0, cli.err
    assert cli.err.splitlines() == [
        f"warning: {root}/assay.json holds the catalog's password; remove it from "
        '"catalog" and set PGPASSWORD (or ASSAY_CATALOG) instead'
    ]


def test_init_records_the_engine_and_a_local_stores_use(tmp_path: Path) -> None:
    done = run_assay("init", "--engine", "Spark", "s", "--json", cwd=tmp_path)
    assert done.rc == 0, done.err
    store = str(tmp_path / "s")
    assert done.json()["use"] == [f"use it from anywhere: export ASSAY_STORE={store}"]
    assert json.loads((tmp_path / "s" / "assay.json").read_text())["engine"] == "spark"
    with assay.open_store(store) as s:
        assert s.engine_name == "spark"  # read back, without starting Spark

    bad = run_assay("init", "--engine", "sparky", "t", cwd=tmp_path)
    assert bad.rc == 2
    assert bad.error_line() == (
        "error: Invalid value for '--engine': 'sparky' is not one of 'duckdb', 'spark'; "
        "see `assay init --help`"
    )
    assert not (tmp_path / "t").exists()  # nothing half-made


def test_assay_catalog_supplies_the_catalog_and_the_old_name_still_works(
    catalog_url: str, no_pg_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "team"
    assay.init_store(root, catalog=catalog_url).close()
    for variable in ("ASSAY_CATALOG", "ASSAY_CATALOG_URL"):
        done = run_assay(
            "data", "list", "--store", root, "--json", cwd=tmp_path,
            env={**no_pg_env, variable: catalog_url},
        )  # fmt: skip
        assert done.rc == 0, (variable, done.err)
        assert done.json() == {"datasets": []}
    # ASSAY_CATALOG, the documented name, wins over the old one.
    wrong = catalog_url.replace(PASSWORD, "Wrong-pw")
    done = run_assay(
        "verify", "--store", root, cwd=tmp_path,
        env={**no_pg_env, "ASSAY_CATALOG": wrong, "ASSAY_CATALOG_URL": catalog_url},
    )  # fmt: skip
    assert done.rc == 2
    assert "refused the password given" in done.error_line()
    assert "Wrong-pw" not in done.err and PASSWORD not in done.err
    assert PASSWORD.encode() not in (root / "assay.json").read_bytes()


def test_a_catalog_password_is_never_printed(
    catalog_url: str, no_pg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "team"
    assay.init_store(root, catalog=catalog_url).close()
    monkeypatch.setenv("ASSAY_CATALOG", catalog_url)
    with assay.open_store(root) as store:
        assert PASSWORD not in repr(store)
    recovered = run_assay(
        "recover", "--store", root, "--json", cwd=tmp_path, env={"ASSAY_CATALOG": catalog_url}
    )
    assert recovered.rc == 0, recovered.err
    assert recovered.json()["catalog"] == catalog_url.replace(f":{PASSWORD}@", "@")
    # A URL SQLAlchemy cannot use is named without its password.
    with pytest.raises(UsageError) as refused:
        assay.init_store(tmp_path / "x", catalog=f"postgresql+nodriver://assay:{PASSWORD}@h/db")
    assert str(refused.value).startswith("catalog URL 'postgresql+nodriver://assay:***@h/db'")
    assert PASSWORD not in str(refused.value)


def test_init_against_an_unreachable_catalog_server_is_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there
    r = run_assay(
        "init",
        "st",
        "--catalog",
        f"postgresql+psycopg://u:secret@127.0.0.1:{port}/db",
        cwd=tmp_path,
    )
    assert r.rc == 2, r.err
    assert r.error_line() == (
        f"error: the catalog postgresql+psycopg://u@127.0.0.1:{port}/db cannot be reached "
        f'(connection failed: connection to server at "127.0.0.1", port {port} failed: '
        "Connection refused); check that its server is running and the URL is right"
    )
    assert "secret" not in r.err + r.out
    assert not (tmp_path / "st").exists()
