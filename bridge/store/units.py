"""Units of work: synchronous functions of a SQLAlchemy Core ``Connection``, each run as one
transaction.

The async ORM session on aiosqlite costs a greenlet switch, a thread hop and several event-loop
iterations per statement; a unit of work runs its statements at the speed of the synchronous
driver, with one thread hop per transaction at most.

SQLite (one writer anyway; the process's units and sessions take turns, see ``Store``): a unit
runs right on the event-loop thread, on a connection of its own. Handing it to a thread and
back (future, executor queue, thread wake-up, the loop's self-pipe, GIL hand-offs) cost ~100 µs
of CPU, more than the SQL of most hot units (2,000 one-statement units: 87–109 µs of process CPU
each on the thread, 20–28 inline). That connection never waits: it has no busy
timeout, so when another process holds the write lock (an admin command), BEGIN IMMEDIATE fails
at once, the unit is rolled back and runs on the database thread instead, whose connection waits
for the lock as long as ``SQLITE_BUSY_TIMEOUT_MS``. It never checkpoints the WAL on commit
either (the checkpoint fsyncs: a stall of the loop); every ``CHECKPOINT_EVERY`` commits the
database thread does it. Units that may take milliseconds (``heavy``: a page of backlog SPICO
events, the outbox claim after a full batch, scans at start and in recovery) run on the
database thread too.

PostgreSQL: every unit on a small pool of threads, one pooled connection each (its statements
are network round trips), so several processes and workers keep claiming side by side.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from bridge.store.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    begin_immediate_sqlite,
    make_sync_engine,
    sync_url,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Threads (and pooled connections) for PostgreSQL units of work in one process.
POSTGRES_THREADS = 4

#: SQLite: units committed on the event-loop thread between two WAL checkpoints (on the
#: database thread). Measured with the outbox bench: ~5.6 pages a settle, so the WAL stays near
#: SQLite's own automatic threshold (1,000 pages); a checkpoint then takes ~4.5 ms.
CHECKPOINT_EVERY = 200

_names = itertools.count(1)


class _Busy(Exception):
    """The inline attempt met another connection's lock (and was rolled back)."""


class UnitRunner:
    """Runs ``work(connection)`` as one transaction: commits when it returns, rolls back when it
    raises (the exception reaches the caller). On SQLite the caller serializes the calls."""

    def __init__(self, url: str | URL) -> None:
        self.dialect = sync_url(url).get_backend_name()
        if self.dialect == "sqlite":
            threads = 1
            # No "begin" listener: the runner issues BEGIN IMMEDIATE itself, and an engine
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
        #: SQLite: the database thread's connection (waits for locks; used there only).
        self._connection: Connection | None = None
        #: SQLite: the event-loop thread's connection (never waits, never checkpoints).
        self._inline: Connection | None = None
        #: SQLite: units committed inline since the last checkpoint.
        self._commits = 0
        self._closed = False

    async def run(self, work: Callable[[Connection], T], *, heavy: bool = False) -> T:
        """``work`` as one transaction: on SQLite inline unless ``heavy`` (or the database is
        locked by another process), else on a database thread.

        ``work`` may run twice: when the inline attempt met a lock part-way, it is rolled back
        and run again on the thread, so it keeps its effects in the connection. If the caller
        is cancelled while a thread runs it, this still waits for the transaction to finish
        before the cancellation goes on, so a caller holding a turn (SQLite) keeps it until the
        database is free again.
        """
        if self._closed:
            raise RuntimeError("the store is closed")
        if self.dialect == "sqlite" and not heavy:
            if self._inline is None or self._inline.closed or self._inline.invalidated:
                await _on_thread(self._executor, self._open_inline)
            try:
                result = self._inline_unit(work)
            except _Busy:
                pass  # another process writes: wait for it on the thread, not here
            else:
                self._commits += 1
                if self._commits >= CHECKPOINT_EVERY:
                    self._commits = 0
                    await _on_thread(self._executor, self.checkpoint)
                return result
        return await _on_thread(self._executor, self._unit, work)

    def _inline_unit(self, work: Callable[[Connection], T]) -> T:
        connection = self._inline
        assert connection is not None
        try:
            with connection.begin():
                begin_immediate_sqlite(connection)
                return work(connection)
        except (sqlite3.OperationalError, DBAPIError) as exc:
            if _is_busy(exc):
                raise _Busy from exc
            raise

    def _open_inline(self) -> None:
        """(On the thread: opening may wait.) The loop's connection: no busy timeout, no
        automatic checkpoint."""
        if self._inline is not None:
            self._inline.close()
        self._inline = self.engine.connect()
        _pragmas(self._inline, "busy_timeout=0", "wal_autocheckpoint=0")

    def _thread_connection(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
            _pragmas(
                self._connection,
                f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                "wal_autocheckpoint=1000",
            )
        return self._connection

    def _unit(self, work: Callable[[Connection], T]) -> T:
        if self.dialect == "sqlite":
            connection = self._thread_connection()
            with connection.begin():
                begin_immediate_sqlite(connection)
                return work(connection)
        with self.engine.begin() as connection:
            return work(connection)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """(SQLite, on the database thread, between units.) A passive WAL checkpoint: the pages
        the loop's commits appended go to the database file, and the next writer starts the WAL
        over. Returns SQLite's (busy, pages in the WAL, pages checkpointed); None if it failed
        (logged: the units committed anyway, the next checkpoint tries again)."""
        cursor = self._thread_connection().connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return tuple(cursor.fetchone())
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed (%s); will retry", type(exc).__name__)
            return None
        finally:
            cursor.close()

    def _close_connections(self) -> None:
        for connection in (self._inline, self._connection):
            if connection is not None:
                connection.close()
        self._inline = self._connection = None

    async def close(self) -> None:
        """Finish the queued units, close the connection(s) and stop the threads."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connections)
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.engine.dispose()


def _pragmas(connection: Connection, *pragmas: str) -> None:
    cursor = connection.connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (any extended code): another connection holds a lock we would wait for."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


async def _on_thread(executor: ThreadPoolExecutor, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on ``executor``; a cancelled caller still waits for it to end."""
    future = asyncio.get_running_loop().run_in_executor(executor, function, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _finished(future)
        raise


async def _finished(future: asyncio.Future[Any]) -> None:
    """Wait for ``future`` through any further cancellation (its outcome is not wanted)."""
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            continue
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it as never retrieved
