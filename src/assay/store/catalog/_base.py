"""What every area of the catalog shares: the engine, the schema's MetaData, helpers.

Each area module (``datasets``, ``runs``, …) declares its tables on ``metadata`` and a
mixin of ``CatalogBase`` with its methods; ``assay.store.catalog.Catalog`` is the sum
of the mixins. Opening a catalog brings its schema to the newest revision through the
Alembic migrations in ``migrations/`` (see ``_schema.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import CatalogDamaged, MissingDependency, NotFound, UsageError
from assay.extras import EXTRAS, missing
from assay.retry import retry

CATALOG_FORMAT = 1
RECOVER = "assay recover"
# What SQLite says of a truncated, overwritten or otherwise damaged database file.
_DAMAGE = ("database disk image is malformed", "file is not a database")

metadata = sa.MetaData()

meta = sa.Table(
    "assay_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def masked(url: str) -> str:
    """``url`` with any password shown as ``***``: what a message may print."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def now() -> str:
    """The current UTC time as the catalog stores it (ISO 8601, milliseconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def catalog_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for a catalog URL (it loads the driver, connects to nothing);
    a URL that is not usable, or whose driver is missing, is refused in one line."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    try:
        return sa.create_engine(url, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as e:
        raise UsageError(f"catalog URL {masked(url)!r} is not usable: {e}") from None
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in EXTRAS:
            raise missing(e.name or "", "PostgreSQL catalogs") from None
        # A driver assay brings no extra for (postgresql:// means psycopg2).
        raise MissingDependency(
            f"catalog URL {masked(url)!r} needs the {e.name} driver, which is not "
            "installed; use postgresql+psycopg:// and pip install 'assay[postgres]'"
        ) from None


class CatalogBase:
    """A catalog in any database SQLAlchemy 2 reaches (SQLite, PostgreSQL): the engine
    and the schema; the areas add their tables' methods."""

    def __init__(self, url: str, *, create: bool = False):
        from assay.store.catalog._schema import upgrade

        self.url = url
        self.engine = catalog_engine(url)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "handle_error", self._damaged)
        if not create:
            self._check_format()
        upgrade(self.engine, url)
        if create:
            with self.engine.begin() as conn:
                insert_once(conn, meta, key="format", value=str(CATALOG_FORMAT))
            self._check_format()

    def close(self) -> None:
        """Release connections; the catalog is not used afterwards."""
        self.engine.dispose()

    def referenced_objects(self) -> dict[str, str]:
        """Every object key the catalog names, with the SHA-256 its bytes must have.

        Each area adds its own (cooperatively, through ``super()``).
        """
        return {}

    def _damaged(self, context: sa.engine.ExceptionContext) -> None:
        """Turn SQLite's report of a damaged database file into one actionable line."""
        text = str(context.original_exception)
        if any(sign in text for sign in _DAMAGE):
            raise CatalogDamaged(
                f"catalog {self.url} is damaged ({text}); rebuild it from the store's "
                f"objects with `{RECOVER}`"
            ) from None

    def _check_format(self) -> None:
        try:
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "format")).scalar()
        except sa_exc.OperationalError as e:
            if "no such table" in str(e.orig):  # e.g. a catalog file emptied to 0 bytes
                raise CatalogDamaged(
                    f"catalog {self.url} holds no assay catalog ({e.orig}); if it was lost or "
                    f"damaged, rebuild it from the store's objects with `{RECOVER}`"
                ) from None
            raise UsageError(
                f"catalog {masked(self.url)} cannot be read ({e.orig}); is it an assay store? "
                "Create one with `assay init`"
            ) from None
        except sa_exc.ProgrammingError as e:  # PostgreSQL: an empty database
            raise UsageError(
                f"catalog {masked(self.url)} holds no assay catalog ({e.orig}); is it an assay "
                "store? Create one with `assay init`"
            ) from None
        if found is None or int(found) > CATALOG_FORMAT:
            raise UsageError(
                f"catalog {self.url} has format {found}, this assay reads format "
                f"{CATALOG_FORMAT}; upgrade assay"
            )

    def _report(self, table: sa.Table, prefix: str, what: str, listing: str) -> dict[str, Any]:
        """The stored report whose id is or starts with ``prefix`` (4+ characters)."""
        query = sa.select(table.c.report).where(table.c.id.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(2)).all()
        if len(prefix) < 4 or not rows:
            raise NotFound(f"no {what} {prefix!r}; list them with `{listing}`")
        if len(rows) > 1:
            raise UsageError(f"{what} id {prefix!r} is ambiguous; give more characters")
        return dict(rows[0].report)


def insert_once(conn: sa.Connection, table: sa.Table, **values: Any) -> bool:
    """Insert a row unless a unique constraint says it is there already; whether it was new.

    A savepoint keeps the surrounding transaction usable after the refusal (PostgreSQL
    aborts the whole transaction on an error otherwise).
    """
    try:
        with conn.begin_nested():
            conn.execute(table.insert().values(**values))
    except sa_exc.IntegrityError:
        return False
    return True


class _Busy(Exception):
    """SQLite refused a lock without waiting (it does so where waiting could deadlock)."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # The busy timeout makes concurrent writers wait for each other instead of failing.
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers go on while a writer commits. The mode is stored in the file, so
    # only a catalog made in rollback mode (assay 0.1.0) is converted, once. Converting
    # takes an exclusive lock that SQLite refuses at once, busy timeout or not, when
    # several connections try together: the losers look again after a pause, and find
    # the file converted by the winner.
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        retry(
            lambda: _to_wal(cur),
            on=(_Busy,),
            what="the catalog is being converted to WAL mode by another process",
        )
    cur.close()


def _to_wal(cur: Any) -> None:
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception as e:  # the driver's OperationalError; its class is the driver's own
        if "locked" in str(e) or "busy" in str(e):
            raise _Busy(str(e)) from None
        raise
