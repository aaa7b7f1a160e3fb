"""The pytest front end: the plugin (``assay.testing.pytest_plugin``) that brings
assay's tests into ``pytest``.

The training tests themselves live in ``assay.training``; their names are also
reachable here (``assay.testing.smoke``), as they were before they moved, and are
imported on first use so that loading the plugin costs pytest nothing until a test
asks for assay.
"""

from __future__ import annotations

from typing import Any

from assay.training import __all__  # the names are the training tests'


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'assay.testing' has no attribute {name!r}")
    import assay.training

    return getattr(assay.training, name)
