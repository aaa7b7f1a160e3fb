"""Each dashboard test module shares one small store and one server (built in ~10 s).

Module-scoped, not session-scoped: a server thread left running for the rest of a
worker's session would be running when a later test forks (a DataLoader's workers, a
multiprocessing pool), and a child forked beside a busy thread can crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from ui_project import Project, build_project, live_dashboard

from chromium import launched


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("ui")
    with build_project(root, acs) as built:
        yield built


@pytest.fixture(scope="module")
def base_url(project: Project) -> Iterator[str]:
    """The dashboard over the project's store, served by uvicorn in a thread."""
    with live_dashboard(project) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (``chromium.launched``)."""
    with launched("open the dashboard in") as opened:
        yield opened
