"""Headless Chromium for the browser tests (the reports, the dashboard).

Playwright drives the machine's own Chromium (``executable_path``): no browser is
downloaded. Without one the tests are skipped, except in CI (``CI=true``), where they
fail (``backends.missing_service``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backends import missing_service

#: Where Chromium may be, after ``ASSAY_CHROMIUM``.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@contextmanager
def launched(purpose: str) -> Iterator[Any]:
    """A headless Chromium (``ASSAY_CHROMIUM``, else the first of ``BROWSERS`` on the
    PATH), closed afterwards; ``purpose`` says what it was for when there is none."""
    executable = os.environ.get("ASSAY_CHROMIUM") or next(
        (found for name in BROWSERS if (found := shutil.which(name))), None
    )
    if executable is None:
        missing_service(f"no Chromium to {purpose} (set ASSAY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright is not installed (it is in the dev extra)")
    # Chromium's sandbox refuses to start as root (containers, some CI machines).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()
