"""The engines the contract suite runs against, one instance each per test module.

* ``duckdb``: the default engine;
* ``unordered``: DuckDB claiming, truthfully, not to keep scan order: it returns every
  result that has no explicit ``order_by`` in reverse. Whatever assay builds on it must
  still agree with ``duckdb`` row for row, which proves the flag is read;
* ``spark``: a ``local[2]`` Spark session (skipped only when Java or pyspark is
  absent, and never in CI: see ``backends.missing_service``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import ClassVar

import ibis
import ibis.expr.operations as ops
import pyarrow as pa
import pytest
from backends import missing_service

from assay.engine import DuckDBEngine, Engine

ENGINE_NAMES = ("duckdb", "unordered", "spark")


class UnorderedEngine(DuckDBEngine):
    """DuckDB, but any result without an explicit order comes back reversed."""

    name: ClassVar[str] = "unordered"
    preserves_scan_order: ClassVar[bool] = False

    def _run(self, table: ibis.Table, chunk_size: int) -> pa.RecordBatchReader:
        reader = super()._run(table, chunk_size)
        if table.op().find(ops.Sort):  # ordered explicitly: order is the query's
            return reader
        rows = reader.read_all()
        reversed_rows = rows.take(pa.array(range(rows.num_rows - 1, -1, -1), pa.int64()))
        return pa.RecordBatchReader.from_batches(
            rows.schema, reversed_rows.to_batches(max_chunksize=chunk_size)
        )


def java_missing() -> str | None:
    """Why Spark cannot start here, or None."""
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return None
    return "Spark needs Java 17: no `java` on PATH and JAVA_HOME is unset"


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[Engine]:
    """One Spark session for the module, stopped after it."""
    reason = java_missing()
    if reason:
        missing_service(reason)
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing_service("the spark engine needs pyspark: pip install 'assay[spark]'")
    from assay.engine import spark

    engine = spark.spark_engine()
    yield engine
    engine.close()
    spark._engine.clear()
    engine.session.stop()


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn."""
    if request.param == "spark":
        spark: Engine = request.getfixturevalue("spark_engine")
        return spark
    if request.param == "unordered":
        return UnorderedEngine()
    return DuckDBEngine()
