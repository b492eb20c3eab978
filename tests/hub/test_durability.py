"""Nothing lost, nothing duplicated: a real bridge process killed with SIGKILL mid-stream.

The sandbox produces 1,000 messages over 20 conversations while the bridge (a subprocess on
SQLite or PostgreSQL) is killed at 5 random moments and restarted. The recording sink stands in
for Matrix and mail as an idempotent destination (transaction ids). At the end every message
has reached every destination once, in order per conversation, and the bridge handed the sink
no more re-deliveries than the kills can explain.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bridge.hub.outbox import BATCH, RUN
from bridge.spico.client import SpicoClient
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation

CONVERSATIONS = 20
MESSAGES = 1000
KILLS = 5
WORKERS = 4
SETTLE_TIMEOUT = 240.0


def _participants(personas: Personas) -> list[dict[str, str]]:
    """For conversation i: a member who reads by mail and one who reads in Matrix."""
    mapped = []
    for i in range(CONVERSATIONS):
        by_mail, in_matrix = personas.colleagues[2 * i], personas.colleagues[2 * i + 1]
        mapped.append(
            {"spico_id": by_mail, "mail": f"mail{i}@durability.mssante.fr", "delivery": "mail"}
        )
        mapped.append(
            {"spico_id": in_matrix, "matrix_user": f"@m{i}:localhost", "delivery": "matrix"}
        )
    return mapped


async def _produce(client: SpicoClient, personas: Personas, rng: random.Random) -> dict:
    """1,000 messages over 20 conversations; returns {conversation: [message ids in order]}."""
    doctor = personas.doctor
    conversations: dict[str, list[str]] = {}
    members: dict[str, tuple[str, str]] = {}
    for i in range(CONVERSATIONS):
        pair = (personas.colleagues[2 * i], personas.colleagues[2 * i + 1])
        created = await open_conversation(
            client, doctor, list(pair), f"Durabilité {i}", f"message 0 de {i}"
        )
        conversations[created.conversation.id] = [created.message.id]
        members[created.conversation.id] = pair
    per_conversation = (MESSAGES - CONVERSATIONS) // CONVERSATIONS

    async def post_all(conversation_id: str) -> None:
        """One conversation's messages in order; conversations interleave at random."""
        for n in range(1, per_conversation + 1):
            await asyncio.sleep(rng.uniform(0, 0.02))
            # Authors alternate between the doctor and the Matrix reader (never the mail one).
            author = doctor if n % 2 else members[conversation_id][1]
            message = await client.post_message(
                conversation_id,
                on_behalf_of=author,
                acting_as=author,
                body=f"message {n}",
                idempotency_key=f"durability-{conversation_id}-{n}",
            )
            conversations[conversation_id].append(message.id)

    await asyncio.gather(*(post_all(cid) for cid in list(conversations)))
    assert sum(len(ids) for ids in conversations.values()) == MESSAGES
    return conversations


def _received(sink: Path) -> list[tuple[str, str, str, str, int]]:
    if not sink.exists():
        return []
    with sqlite3.connect(sink, timeout=30) as connection:
        return connection.execute(
            "SELECT world, destination, kind, message_id, event_seq FROM received "
            "ORDER BY received_at, rowid"
        ).fetchall()


def _ok_calls(sink: Path) -> int:
    with sqlite3.connect(sink, timeout=30) as connection:
        return connection.execute("SELECT count(*) FROM calls WHERE outcome = 'ok'").fetchone()[0]


@pytest.mark.parametrize(
    ("backend", "failure_rate"),
    [("sqlite", 0.0), ("sqlite", 0.2), ("postgresql", 0.0), ("postgresql", 0.2)],
)
async def test_sigkill_loses_and_duplicates_nothing(
    backend: str,
    failure_rate: float,
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    database_url = (
        f"sqlite:///{tmp_path / 'bridge.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    if backend == "postgresql":
        from tests.fixtures.postgres import _truncate_all

        _truncate_all(database_url)
    rng = random.Random(f"{backend}-{failure_rate}")
    config = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        participants=_participants(personas),
        testing={"failure_rate": failure_rate},
        delivery={
            "workers": WORKERS,
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.5,
            "max_attempts": 30,
        },
        poll_wait_seconds=2,
    )
    bridge = BridgeProcess(config, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()

    async def killer() -> None:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            await asyncio.to_thread(bridge.kill)
            await asyncio.to_thread(bridge.start)

    produced, _ = await asyncio.gather(_produce(spico_client, personas, rng), killer())
    assert bridge.kills == KILLS

    sink = tmp_path / "sink.db"
    expected = {
        ("matrix", cid, "message", mid) for cid, mids in produced.items() for mid in mids
    } | {
        ("mail", personas.colleagues[2 * i], "message", mid)
        for i, (cid, mids) in enumerate(produced.items())
        for mid in mids
    }
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        received = _received(sink)
        got = {(w, d, k, m) for w, d, k, m, _ in received if k == "message"}
        if expected <= got or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    bridge.stop()

    missing = expected - got
    assert not missing, f"{len(missing)} deliveries lost, e.g. {sorted(missing)[:3]}"
    # Our 20 conversations only (the session's sandbox is shared with other tests).
    ours = [
        r
        for r in received
        if r[1] in produced or r[1] in {personas.colleagues[2 * i] for i in range(CONVERSATIONS)}
    ]
    messages = [r for r in ours if r[2] == "message"]
    assert len(messages) == len(expected), "a message reached a destination twice"
    room_states = [r for r in ours if r[0] == "matrix" and r[2] == "state"]
    assert sorted(r[1] for r in room_states) == sorted(produced), "one room creation each"
    # In order per conversation and destination: sink arrival order follows SPICO's order.
    arrivals: dict[tuple[str, str], list[int]] = defaultdict(list)
    for world, destination, _kind, _mid, seq in ours:
        arrivals[(world, destination)].append(seq)
    for queue, seqs in arrivals.items():
        assert seqs == sorted(seqs), f"out of order for {queue}"
    for cid, mids in produced.items():
        room = [m for w, d, k, m, _ in ours if (w, d, k) == ("matrix", cid, "message")]
        assert room == mids, "the room got the conversation's messages in SPICO's order"
    # At-least-once underneath: a kill may repeat at most the deliveries in flight (each
    # worker holds up to a batch of queue heads, each with its run); the sinks absorb repeats.
    repeats = _ok_calls(sink) - len(received)
    assert 0 <= repeats <= KILLS * WORKERS * BATCH * RUN
