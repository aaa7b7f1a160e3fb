"""The Spark engine: Apache Spark through Ibis's PySpark backend (``assay[spark]``).

One ``SparkSession`` per process: the active one if a caller made it, otherwise a
local one (``local[2]``, small shuffles, no UI, quiet logs), or the master that
``ASSAY_SPARK_MASTER`` names. Stored objects are read by Spark's own Parquet reader:
in place when the store is a folder, from a local copy when it is remote (Spark has
no S3 connector jars here; assay's fsspec object store downloads each object once).
Spark does not keep scan order, so compose orders explicitly (``preserves_scan_order``
is False).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import pyarrow as pa

from assay.engine.base import ROW_NUMBER_COLUMN, Engine
from assay.errors import MissingDependency
from assay.extras import require

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["MASTER_ENV", "SparkEngine", "spark_engine"]

MASTER_ENV = "ASSAY_SPARK_MASTER"
PURPOSE = "Spark queries"


class SparkEngine(Engine):
    """A Spark session, queried through Ibis; results come back as Arrow."""

    name: ClassVar[str] = "spark"
    preserves_scan_order: ClassVar[bool] = False

    def __init__(self, session: SparkSession | None = None):
        super().__init__()
        # Ibis's PySpark backend imports pandas: say so before a JVM starts for nothing.
        require("pandas", PURPOSE, extra="spark")
        self.session = session or local_session()
        self.con = ibis.pyspark.connect(self.session)

    def _run(self, table: ibis.Table, chunk_size: int) -> pa.RecordBatchReader:
        # Spark 4 hands results over as Arrow (Ibis's own path goes through pandas,
        # which turns integer columns with nulls into floats).
        result = self.session.sql(self.con.compile(table)).toArrow()
        return pa.RecordBatchReader.from_batches(
            result.schema, result.to_batches(max_chunksize=chunk_size)
        )

    def read_parquet_files(self, paths: Sequence[str], *, row_numbers: bool = False) -> ibis.Table:
        frame = self.session.read.parquet(*paths)
        if row_numbers:
            frame = frame.select("*", frame["_metadata.row_index"].alias(ROW_NUMBER_COLUMN))
        name = _name("read_parquet")
        frame.createOrReplaceTempView(name)
        return self.con.table(name)

    def create_view(self, expr: ibis.Table, name: str) -> ibis.Table:
        # Spark's own view over the compiled query: Ibis's create_view registers
        # in-memory inputs anew through pandas, which loses their rows under pandas 3.
        self._register_memtables(expr)
        self.session.sql(self.con.compile(expr)).createOrReplaceTempView(name)
        return self.con.table(name)

    def drop_view(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def _register(self, name: str, data: pa.Table) -> None:
        self.session.createDataFrame(data).createOrReplaceTempView(name)

    def _unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)


def _name(prefix: str) -> str:
    return f"assay_{prefix}_{uuid.uuid4().hex}"


def local_session() -> SparkSession:
    """The active Spark session, or a new quiet local one."""
    SparkSession = require("pyspark.sql", PURPOSE).SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise MissingDependency(
            "the spark engine needs Java 17 (no `java` on PATH and JAVA_HOME is unset); "
            "install a JDK, or use --engine duckdb"
        )
    # Quiet and local: no warning about the host's loopback name, no progress bars.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(os.environ.get(MASTER_ENV, "local[2]"))
        .appName("assay")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


_lock = threading.Lock()
_engine: dict[str, Any] = {}


def spark_engine() -> SparkEngine:
    """The process's Spark engine, started on first use (a Spark session is shared)."""
    with _lock:
        if "spark" not in _engine:
            _engine["spark"] = SparkEngine()
        engine: SparkEngine = _engine["spark"]
        return engine
