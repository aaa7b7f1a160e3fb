"""Deltas record their layout: ``canonical`` (rewritten by assay) or ``as-is`` (an
insert's Parquet file stored byte for byte; issue 13). Every earlier delta is canonical.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("deltas")}
    if "layout" not in columns:
        op.add_column(
            "deltas",
            sa.Column("layout", sa.String(16), nullable=False, server_default="canonical"),
        )


def downgrade() -> None:
    raise NotImplementedError("a catalog is never downgraded; restore a copy made before")
