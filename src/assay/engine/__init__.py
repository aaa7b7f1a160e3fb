"""Engines: where table work runs, through Ibis — DuckDB embedded (the default) or Spark.

assay expresses filters, projections and aggregates as Ibis expressions so the same
code runs on any engine (``engine.base.Engine`` is the contract); what must agree
across engines (key hashes, splits, op replay) is computed by assay itself.

Which engine a store uses: ``--engine`` (which sets ``ASSAY_ENGINE``), then
``ASSAY_ENGINE``, then the store's ``assay.json`` (``"engine": "spark"``), then DuckDB.
Library code reaches it as ``store.engine``.
"""

from __future__ import annotations

import os

from assay.engine.base import FILE_NUMBER_COLUMN, ROW_NUMBER_COLUMN, Engine
from assay.engine.duckdb import DuckDBEngine, default_engine
from assay.errors import UsageError

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "ENGINE_ENV",
    "FILE_NUMBER_COLUMN",
    "ROW_NUMBER_COLUMN",
    "DuckDBEngine",
    "Engine",
    "check_engine_name",
    "default_engine",
    "engine_name",
    "get_engine",
]

ENGINE_ENV = "ASSAY_ENGINE"
DEFAULT_ENGINE = "duckdb"
ENGINES = ("duckdb", "spark")


def check_engine_name(name: str, *, source: str = "--engine") -> str:
    """``name`` normalised, or a one-line error naming the engines there are."""
    normal = name.strip().lower()
    if normal not in ENGINES:
        raise UsageError(f"{source}: {name!r} is not an engine; use one of: {', '.join(ENGINES)}")
    return normal


def engine_name(configured: str | None = None) -> str:
    """The engine to use: ``ASSAY_ENGINE`` first, then ``configured`` (a store's
    ``assay.json``), then DuckDB."""
    env = os.environ.get(ENGINE_ENV)
    if env:
        return check_engine_name(env, source=ENGINE_ENV)
    if configured:
        return check_engine_name(configured, source='assay.json "engine"')
    return DEFAULT_ENGINE


def get_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` (default: ``engine_name()``), started on first use.

    DuckDB: this thread's embedded database. Spark: the process's session.
    """
    chosen = check_engine_name(name) if name else engine_name()
    if chosen == "spark":
        from assay.engine.spark import spark_engine

        return spark_engine()
    return default_engine()
