"""Each dashboard test module shares one small store and one server (built in ~10 s).

Module-scoped, not session-scoped: a server thread left running for the rest of a
worker's session would be running when a later test forks (a DataLoader's workers, a
multiprocessing pool), and a child forked beside a busy thread can crash."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from backends import missing_service
from ui_project import Project, build_project, live_dashboard


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


#: Where Chromium may be: the machine's own, driven by Playwright (nothing downloaded).
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (``ASSAY_CHROMIUM``, else the first of ``BROWSERS`` found)."""
    executable = os.environ.get("ASSAY_CHROMIUM") or next(
        (found for name in BROWSERS if (found := shutil.which(name))), None
    )
    if executable is None:
        missing_service("no Chromium to open the dashboard in (set ASSAY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright is not installed (it is in the dev extra)")
    # Chromium's sandbox refuses to start as root (containers, some CI machines).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        yield launched
        launched.close()
