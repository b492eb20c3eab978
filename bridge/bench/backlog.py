"""Sections ``backlog`` and ``crash``: what a restart costs.

- ``backlog``: the hub alone (the recording sink stands in for Matrix and mail): SPICO messages
  relayed while the bridge runs (the live rate, posts as fast as the bench can make them), then
  10,000 messages posted while it is down and drained when it starts again (the drained rate,
  from its launch until the last one is recorded).
- ``crash``: the mail world on Postfix + Dovecot; a burst of SPICO messages to a member who
  reads by mail while the bridge is killed with SIGKILL and restarted several times; the
  mails the member got twice (same Message-ID), per kill.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

from bridge.bench.mail import BRIDGE_ADDRESS
from bridge.bench.servers import BridgeProcess, Cast, Sandbox, bridge_config, mail_world
from bridge.bench.stats import Row, at_least, at_most
from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient

BACKLOG = 10_000
LIVE = 1_000
CONVERSATIONS = 10
#: Posts in flight at once (the sandbox answers each in a few ms).
POSTERS = 16
KILLS = 5
CRASH_MESSAGES = 300
DRAIN_TIMEOUT = 900.0


async def _post_many(
    client: SpicoClient, author: str, conversations: list[str], tag: str, count: int
) -> float:
    """Post ``count`` messages over the conversations, ``POSTERS`` at a time; returns the
    monotonic time of the first post."""
    numbers = iter(range(count))
    started = time.monotonic()

    async def poster() -> None:
        for n in numbers:
            await client.post_message(
                conversations[n % len(conversations)],
                on_behalf_of=author,
                acting_as=author,
                body=f"{tag} {n}",
                idempotency_key=f"{tag}-{n}",
            )

    await asyncio.gather(*(poster() for _ in range(POSTERS)))
    return started


def _recorded(sink: Path) -> int:
    """Messages the recording sink received (one per message and destination)."""
    if not sink.exists():
        return 0
    with sqlite3.connect(sink, timeout=30) as connection:
        try:
            row = connection.execute("SELECT count(*) FROM received WHERE kind = 'message'")
        except sqlite3.OperationalError:  # its table is not there yet
            return 0
        return int(row.fetchone()[0])


async def _until_recorded(sink: Path, count: int) -> float:
    """Wait until the sink holds ``count`` messages; returns the monotonic time it did."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while (got := _recorded(sink)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - got} of {count} deliveries never recorded")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def _conversations(client: SpicoClient, people: Cast, tag: str) -> list[str]:
    ids = []
    for n in range(CONVERSATIONS):
        created = await client.create_conversation(
            on_behalf_of=people.author,
            acting_as=people.author,
            members=[people.matrix_member, people.mail_member],
            subject=f"Bench {tag} {n}",
            message=f"{tag}-first {n}",
            idempotency_key=f"{tag}-conversation-{n}",
        )
        ids.append(created.conversation.id)
    return ids


async def _backlog(folder: Path, spico: Sandbox, people: Cast) -> tuple[float, float]:
    work = folder / "backlog"
    work.mkdir()
    sink = work / "sink.db"
    participants = [
        {"spico_id": people.matrix_member, "matrix_user": "@bench:localhost"},
        {"spico_id": people.mail_member, "mail": people.mail_address, "delivery": "mail"},
    ]
    config = bridge_config(work, spico, participants, testing={"recording_sink": str(sink)})
    bridge = BridgeProcess(work, config)
    # Each message reaches the room and the member who reads by mail: two deliveries.
    per_message = 2
    async with SpicoClient(spico.base_url, spico.token) as client:
        with bridge:
            conversations = await _conversations(client, people, "backlog")
            await _until_recorded(sink, CONVERSATIONS * per_message)
            base = _recorded(sink)
            started = await _post_many(client, people.author, conversations, "live", LIVE)
            ended = await _until_recorded(sink, base + LIVE * per_message)
            live = LIVE / (ended - started)
            base = _recorded(sink)
        await _post_many(client, people.author, conversations, "backlog", BACKLOG)
        launched = time.monotonic()
        with bridge:
            ended = await _until_recorded(sink, base + BACKLOG * per_message)
        drained = BACKLOG / (ended - launched)
    return live, drained


def backlog_section(folder: Path, spico: Sandbox, people: Cast) -> list[Row]:
    live, drained = asyncio.run(_backlog(folder, spico, people))
    ratio = drained / live
    return [
        Row(
            f"backlog: {BACKLOG:,} SPICO messages posted while down, drained msg/s / live msg/s "
            "(recording sink)",
            f"{drained:.0f} / {live:.0f} ({ratio:.2f})",
            at_least(ratio, 0.9, "≥ 0.9 × live"),
        )
    ]


def _message_ids(maildir: Path) -> list[str]:
    ids = []
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*")) if (maildir / folder).exists() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            ids.append(str(mail["Message-ID"]))
    return ids


async def _crash(
    folder: Path, spico: Sandbox, server: LocalMailServer, people: Cast, password: str
) -> tuple[int, int, int]:
    """(mails received, mails received twice, kills)."""
    work = folder / "crash"
    work.mkdir()
    participants = [
        {"spico_id": people.mail_member, "mail": people.mail_address, "delivery": "mail"}
    ]
    config = bridge_config(
        work, spico, participants, mail=mail_world(work, server, BRIDGE_ADDRESS, password)
    )
    bridge = BridgeProcess(work, config)
    maildir = server.maildir(people.mail_address)
    rng = random.Random(7)
    async with SpicoClient(spico.base_url, spico.token) as client:
        bridge.start()
        try:
            created = await client.create_conversation(
                on_behalf_of=people.author,
                acting_as=people.author,
                members=[people.mail_member],
                subject="Bench crash",
                message="crash-first 0",
                idempotency_key="crash-conversation",
            )
            conversation = created.conversation.id
            before = Counter(_message_ids(maildir))
            await _post_many(client, people.author, [conversation], "crash", CRASH_MESSAGES)
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                await asyncio.to_thread(bridge.kill)
                await asyncio.to_thread(bridge.start)
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while len(Counter(_message_ids(maildir)) - before) < CRASH_MESSAGES + 1:
                if time.monotonic() > deadline:
                    raise TimeoutError("the mails never all arrived")
                await asyncio.sleep(0.2)
        finally:
            bridge.stop()
    got = Counter(_message_ids(maildir)) - before
    twice = sum(n - 1 for n in got.values())
    return sum(got.values()), twice, KILLS


def crash_section(
    folder: Path, spico: Sandbox, server: LocalMailServer, people: Cast, password: str
) -> list[Row]:
    received, twice, kills = asyncio.run(_crash(folder, spico, server, people, password))
    per_kill = twice / kills
    return [
        Row(
            f"crash: mails received twice per kill -9 (one mail queue, {kills} kills during "
            f"{CRASH_MESSAGES} mails; {received} received)",
            f"{per_kill:.1f}",
            at_most(per_kill, 1, "≤ 1 per queue"),
        )
    ]
