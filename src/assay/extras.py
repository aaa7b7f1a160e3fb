"""Optional dependencies: which extra brings each, and the import that says so.

The core (versioning, composing and checking data) installs with ``pip install assay``.
Models, ONNX, reports, torch, S3, PostgreSQL and Spark each come with an extra; a
feature whose package is missing stops with one line naming the exact pip command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import MissingDependency

__all__ = ["EXTRAS", "install_line", "missing", "require"]

#: Top-level module → (the distribution pip installs, the assay extra that brings it).
EXTRAS: dict[str, tuple[str, str]] = {
    "sklearn": ("scikit-learn", "models"),
    "skops": ("skops", "models"),
    "scipy": ("scipy", "models"),
    "pandas": ("pandas", "models"),
    "joblib": ("joblib", "models"),
    # scikit-learn's own dependency; assay holds its BLAS/OpenMP pools to a thread count.
    "threadpoolctl": ("threadpoolctl", "models"),
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
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "prometheus_client": ("prometheus-client", "serve"),
}


def install_line(module: str, extra: str | None = None) -> str:
    """``pip install 'assay[extra]'`` for the extra that brings ``module`` (or ``extra``)."""
    return f"pip install 'assay[{extra or EXTRAS[module.split('.')[0]][1]}]'"


def missing(module: str, purpose: str, *, extra: str | None = None) -> MissingDependency:
    """The one-line error for an optional ``module`` that is not installed: what is
    missing, what needs it (``purpose``, e.g. "scikit-learn models") and the pip line."""
    distribution, _ = EXTRAS[module.split(".")[0]]
    return MissingDependency(
        f"{purpose} need {distribution}, which is not installed; {install_line(module, extra)}"
    )


def require(module: str, purpose: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise ``missing(…)`` naming the package that is absent.

    ``extra`` names the extra to install when it is not the one EXTRAS lists for the
    missing package (pandas, for the Spark engine, comes with ``[spark]``), or several
    at once (``"models,report"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        # The missing module may be one the package itself needs (scikit-learn without
        # scipy): name that one. A missing module no extra brings is a broken install.
        absent = (e.name or module).split(".")[0]
        if absent not in EXTRAS:
            raise
        raise missing(absent, purpose, extra=extra) from None
