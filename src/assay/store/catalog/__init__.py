"""The catalog: what the store holds (datasets, runs, models, checks, evaluations), in SQL.

SQLite in the store folder by default, any SQLAlchemy URL (PostgreSQL for teams)
otherwise. Objects are written before the catalog rows that name them, and every
change is one transaction, so a reader never sees a half-committed delta.

One module per area owns its tables and methods (``datasets``, ``runs``, ``checks``,
``evaluations``, ``models``, ``experiments``); ``Catalog`` is their sum. A new area is
one new module (its tables, a mixin and a migration that creates them) and one line
below. The schema is brought to the newest revision on open by Alembic migrations
(``migrations/``); a catalog made by assay 0.1.0, before migrations, is adopted.
"""

from __future__ import annotations

from assay.store.catalog._base import CATALOG_FORMAT, catalog_engine, now
from assay.store.catalog.checks import ChecksArea
from assay.store.catalog.datasets import DatasetsArea
from assay.store.catalog.evaluations import EvaluationsArea
from assay.store.catalog.experiments import ExperimentsArea
from assay.store.catalog.models import ModelsArea
from assay.store.catalog.records import (
    DEFAULT_DOMAIN,
    EXPERIMENT_CHANGES,
    RUN_STATUSES,
    DatasetInfo,
    DeltaInfo,
    ExperimentChange,
    ExperimentInfo,
    GoldenRef,
    ModelVersion,
    OutcomesInfo,
    PredictionsInfo,
    RunArtifact,
    RunInfo,
    RunInput,
    VersionInfo,
)
from assay.store.catalog.runs import RunsArea

__all__ = [
    "CATALOG_FORMAT",
    "DEFAULT_DOMAIN",
    "EXPERIMENT_CHANGES",
    "RUN_STATUSES",
    "Catalog",
    "DatasetInfo",
    "DeltaInfo",
    "ExperimentChange",
    "ExperimentInfo",
    "GoldenRef",
    "ModelVersion",
    "OutcomesInfo",
    "PredictionsInfo",
    "RunArtifact",
    "RunInfo",
    "RunInput",
    "SqlCatalog",
    "VersionInfo",
    "catalog_engine",
    "now",
    "open_catalog",
]


class Catalog(
    DatasetsArea,
    RunsArea,
    ChecksArea,
    EvaluationsArea,
    ModelsArea,
    ExperimentsArea,
):
    """The catalog at a SQLAlchemy URL: every area's methods over one engine.

    Its contract is tests/store/test_catalog_contract.py, run on SQLite and PostgreSQL.
    """


SqlCatalog = Catalog  # the name before the catalog was split by area


def open_catalog(url: str, *, create: bool = False) -> Catalog:
    """The catalog at ``url`` (any SQLAlchemy URL), its schema upgraded to the newest
    revision; ``create`` makes a new one."""
    return Catalog(url, create=create)
