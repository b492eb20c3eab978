"""Database engines and schema upgrades.

The daemon runs on asyncio drivers (aiosqlite, psycopg 3 async); Alembic migrations run on the
same drivers in their synchronous form, so one URL in the config serves both.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = str(Path(__file__).with_name("migrations"))
SQLITE_BUSY_TIMEOUT_MS = 10_000


class UnsupportedDatabase(ValueError):
    """A database URL whose backend the bridge does not support."""


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UnsupportedDatabase(
            f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return backend


def async_url(url: str | URL) -> URL:
    """The asyncio-driver form of a configured URL (sqlite → aiosqlite, postgresql → psycopg)."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}[_backend(parsed)]
    return parsed.set(drivername=driver)


def sync_url(url: str | URL) -> URL:
    """The synchronous-driver form of a configured URL (for Alembic)."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}[_backend(parsed)]
    return parsed.set(drivername=driver)


def _prepare_sqlite(engine: Engine, *, begin_immediate: bool = True) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for every transaction (unless
    the caller issues it itself: ``begin_immediate`` False, see ``begin_immediate``).

    BEGIN IMMEDIATE takes the write lock up front, so two transactions never deadlock while
    upgrading a read lock; in SQLite mode one process owns the database anyway.
    """
    database = engine.url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    if begin_immediate:
        event.listen(engine, "begin", begin_immediate_sqlite)


def begin_immediate_sqlite(connection: Connection) -> None:
    """SQLite's BEGIN IMMEDIATE on ``connection``'s driver connection, straight to the
    driver's cursor: through ``exec_driver_sql`` it cost as much as a hot-path statement."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def make_sync_engine(url: str | URL, *, begin_immediate: bool = True, **options: Any) -> Engine:
    """A synchronous engine (Alembic, and the store's units of work); ``options`` go to
    ``create_engine`` (pool sizes). SQLite with ``begin_immediate`` False: the caller begins
    each transaction with ``begin_immediate_sqlite`` itself; an engine without connection
    events runs each statement faster (no event dispatch around every execution)."""
    engine = create_engine(sync_url(url), **options)
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(engine, begin_immediate=begin_immediate)
    return engine


def make_async_engine(url: str | URL, *, pool_size: int = 5) -> AsyncEngine:
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed)
        _prepare_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | URL) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["sync_url"] = sync_url(url)
    return config


#: Alembic's ``context`` is a module-level proxy: two upgrades in one process must not overlap.
_UPGRADE_LOCK = threading.Lock()


def upgrade(url: str | URL, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (synchronous; idempotent)."""
    with _UPGRADE_LOCK:
        command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str | URL, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def current_revision(url: str | URL) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
