"""The async engine and session factory, made by the app's lifespan (never at import time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import models.tables  # noqa: F401  (registers every table on the metadata)
from settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]
log = logging.getLogger(__name__)
# SQLSTATEs of a server that is gone or going: class 08 (connection exception), shutdown by
# an administrator or a crash, "cannot connect now" (starting up), too many connections.
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


class DatabaseUnavailable(Exception):
    """A new database connection could not be opened: refused, reset or timed out.

    asyncpg raises these as plain `OSError`/`TimeoutError`, which say nothing of where they
    came from; the engine re-raises them as this, so callers can tell a database outage from
    any other socket error (`graph.errors.unavailable_backend`)."""


def database_gone(error: DBAPIError) -> bool:
    """Whether the database went away under `error`: SQLAlchemy marks an error that killed its
    connection; asyncpg's SQLSTATE names a server that refuses or is shutting down."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def connection_lost(error: BaseException) -> bool:
    """A connection that could not be made, or one lost in the middle of its work (a restart,
    a failover): what a retry on a new connection may get past."""
    if isinstance(error, DatabaseUnavailable):
        return True
    return isinstance(error, DBAPIError) and database_gone(error)


def make_engine(settings: Settings) -> AsyncEngine:
    if settings.uses_sqlite:
        path = settings.database_url.split("///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        engine_url(settings.database_url),
        pool_size=settings.database_pool_size,
        pool_pre_ping=True,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    return engine


def engine_url(database_url: str) -> URL:
    """The URL as SQLAlchemy takes it. A multi-host URL (`user:pw@h1:p1,h2:p2/db`, as libpq and
    asyncpg write it) is one SQLAlchemy cannot parse; its asyncpg dialect takes the hosts as
    repeated `host=h:p` query parameters instead, and hands asyncpg the lists of hosts and
    ports, which asyncpg tries in turn (with `target_session_attrs=read-write`, until one is a
    primary)."""
    parts = urlsplit(database_url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return make_url(database_url)
    query = [("host", host) for host in hosts.split(",")] + parse_qsl(parts.query)
    netloc = f"{userinfo}@" if userinfo else ""
    return make_url(f"{parts.scheme}://{netloc}{parts.path}?{urlencode(query, safe=':')}")


def make_probe_engine(settings: Settings, timeout_seconds: float) -> AsyncEngine:
    """An engine for readiness checks only: no pool (each check opens and closes its own
    connection), so a check never waits behind requests for the app's pool, and a busy pool
    is not mistaken for a database that is down."""
    if settings.uses_sqlite:
        return create_async_engine(settings.database_url, poolclass=NullPool)
    engine = create_async_engine(
        engine_url(settings.database_url),
        poolclass=NullPool,
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    return engine


def _connect_or_unavailable(
    dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as error:
        raise DatabaseUnavailable(f"cannot connect: {error or type(error).__name__}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_tables(engine: AsyncEngine) -> None:
    """Embedded mode (SQLite) builds its schema straight from the models; PostgreSQL migrates.

    Embedded mode has no migrations, so a database file an older version made (a table
    without a column the models now have) is set aside, under a name the log gives, and a new
    one started: nothing is deleted, and the server still starts at once."""
    async with engine.connect() as connection:
        missing = await connection.run_sync(_missing_columns)
    if missing and engine.url.database:
        await engine.dispose()  # its connections hold the file
        kept = _set_aside(Path(engine.url.database))
        log.warning(
            "the embedded database was made by an older version (no %s): kept it as %s and "
            "started a new one",
            ", ".join(missing[:5]),
            kept,
        )
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)


def _missing_columns(connection: Connection) -> list[str]:
    """`table.column` for each column the models have and an existing table lacks."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    missing = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in present]
    return missing


def _set_aside(database: Path) -> Path:
    """Rename the database file (and SQLite's journal files with it) out of the way."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.old-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{database}{suffix}")
        if source.exists():
            source.rename(f"{kept}{suffix}")
    return kept


async def ping(engine: AsyncEngine) -> None:
    """One round trip (`SELECT 1`); give it the probe engine, not the app's pooled one."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def sync_standbys(engine: AsyncEngine) -> int:
    """Synchronous standbys streaming from the primary the engine reaches: while there are
    none, a commit is on the primary alone. Reading `sync_state` needs pg_monitor (others see
    the rows with their columns null, so counted none)."""
    query = text(
        "SELECT count(*) FROM pg_stat_replication "
        "WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')"
    )
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


@asynccontextmanager
async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on any error."""
    async with factory() as session, session.begin():
        yield session
