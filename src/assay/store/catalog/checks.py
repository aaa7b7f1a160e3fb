"""The checks area: one recorded report per suite run, against a dataset version or file."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from assay.store.catalog._base import CatalogBase, metadata, now

# checks: one row per suite run, against a version fingerprint (or another target)
check_results = sa.Table(
    "check_results",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("stage", sa.String(200)),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), index=True),
    sa.Column("dataset", sa.String(200)),
    sa.Column("split", sa.String(200)),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("checked_at", sa.String(40), nullable=False),
)


class ChecksArea(CatalogBase):
    """Recorded check reports."""

    def record_check(self, report: Mapping[str, Any]) -> str:
        check_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(
                check_results.insert().values(
                    id=check_id,
                    suite=report["suite"],
                    stage=report.get("stage"),
                    target=report.get("target", ""),
                    fingerprint=report.get("fingerprint"),
                    dataset=report.get("dataset"),
                    split=report.get("split"),
                    passed=bool(report["passed"]),
                    summary=report.get("summary", ""),
                    report={**report, "id": check_id},
                    checked_at=report.get("checked_at") or now(),
                )
            )
        return check_id

    def list_checks(
        self, *, fingerprint: str | None = None, suite: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = (
            sa.select(check_results.c.report)
            .order_by(check_results.c.checked_at.desc())
            .limit(limit)
        )
        if fingerprint is not None:
            query = query.where(
                check_results.c.fingerprint.startswith(fingerprint, autoescape=True)
            )
        if suite is not None:
            query = query.where(check_results.c.suite == suite)
        with self.engine.connect() as conn:
            return [dict(r.report) for r in conn.execute(query)]

    def get_check(self, check_id: str) -> dict[str, Any]:
        return self._report(check_results, check_id, "check result", "assay check history")
