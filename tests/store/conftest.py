"""Backend fixtures for the contract suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backends import new_bucket, new_database, postgres_server, s3_server


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
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    return new_database(postgres_url)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    return new_bucket()
