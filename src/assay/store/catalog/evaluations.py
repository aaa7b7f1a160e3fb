"""The evaluations area: predictions cached per (model version, dataset version), and
the recorded evaluations (verdicts of the release gate)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from assay.store.catalog._base import CatalogBase, insert_once, metadata, now
from assay.store.catalog.records import PredictionsInfo

# evaluations: predictions cached per (model version, dataset version), and verdicts
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("classes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


class EvaluationsArea(CatalogBase):
    """Cached predictions and recorded evaluations."""

    def referenced_objects(self) -> dict[str, str]:
        found = super().referenced_objects()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(predictions.c.object_key, predictions.c.sha256))
            found.update({r.object_key: r.sha256 for r in rows})
        return found

    def _predictions_info(self, row: Any) -> PredictionsInfo:
        return PredictionsInfo(
            model=row.model,
            model_version=row.model_version,
            fingerprint=row.fingerprint,
            object_key=row.object_key,
            sha256=row.sha256,
            rows=row.rows,
            classes=tuple(row.classes),
            created_at=row.created_at,
        )

    def record_predictions(self, info: PredictionsInfo) -> PredictionsInfo:
        with self.engine.begin() as conn:
            insert_once(
                conn,
                predictions,
                model=info.model,
                model_version=info.model_version,
                fingerprint=info.fingerprint,
                object_key=info.object_key,
                sha256=info.sha256,
                rows=info.rows,
                classes=list(info.classes),
                created_at=info.created_at or now(),
            )
        found = self.find_predictions(info.model, info.model_version, info.fingerprint)
        assert found is not None
        return found

    def find_predictions(
        self, model: str, version: int, fingerprint: str
    ) -> PredictionsInfo | None:
        p = predictions.c
        query = sa.select(predictions).where(
            p.model == model, p.model_version == version, p.fingerprint == fingerprint
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._predictions_info(row)

    def record_evaluation(self, report: Mapping[str, Any]) -> str:
        evaluation_id = uuid.uuid4().hex
        candidate = report["models"]["candidate"]
        with self.engine.begin() as conn:
            conn.execute(
                evaluations.insert().values(
                    id=evaluation_id,
                    name=report.get("name"),
                    model=candidate["name"],
                    model_version=candidate["version"],
                    passed=bool(report["passed"]),
                    report={**report, "id": evaluation_id},
                    created_at=report.get("created_at") or now(),
                )
            )
        return evaluation_id

    def list_evaluations(
        self, *, model: str | None = None, version: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        e = evaluations.c
        query = sa.select(e.report).order_by(e.created_at.desc()).limit(limit)
        if model is not None:
            query = query.where(e.model == model)
        if version is not None:
            query = query.where(e.model_version == version)
        with self.engine.connect() as conn:
            return [dict(r.report) for r in conn.execute(query)]

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        return self._report(evaluations, evaluation_id, "evaluation", "assay eval history")
