"""``spico-bridge bench``: measure the bridge against direct use of the same servers, in one run.

Everything runs on this machine, on servers the bench starts itself (the SPICO sandbox; the
world servers when their sections run) and stops at the end. Printed as a Markdown table that
the README keeps with the machine it ran on. Sections:

- ``outbox``: the hub alone, deliveries per second through a no-op sink (SQLite, PostgreSQL).
- ``startup``: time to "ready" and resident memory of ``spico-bridge run`` with N conversations
  already bridged (N = 1,000 and 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bridge.core.delivery import DeliveryJob, RetryPolicy
from bridge.core.model import World
from bridge.hub.outbox import OutboxWorkers
from bridge.store import repositories as repo
from bridge.store.repositories import Store

POSTGRES_ADMIN = os.environ.get(
    "SPICO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def sandbox(folder: Path) -> Iterator[str]:
    """A SPICO sandbox subprocess for the bench; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.spico.sandbox",
            "--port",
            str(port),
            "--db",
            str(folder / "sandbox.sqlite3"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base_url}/health", timeout=1).close()
                break
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


class _NoopSink:
    def __init__(self, world: World, expected: int) -> None:
        self.world = world
        self.count = 0
        self.expected = expected
        self.all_delivered = asyncio.Event()

    async def deliver(self, job: DeliveryJob) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.all_delivered.set()


async def outbox_rate(url: str, deliveries: int = 4000, conversations: int = 50) -> float:
    """Deliveries per second through the outbox with a sink that does nothing."""
    store = await Store.open(url)
    try:
        async with store.transaction() as session:
            for seq in range(1, deliveries + 1):
                await repo.record_event(
                    session,
                    repo.JournalRow(
                        seq,
                        "message.posted",
                        f"c{seq % conversations}",
                        None,
                        "2026-01-01T00:00:00+00:00",
                        {"data": {"message": {"id": f"m{seq}"}}},
                    ),
                )
            await repo.enqueue(
                session,
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
        sink = _NoopSink(World.MATRIX, deliveries)
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
                await repo.save_conversation(
                    session,
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


def startup(folder: Path, base_url: str, conversations: int) -> tuple[float, float]:
    """Seconds from launch to "ready", and resident MB once ready, of ``spico-bridge run``."""
    work = folder / f"startup-{conversations}"
    work.mkdir()
    url = f"sqlite:///{work / 'bridge.db'}"
    asyncio.run(_seed_conversations(url, conversations))
    token = work / "token"
    token.write_text("sandbox-token\n")
    config = work / "bridge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(work),
                "database": {"url": url},
                "spico": {"base_url": base_url, "token_file": str(token), "bridge_existing": "new"},
                "http": {"listen_port": _free_port()},
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
        while "spico-bridge ready" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"the bridge did not get ready: {log}")
            time.sleep(0.01)
        ready = time.perf_counter() - started
        status = Path(f"/proc/{process.pid}/status").read_text()
        rss_kb = int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )
        return ready, rss_kb / 1024
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_bench(sections: list[str]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="spico-bench-") as name:
        folder = Path(name)
        if "outbox" in sections:
            rate = asyncio.run(outbox_rate(f"sqlite:///{folder / 'outbox.db'}"))
            rows.append(Row("outbox, SQLite: deliveries/s (no-op sink, 4 workers)", f"{rate:.0f}"))
            with postgres_database() as url:
                if url is None:
                    rows.append(Row("outbox, PostgreSQL", "not measured: no server"))
                else:
                    rate = asyncio.run(outbox_rate(url))
                    rows.append(Row("outbox, PostgreSQL: deliveries/s", f"{rate:.0f}"))
        if "startup" in sections:
            with sandbox(folder) as base_url:
                for count in (1_000, 10_000):
                    ready, rss = startup(folder, base_url, count)
                    target = "≤ 3 s, ≤ 150 MB" if count == 10_000 else ""
                    rows.append(
                        Row(
                            f"start-up with {count:,} conversations: ready s / RSS MB",
                            f"{ready:.2f} / {rss:.0f}",
                            target,
                        )
                    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spico-bridge bench")
    parser.add_argument(
        "--sections", default="outbox,startup", help="comma-separated: outbox, startup"
    )
    args = parser.parse_args(argv)
    rows = run_bench([s.strip() for s in args.sections.split(",") if s.strip()])
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| measure | value | target |\n| --- | ---: | --- |")
    for row in rows:
        print(f"| {row.measure} | {row.value} | {row.target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
