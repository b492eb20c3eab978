"""Which bridge processes are alive, so a dead one's claimed deliveries are taken over at once.

On PostgreSQL each process holds a session advisory lock on a random key for as long as it
runs; its outbox claims carry that key. When a process dies (even by ``kill -9``) PostgreSQL
drops its session and the lock: another process that can take the lock knows the owner is gone
and puts its claims back to pending, without waiting for their lease to expire. On SQLite one
process owns the database, so every claim left at start is from a dead run.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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

    async def is_dead(self, session: AsyncSession, owner: str) -> bool:
        """True when ``owner`` no longer runs (its lock can be taken)."""
        if owner == self.owner:
            return False
        if self._store.dialect != "postgresql":
            return True
        try:
            key = int(owner)
        except ValueError:
            return False  # not a name this version writes: leave it to its lease
        return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))
