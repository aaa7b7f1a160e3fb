"""The engine fixtures (``engines.py``) for every test of this folder."""

from engines import engine, spark_engine

__all__ = ["engine", "spark_engine"]
