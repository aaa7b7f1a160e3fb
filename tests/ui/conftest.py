"""The dashboard tests share one small store and one server (built once: ~10 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from ui_project import Project, build_project, live_dashboard


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("ui")
    with build_project(root, acs) as built:
        yield built


@pytest.fixture(scope="session")
def base_url(project: Project) -> Iterator[str]:
    """The dashboard over the project's store, served by uvicorn in a thread."""
    with live_dashboard(project) as url:
        yield url
