"""Datasets and models have an owner team and a domain; datasets a description (issue 18).

Every earlier dataset and model is in domain ``default`` with no owner.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

_ADDED = {
    "datasets": (
        ("owner", sa.String(200), True, None),
        ("domain", sa.String(200), False, "default"),
        ("description", sa.Text, False, ""),
    ),
    "model_versions": (
        ("owner", sa.String(200), True, None),
        ("domain", sa.String(200), False, "default"),
    ),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, added in _ADDED.items():
        columns = {c["name"] for c in inspector.get_columns(table)}
        for name, kind, nullable, default in added:
            if name not in columns:
                op.add_column(
                    table,
                    sa.Column(name, kind, nullable=nullable, server_default=default),
                )


def downgrade() -> None:
    raise NotImplementedError("a catalog is never downgraded; restore a copy made before")
