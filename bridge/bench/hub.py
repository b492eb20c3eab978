"""Sections ``outbox`` and ``startup``: the hub alone, without any world server.

- ``outbox``: deliveries per second through a no-op sink (SQLite, PostgreSQL).
- ``startup``: time to "ready" and resident memory of ``spico-bridge run`` with N conversations
  already bridged (N = 1,000 and 10,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from bridge.bench.servers import READY_LINE, Sandbox, stop_process
from bridge.bench.stats import Row, status_kb, verdict
from bridge.core.delivery import DeliveryJob, RetryPolicy
from bridge.core.model import World
from bridge.hub.outbox import OutboxWorkers
from bridge.ports import free_port
from bridge.store import repositories as repo
from bridge.store.repositories import Store

POSTGRES_ADMIN = os.environ.get(
    "SPICO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class _NoopSink:
    """Sends nothing, but settles each delivery as the real sinks do: in a unit of work of its
    own (theirs also records what they sent), through the outbox's inline settle."""

    def __init__(self, world: World, expected: int, store: Store) -> None:
        self.world = world
        self.count = 0
        self.expected = expected
        self.store = store
        self.all_delivered = asyncio.Event()

    async def deliver(self, job: DeliveryJob) -> None:
        if job.settle is not None:
            await self.store.run(job.settle.within)
            job.settle.committed()
        self.count += 1
        if self.count >= self.expected:
            self.all_delivered.set()


async def outbox_rate(url: str, deliveries: int = 4000, conversations: int = 50) -> float:
    """Deliveries per second through the outbox with a sink that does nothing."""
    store = await Store.open(url)
    try:
        async with store.transaction() as session:
            for seq in range(1, deliveries + 1):
                await repo.in_session(
                    session,
                    repo.record_event,
                    repo.JournalRow(
                        seq,
                        "message.posted",
                        f"c{seq % conversations}",
                        None,
                        "2026-01-01T00:00:00+00:00",
                        {"data": {"message": {"id": f"m{seq}"}}},
                    ),
                )
            await repo.in_session(
                session,
                repo.enqueue,
                [
                    repo.NewDelivery(
                        seq,
                        f"c{seq % conversations}",
                        "matrix",
                        f"c{seq % conversations}",
                        "message",
                    )
                    for seq in range(1, deliveries + 1)
                ],
            )
        sink = _NoopSink(World.MATRIX, deliveries, store)
        workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(), workers=4)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(workers.run(stop))
        await sink.all_delivered.wait()
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return deliveries / elapsed
    finally:
        await store.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A throw-away PostgreSQL database, or None when no server answers."""
    import psycopg

    name = f"spico_bridge_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield None
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _seed_conversations(url: str, count: int) -> None:
    store = await Store.open(url)
    try:
        async with store.transaction() as session:
            for n in range(count):
                await repo.in_session(
                    session,
                    repo.save_conversation,
                    repo.ConversationSnapshot(
                        f"conv_{n}",
                        f"Conversation {n}",
                        "810000000001",
                        ("810000000001", "810000000002"),
                        None,
                        0,
                    ),
                )
    finally:
        await store.close()


def startup(folder: Path, spico: Sandbox, conversations: int) -> tuple[float, float]:
    """Seconds from launch to "ready", and resident MB once ready, of ``spico-bridge run``."""
    work = folder / f"startup-{conversations}"
    work.mkdir()
    url = f"sqlite:///{work / 'bridge.db'}"
    asyncio.run(_seed_conversations(url, conversations))
    config = work / "bridge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(work),
                "database": {"url": url},
                "spico": {
                    "base_url": spico.base_url,
                    "token_file": str(spico.token_file),
                    "bridge_existing": "new",
                },
                "http": {"listen_port": free_port()},
                "testing": {"recording_sink": str(work / "sink.db")},
            }
        )
    )
    log = work / "bridge.log"
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        while READY_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"the bridge did not get ready: {log}")
            time.sleep(0.01)
        ready = time.perf_counter() - started
        rss_kb = status_kb(Path(f"/proc/{process.pid}/status").read_text(), "VmRSS")
        return ready, rss_kb / 1024
    finally:
        stop_process(process)


def outbox_section(folder: Path) -> list[Row]:
    rate = asyncio.run(outbox_rate(f"sqlite:///{folder / 'outbox.db'}"))
    rows = [
        Row(
            "outbox, SQLite: deliveries/s (no-op sink settling each inline, 4 workers)",
            f"{rate:.0f}",
        )
    ]
    with postgres_database() as url:
        if url is None:
            rows.append(Row("outbox, PostgreSQL", "not measured: no server"))
        else:
            rate = asyncio.run(outbox_rate(url))
            rows.append(Row("outbox, PostgreSQL: deliveries/s", f"{rate:.0f}"))
    return rows


def startup_section(folder: Path, spico: Sandbox) -> list[Row]:
    rows = []
    for count in (1_000, 10_000):
        ready, rss = startup(folder, spico, count)
        target = ""
        if count == 10_000:
            target = f"≤ 3 s, ≤ 150 MB: {verdict(ready <= 3 and rss <= 150)}"
        rows.append(
            Row(
                f"start-up with {count:,} conversations: ready s / RSS MB",
                f"{ready:.2f} / {rss:.0f}",
                target,
            )
        )
    return rows
