"""The schema of assay 0.1.0, the last release before migrations.

A new catalog gets every table. A catalog made by 0.1.0 (no ``alembic_version`` table)
is adopted: the tables it has are checked against these, and the ones 0.1.0 would have
added on first use (runs, models, checks, evaluations) are created. The tables are
frozen here, apart from the areas' current ones: later changes are later revisions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from assay.errors import CatalogDamaged

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

release = sa.MetaData()

_meta = sa.Table(
    "assay_meta",
    release,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_datasets = sa.Table(
    "datasets",
    release,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_columns", sa.JSON, nullable=False),
    sa.Column("label_column", sa.String(200)),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_deltas = sa.Table(
    "deltas",
    release,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("delta_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("op", sa.String(10), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("object_sha256", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("added_columns", sa.JSON, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("label_counts", sa.JSON),
    sa.UniqueConstraint("dataset_id", "number", name="uq_delta_number"),
    sa.UniqueConstraint("dataset_id", "delta_id", name="uq_delta_content"),
    sa.UniqueConstraint("dataset_id", "name", name="uq_delta_name"),
)

_versions = sa.Table(
    "versions",
    release,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("recipe", sa.JSON, nullable=False),
    sa.Column("delta_ids", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_runs = sa.Table(
    "runs",
    release,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40)),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_dirty", sa.Boolean),
    sa.Column("git_diff_sha256", sa.String(64)),
    sa.Column("git_root", sa.Text),
    sa.Column("git_note", sa.Text),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    # {"latest": {key: value}, "history": {key: [{"step", "value", "at"}, …]}}
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

_run_inputs = sa.Table(
    "run_inputs",
    release,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("fingerprint", sa.String(64), sa.ForeignKey("versions.fingerprint"), nullable=False),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("recipe_source", sa.Text),
    sa.Column("read_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "fingerprint", name="uq_run_input"),
)

_run_artifacts = sa.Table(
    "run_artifacts",
    release,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "name", name="uq_run_artifact"),
)


# checks: one row per suite run, against a version fingerprint (or another target)
_checks = sa.Table(
    "check_results",
    release,
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


# evaluations: predictions cached per (model version, dataset version), and verdicts
_predictions = sa.Table(
    "predictions",
    release,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("object_key", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("classes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

_evaluations = sa.Table(
    "evaluations",
    release,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


# models: one row per registered version, aliases unique per (name, alias)
_model_versions = sa.Table(
    "model_versions",
    release,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(40), nullable=False),
    sa.Column("object_key", sa.String(300)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("signature", sa.JSON),
    sa.Column("run_id", sa.String(32)),
    sa.Column("source", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("golden_key", sa.String(300)),
    sa.Column("golden_sha256", sa.String(64)),
    sa.Column("golden_count", sa.Integer),
    sa.Column("golden_at", sa.String(40)),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_model_version"),
)

_model_aliases = sa.Table(
    "model_aliases",
    release,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in release.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)
            continue
        found = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in found]
        if missing:
            raise CatalogDamaged(
                f"catalog table {table.name!r} lacks column(s) {', '.join(missing)}, so it "
                "was not made by assay; rebuild the catalog from the store's objects with "
                "`assay recover --force`"
            )


def downgrade() -> None:
    raise NotImplementedError("a catalog is never downgraded; restore a copy made before")
