"""Units of work: synchronous functions of a SQLAlchemy Core ``Connection``, each run as one
transaction on a database thread.

The async ORM session on aiosqlite costs a greenlet switch, a thread hop and several event-loop
iterations per statement; a unit of work costs one hop per transaction, its statements running
at the speed of the synchronous driver. SQLite gets one dedicated thread holding one connection
(the database has one writer anyway); PostgreSQL a small pool of threads, one pooled connection
each, so several processes and workers keep claiming side by side.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from bridge.store.db import begin_immediate_sqlite, make_sync_engine, sync_url

T = TypeVar("T")

#: Threads (and pooled connections) for PostgreSQL units of work in one process.
POSTGRES_THREADS = 4

_names = itertools.count(1)


class UnitRunner:
    """Runs ``work(connection)`` in a transaction on a database thread: commits when it
    returns, rolls back when it raises (the exception reaches the caller)."""

    def __init__(self, url: str | URL) -> None:
        self.dialect = sync_url(url).get_backend_name()
        if self.dialect == "sqlite":
            threads = 1
            # No "begin" listener: ``_unit`` issues BEGIN IMMEDIATE itself, and an engine
            # without connection events skips their dispatch around every statement.
            self.engine: Engine = make_sync_engine(url, begin_immediate=False)
        else:
            threads = POSTGRES_THREADS
            self.engine = make_sync_engine(
                url, pool_size=threads, max_overflow=0, pool_pre_ping=True
            )
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"store-{self.dialect}-{next(_names)}"
        )
        #: SQLite: the one connection, opened on the database thread and kept there.
        self._connection: Connection | None = None
        self._closed = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` as one transaction on a database thread.

        If the caller is cancelled meanwhile, this still waits for the thread to finish the
        transaction before the cancellation goes on, so a caller holding a turn (SQLite) keeps
        it until the database is free again.
        """
        if self._closed:
            raise RuntimeError("the store is closed")
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._unit, work)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await _finished(future)
            raise

    def _unit(self, work: Callable[[Connection], T]) -> T:
        if self.dialect == "sqlite":
            if self._connection is None or self._connection.closed:
                self._connection = self.engine.connect()
            with self._connection.begin():
                begin_immediate_sqlite(self._connection)
                return work(self._connection)
        with self.engine.begin() as connection:
            return work(connection)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        """Finish the queued units, close the connection(s) and stop the threads."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.engine.dispose()


async def _finished(future: asyncio.Future[Any]) -> None:
    """Wait for ``future`` through any further cancellation (its outcome is not wanted)."""
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            continue
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it as never retrieved
