"""Bring a catalog's schema to the newest revision, through the Alembic migrations.

Revision ``0001`` is the schema of assay 0.1.0; each later schema change is one more
file in ``migrations/versions/`` named ``NNNN_what.py`` with revision id ``NNNN``.
Opening a catalog at the newest revision costs one query (Alembic is imported only
when there is something to do).
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import UsageError
from assay.retry import retry

MIGRATIONS = Path(__file__).with_name("migrations")
# Alembic keeps the running migration's context in module globals (alembic.context,
# alembic.op): one migration at a time per process. Processes race in the database.
_ONE_AT_A_TIME = threading.Lock()
# A race settles within a round or two; an error that persists is real and should
# surface soon (with its first line), not after the writers' two minutes.
_UPGRADE_SECONDS = 5.0
# The advisory lock PostgreSQL upgraders take ("assay" in ASCII): any constant works,
# as long as every assay uses the same one.
_PG_LOCK = 0x6173736179


@cache
def head() -> str:
    """The newest revision this assay knows (file names carry the revision ids)."""
    return max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def current_revision(conn: sa.Connection) -> str | None:
    """The catalog's revision; None for a new database or one made by assay 0.1.0."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine, url: str) -> None:
    """Create the catalog's tables, or upgrade them in place to ``head()``.

    ``UsageError`` if a newer assay made the catalog (its revision is unknown here).
    """
    with engine.connect() as conn:  # a refused connection surfaces here, as it is
        if current_revision(conn) == head():
            return

    def attempt() -> None:
        with _ONE_AT_A_TIME:
            _migrate(engine, url)

    # Upgraders take turns under the database's lock (``_migrate``); a DatabaseError
    # that still gets through (a lock wait that timed out) is retried for a moment.
    retry(
        attempt,
        on=(sa_exc.DatabaseError,),
        what=f"catalog {url} is being upgraded by another process",
        budget=_UPGRADE_SECONDS,
    )


def _migrate(engine: sa.Engine, url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        # One upgrader at a time, holding the database's write lock from the start:
        # upgraders that read first and write later race (SQLite refuses the loser's
        # lock upgrade at once, and runs DDL outside a transaction unless one is open).
        # The others wait for the lock, then find the catalog at head and do nothing.
        _lock_for_upgrade(conn)
        current = current_revision(conn)
        if current == head():
            conn.rollback()
            return
        if current is not None:
            try:
                ScriptDirectory.from_config(config).get_revision(current)
            except CommandError:
                raise UsageError(
                    f"catalog {url} was made by a newer assay (schema revision {current}; "
                    f"this assay knows up to {head()}); upgrade assay"
                ) from None
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()


def _lock_for_upgrade(conn: sa.Connection) -> None:
    """Begin the upgrade's transaction holding the lock that excludes other upgraders."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, waited for (busy timeout)
    elif dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
