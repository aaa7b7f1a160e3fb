"""Online experiments: the experiments, their history of configs and weights, and the
outcome files recorded for them (issue 14).

The tables are frozen here as this revision creates them; later changes are later
revisions. A catalog that has them already (none should) is left as it is.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

schema = sa.MetaData()

_experiments = sa.Table(
    "experiments",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

_experiment_changes = sa.Table(
    "experiment_changes",
    schema,
    sa.Column("experiment", sa.String(64), sa.ForeignKey("experiments.name"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("config", sa.JSON),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("by", sa.String(200)),
    sa.Column("at", sa.String(40), nullable=False),
)

_experiment_outcomes = sa.Table(
    "experiment_outcomes",
    schema,
    sa.Column("experiment", sa.String(64), sa.ForeignKey("experiments.name"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("by", sa.String(20), nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("experiment", "id", name="uq_outcomes_content"),
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in schema.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)


def downgrade() -> None:
    raise NotImplementedError("a catalog is never downgraded; restore a copy made before")
