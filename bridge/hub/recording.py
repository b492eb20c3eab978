"""A recording sink, for the project's own tests and benchmarks (``testing.recording_sink``).

It stands in for a world's adapter and behaves like an idempotent destination: a delivery with
a transaction id it has already accepted is acknowledged again but kept once (as Matrix does
with transaction ids and mail readers do with Message-IDs). Every call is also counted, so a
test can see how many re-deliveries the bridge made. Only ids and sequence numbers are
recorded, never bodies.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path

from bridge.core.delivery import DeliveryJob, PermanentFailure, RetryLater
from bridge.core.model import World

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    world TEXT NOT NULL, destination TEXT NOT NULL, txn_id TEXT NOT NULL,
    kind TEXT NOT NULL, conversation_id TEXT NOT NULL, event_seq INTEGER NOT NULL,
    event_type TEXT NOT NULL, message_id TEXT, received_at REAL NOT NULL,
    PRIMARY KEY (world, destination, txn_id)
);
CREATE TABLE IF NOT EXISTS calls (
    world TEXT NOT NULL, destination TEXT NOT NULL, txn_id TEXT NOT NULL,
    outcome TEXT NOT NULL, at REAL NOT NULL
);
"""


class RecordingSink:
    """Records deliveries of one world into an SQLite file shared by every world's sink."""

    def __init__(
        self,
        world: World,
        path: Path,
        *,
        failure_rate: float = 0.0,
        fail_permanently: Collection[str] = (),
    ) -> None:
        self.world = world
        self._path = path
        self._failure_rate = failure_rate
        self._refused = frozenset(fail_permanently)
        self._random = random.Random()
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    async def deliver(self, job: DeliveryJob) -> None:
        if f"{job.world.value}:{job.destination}" in self._refused:
            await asyncio.to_thread(self._write, job, True)
            raise PermanentFailure("recording sink: destination refused for good")
        fail = self._random.random() < self._failure_rate
        await asyncio.to_thread(self._write, job, fail)
        if fail:
            raise RetryLater("recording sink: injected failure", retry_after=0.05)

    def _write(self, job: DeliveryJob, fail: bool) -> None:
        now = time.time()
        with sqlite3.connect(self._path, timeout=30) as connection:
            connection.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?)",
                (job.world.value, job.destination, job.txn_id, "failed" if fail else "ok", now),
            )
            if not fail:
                connection.execute(
                    "INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.world.value,
                        job.destination,
                        job.txn_id,
                        job.kind.value,
                        job.conversation_id,
                        job.event_seq,
                        job.event_type,
                        job.message.id if job.message else None,
                        now,
                    ),
                )
