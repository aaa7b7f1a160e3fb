"""Alembic's entry point: run the migrations on the connection the catalog hands over.

assay never runs Alembic from a command line; ``assay.store.catalog._schema.upgrade``
opens the transaction and passes its connection in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
