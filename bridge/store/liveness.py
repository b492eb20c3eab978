"""Which bridge processes are alive, so a dead one's claimed deliveries are taken over at once.

On PostgreSQL each process holds a session advisory lock on a random key for as long as it
runs; its outbox claims carry that key. When a process dies (even by ``kill -9``) PostgreSQL
drops its session and the lock: another process that can take the lock knows the owner is gone
and puts its claims back to pending, without waiting for their lease to expire. On SQLite one
process owns the database, so every claim left at start is from a dead run.

The sources (SPICO's event feed, the bot's sync, the mailbox) are read by one process at a time:
the holder of the source's advisory lock (:class:`SourceLock`); the others stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.waiting import wait_any
from bridge.store.repositories import Store

log = logging.getLogger(__name__)


def owner_of(claimed_by: str) -> str:
    """The process part of a worker name (``<process key>:w<n>``)."""
    return claimed_by.split(":", 1)[0]


class Liveness:
    """This process's mark of life (a held advisory lock on PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # 62 bits: positive in PostgreSQL's bigint, and unguessable enough not to collide.
        self.key = secrets.randbits(62)
        self._connection: AsyncConnection | None = None

    @property
    def owner(self) -> str:
        return str(self.key)

    async def start(self) -> None:
        if self._store.dialect != "postgresql":
            return
        self._connection = await self._store.engine.connect()
        await self._connection.execute(select(func.pg_advisory_lock(self.key)))
        await self._connection.commit()

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                # The connection goes back to the pool, so the session lock must be let go.
                await connection.execute(select(func.pg_advisory_unlock(self.key)))
                await connection.commit()
            finally:
                await connection.close()

    def is_dead(self, connection: Connection, owner: str) -> bool:
        """True when ``owner`` no longer runs (its lock can be taken)."""
        if owner == self.owner:
            return False
        if self._store.dialect != "postgresql":
            return True
        try:
            key = int(owner)
        except ValueError:
            return False  # not a name this version writes: leave it to its lease
        return bool(connection.scalar(select(func.pg_try_advisory_xact_lock(key))))


def source_key(name: str) -> int:
    """The advisory lock key of one source (signed 64 bits, stable across processes)."""
    digest = hashlib.sha256(f"spico-bridge:source:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SourceLock:
    """One consumer per source (the SPICO feed, the bot's sync, the mailbox) on PostgreSQL.

    Several processes share the outbox, but a source read by two of them would be handled twice
    (two notices, two answers). The process holding the source's advisory lock consumes it; the
    others stand by and take over within ``retry_seconds`` when it stops or dies (PostgreSQL
    drops a dead session's locks). On SQLite one process owns the database: no lock.
    """

    def __init__(self, store: Store, name: str, *, retry_seconds: float = 5.0) -> None:
        self._store = store
        self.name = name
        self._key = source_key(name)
        self._retry = retry_seconds
        #: True while another process holds the source and this one waits to take over.
        self.standing_by = False

    async def hold(self, stop: asyncio.Event, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` once this process holds the source; return when it returns or ``stop``
        is set while standing by."""
        if self._store.dialect != "postgresql":
            await work()
            return
        announced = False
        while not stop.is_set():
            connection = await self._store.engine.connect()
            try:
                got = await connection.scalar(select(func.pg_try_advisory_lock(self._key)))
                await connection.commit()
                if got:
                    self.standing_by = False
                    log.info("source %s: consumed by this process", self.name)
                    try:
                        await work()
                    finally:
                        with contextlib.suppress(Exception):
                            await connection.execute(select(func.pg_advisory_unlock(self._key)))
                            await connection.commit()
                    return
            finally:
                await connection.close()
            self.standing_by = True
            if not announced:
                log.info("source %s: another process consumes it; standing by", self.name)
                announced = True
            await wait_any(stop, within=self._retry)
