"""Optional dependencies: which extra brings each, and the import that says so.

The core (versioning, composing and checking data) installs with ``pip install assay``.
Models, ONNX, reports, torch, S3, PostgreSQL and Spark each come with an extra; a
feature whose package is missing stops with one line naming the exact pip command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import MissingDependency

__all__ = ["EXTRAS", "install_line", "require"]

#: Top-level module → (the distribution pip installs, the assay extra that brings it).
EXTRAS: dict[str, tuple[str, str]] = {
    "sklearn": ("scikit-learn", "models"),
    "skops": ("skops", "models"),
    "scipy": ("scipy", "models"),
    "pandas": ("pandas", "models"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "skl2onnx": ("skl2onnx", "onnx"),
    "jinja2": ("jinja2", "report"),
    "plotly": ("plotly", "report"),
    "torch": ("torch", "torch"),
    "s3fs": ("s3fs", "s3"),
    "psycopg": ("psycopg", "postgres"),
    "pyspark": ("pyspark", "spark"),
    "polars": ("polars", "polars"),
}


def install_line(module: str) -> str:
    """``pip install 'assay[extra]'`` for the extra that brings ``module``."""
    _, extra = EXTRAS[module.split(".")[0]]
    return f"pip install 'assay[{extra}]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ``MissingDependency`` in one line: what is missing,
    what needs it (``purpose``, e.g. "scikit-learn models") and the pip line."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        # The missing module may be one the package itself needs (scikit-learn without
        # scipy): name that one. A missing module no extra brings is a broken install.
        missing = (e.name or module).split(".")[0]
        if missing not in EXTRAS:
            raise
        distribution, _ = EXTRAS[missing]
        raise MissingDependency(
            f"{purpose} need {distribution}, which is not installed; {install_line(missing)}"
        ) from None
