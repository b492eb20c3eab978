"""Lifecycle of the daemon: a clean stop on SIGTERM mid-stream, an exact resume, and two
processes on PostgreSQL sharing the work."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bridge.spico.client import SpicoClient
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.waiting import eventually

MESSAGES = 150


def _rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path, timeout=30) as connection:
        return connection.execute(query).fetchall()


async def test_sigterm_stops_cleanly_and_restart_resumes_exactly(
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    reader = personas.colleagues[3]
    config = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        participants=[{"spico_id": reader, "mail": "lecteur@app.mssante.fr", "delivery": "mail"}],
        poll_wait_seconds=2,
    )
    bridge = BridgeProcess(config, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [reader], "Arrêt propre", "0")
    ids = [created.message.id]
    for n in range(1, MESSAGES):
        message = await spico_client.post_message(
            created.conversation.id,
            on_behalf_of=doctor,
            acting_as=doctor,
            body=str(n),
            idempotency_key=f"app-{created.conversation.id}-{n}",
        )
        ids.append(message.id)
        if n == MESSAGES // 2:
            assert await asyncio.to_thread(bridge.stop) == 0, bridge.tail()
            # Nothing is left claimed: in-flight deliveries were settled or given back.
            assert _rows(
                tmp_path / "bridge.db", "SELECT count(*) FROM deliveries WHERE state = 'sending'"
            ) == [(0,)]
            assert "stopped" in bridge.tail(5)
            await asyncio.to_thread(bridge.start)

    sink = tmp_path / "sink.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = [
            m
            for (m,) in _rows(
                sink,
                "SELECT message_id FROM received WHERE world = 'mail' ORDER BY received_at, rowid",
            )
        ]
        if len(got) >= MESSAGES:
            break
        await asyncio.sleep(0.2)
    assert got == ids, "every message once, in order, across the clean restart"
    # A clean stop repeats nothing: each delivery was handed to the sink exactly once. Both
    # counts in one statement (one snapshot): the Matrix world's deliveries, not waited for
    # above, may still be arriving, and two reads apart once saw 290 calls against 291 rows.
    ((ok_calls, received),) = _rows(
        sink,
        "SELECT (SELECT count(*) FROM calls WHERE outcome = 'ok'), (SELECT count(*) FROM received)",
    )
    assert ok_calls == received
    assert bridge.stop() == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_on_postgresql_read_spico_once_and_fail_over(
    database_url: str,
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    """Both deliver (the outbox is shared) but one reads the SPICO feed; when it dies the other
    takes over, and every message still arrives once."""
    reader = personas.colleagues[4]
    config = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        participants=[{"spico_id": reader, "mail": "lecteur2@app.mssante.fr", "delivery": "mail"}],
        poll_wait_seconds=2,
    )
    first = BridgeProcess(config, tmp_path / "first.log")
    second = BridgeProcess(config, tmp_path / "second.log")
    bridge_processes.extend([first, second])
    first.start()
    second.start()  # ready too: standing by is ready
    standing_by = "source spico: another process consumes it; standing by"
    await eventually(lambda: standing_by in second.tail(400), "the second process standing by")
    logs = first.tail(400) + second.tail(400)
    assert logs.count("source spico: consumed by this process") == 1
    assert logs.count(standing_by) == 1
    consumer = first if "consumed by this process" in first.tail(400) else second
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [reader], "Deux", "0")
    ids = [created.message.id]

    async def post(n: int) -> None:
        message = await spico_client.post_message(
            created.conversation.id,
            on_behalf_of=doctor,
            acting_as=doctor,
            body=str(n),
            idempotency_key=f"two-{created.conversation.id}-{n}",
        )
        ids.append(message.id)

    for n in range(1, 10):
        await post(n)
    consumer.kill()
    for n in range(10, 20):
        await post(n)

    sink = tmp_path / "sink.db"
    deadline = time.monotonic() + 60
    got: list[str] = []
    while time.monotonic() < deadline:
        got = [
            m
            for (m,) in _rows(
                sink,
                "SELECT message_id FROM received WHERE world = 'mail' ORDER BY received_at, rowid",
            )
        ]
        if len(got) >= len(ids):
            break
        await asyncio.sleep(0.2)
    assert got == ids, "every message once, in order, across the fail-over"
