"""Crash window of the real worlds: the bridge killed with SIGKILL 10 times while SPICO, Matrix
and mail all send (real Synapse, Postfix + Dovecot, the SPICO sandbox; SQLite).

SPICO and Matrix are idempotent destinations (idempotency keys, transaction ids): nothing is
lost or duplicated there. Mail has no transaction id: each mail is recorded as sent right after
the server's 250, so a kill repeats at most the one mail in flight per queue (conversation ×
member); the test counts the repeats (same Message-ID twice in a mailbox) and bounds them by
one per mail queue per kill.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest
from nio import AsyncClient

from bridge.mail.localserver import SANDBOX_DOMAIN, LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.models import Message
from bridge.spico.sandbox.seed import Directory
from bridge.store import matrix as matrix_repo
from bridge.store.repositories import Store
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    join_when_invited,
    mail_section,
    mails,
    matrix_section,
    reply_by_mail,
    text_of,
    timeline,
)

CONVERSATIONS = 4
SPICO_MESSAGES = 40  # per conversation, from SPICO
MATRIX_MESSAGES = 10  # per conversation, from the Matrix member
MAIL_REPLIES = 3  # per conversation, from the mail member
KILLS = 10
SETTLE = 240.0
PASSWORD = "crash-password"


def duplicates_per_mailbox(received: list[EmailMessage]) -> int:
    """Mails received more than once (same Message-ID): the repeats a crash caused."""
    counts = Counter(str(m["Message-ID"]) for m in received)
    return sum(n - 1 for n in counts.values())


BODY = re.compile(r"\b(?:spico|matrix|mail)-\d+-\d+\b")


def repeated_contents(received: list[EmailMessage]) -> int:
    """Messages carried by more than one distinct mail (a notification, then a digest again)."""
    distinct = {str(m["Message-ID"]): m for m in received}.values()
    counts = Counter(body for m in distinct for body in set(BODY.findall(text_of(m))))
    return sum(n - 1 for n in counts.values())


async def all_messages(client: SpicoClient, conversation: str) -> list[Message]:
    found: list[Message] = []
    while page := await client.list_messages(
        conversation, after=found[-1].id if found else None, limit=100
    ):
        found.extend(page)
    return found


@pytest.mark.timeout(900)
async def test_ten_sigkills_lose_nothing_and_repeat_at_most_one_mail_per_queue(
    synapse: Synapse,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    spico_directory: Directory,
    matrix_users: MatrixUsers,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    bot, alice = matrix_users.new("crashbot"), matrix_users.new("alice")
    in_matrix = personas.colleagues[13]
    by_mail = personas.colleagues[14 : 14 + CONVERSATIONS]
    tag = secrets.token_hex(3)
    addresses = {m: f"crash{i}-{tag}@{SANDBOX_DOMAIN}" for i, m in enumerate(by_mail)}
    # Inactive: notified by mail (one notification per period, then digests).
    notified = next(
        p
        for p in spico_directory.professionals
        if p.status == "inactive" and p.has_account and p.id not in {personas.doctor, *by_mail}
    )
    notified_address = notified.mssante_address.lower()
    mail_server.add_mailboxes({address: PASSWORD for address in addresses.values()})
    mail_server.add_mailboxes({notified_address: PASSWORD})
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database,
        poll_wait_seconds=2,
        participants=[
            {"spico_id": in_matrix, "matrix_user": alice.user_id, "delivery": "matrix"},
            *({"spico_id": m, "mail": a, "delivery": "mail"} for m, a in addresses.items()),
        ],
        delivery={"workers": 4, "backoff_initial_seconds": 0.1, "backoff_max_seconds": 1},
        matrix=matrix_section(synapse, bot, tmp_path / "secrets"),
        mail=mail_section(mail_server, tmp_path / "secrets"),
        sections={"notifications": {"period_minutes": 1}},
    )
    bridge = BridgeProcess(path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()

    doctor = personas.doctor
    subjects: dict[str, str] = {}
    member_of: dict[str, str] = {}
    for i, member in enumerate(by_mail):
        subject = f"Crash {tag} {i}"
        created = await open_conversation(
            spico_client, doctor, [in_matrix, member, notified.id], subject, f"spico-{i}-0"
        )
        subjects[created.conversation.id] = subject
        member_of[created.conversation.id] = member
    store = await Store.open(database)
    try:

        async def portals() -> dict[str, str] | None:
            async with store.transaction() as session:
                rows = {c: await matrix_repo.get_portal(session, c) for c in subjects}
            return {c: r.room_id for c, r in rows.items() if r} if all(rows.values()) else None

        rooms: dict[str, str] = await eventually(portals, "the portal rooms", within=60)
    finally:
        await store.close()
    client: AsyncClient = await matrix_users.login(alice)
    for room in rooms.values():
        await join_when_invited(client, room, alice.user_id)
    firsts: dict[str, EmailMessage] = {}
    for conversation, subject in subjects.items():
        address = addresses[member_of[conversation]]
        got = await eventually(
            lambda a=address, s=subject: mails(mail_server, a, s), "the first mail"
        )
        firsts[conversation] = got[0]

    rng = random.Random(tag)
    sent_matrix: list[tuple[str, str]] = []
    sent_mail: list[tuple[str, str]] = []

    async def from_spico(conversation: str, i: int) -> None:
        for n in range(1, SPICO_MESSAGES):
            await asyncio.sleep(rng.uniform(0, 0.05))
            await spico_client.post_message(
                conversation,
                on_behalf_of=doctor,
                acting_as=doctor,
                body=f"spico-{i}-{n}",
                idempotency_key=f"crash-{conversation}-{n}",
            )

    async def from_matrix(conversation: str, i: int) -> None:
        for n in range(MATRIX_MESSAGES):
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            body = f"matrix-{i}-{n}"
            content = {"msgtype": "m.text", "body": body}
            await client.room_send(rooms[conversation], "m.room.message", content)
            sent_matrix.append((conversation, body))

    async def from_mail(conversation: str, i: int) -> None:
        member = member_of[conversation]
        for n in range(MAIL_REPLIES):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            body = f"mail-{i}-{n}"
            await asyncio.to_thread(
                reply_by_mail,
                mail_server,
                firsts[conversation],
                body,
                sender=addresses[member],
                password=PASSWORD,
            )
            sent_mail.append((conversation, body))

    async def killer() -> None:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await asyncio.to_thread(bridge.kill)
            await asyncio.to_thread(bridge.start)

    await asyncio.gather(
        killer(),
        *(from_spico(c, i) for i, c in enumerate(subjects)),
        *(from_matrix(c, i) for i, c in enumerate(subjects)),
        *(from_mail(c, i) for i, c in enumerate(subjects)),
    )
    assert bridge.kills == KILLS

    # SPICO: every Matrix message and every mail reply, once.
    async def in_spico() -> dict[str, list[str]] | None:
        bodies = {c: [m.body for m in await all_messages(spico_client, c)] for c in subjects}
        done = all(b in bodies[c] for c, b in [*sent_matrix, *sent_mail])
        return bodies if done else None

    bodies = await eventually(in_spico, "every Matrix and mail message in SPICO", within=SETTLE)
    for conversation, body in [*sent_matrix, *sent_mail]:
        assert bodies[conversation].count(body) == 1, f"{body} once in SPICO"

    # Matrix: every SPICO message and every mail reply, once, in SPICO's order.
    from_bot_expected = {c: [b for b in bodies[c] if not b.startswith("matrix-")] for c in subjects}

    async def in_rooms() -> dict[str, list[str]] | None:
        shown = {}
        for c, room in rooms.items():
            events = await timeline(client, room)
            shown[c] = [e["content"]["body"] for e in events if e["sender"] == bot.user_id]
        done = all(
            all(any(s.endswith(b) for s in shown[c]) for b in from_bot_expected[c]) for c in rooms
        )
        return shown if done else None

    shown = await eventually(in_rooms, "every SPICO message in the rooms", within=SETTLE)
    for c, expected in from_bot_expected.items():
        for body in expected:
            assert sum(s.endswith(body) for s in shown[c]) == 1, f"{body} once in its room"
        order = [next(i for i, s in enumerate(shown[c]) if s.endswith(b)) for b in expected]
        assert order == sorted(order), "the room got the conversation in SPICO's order"

    # Mail: every message not written by the mail member, at least once; repeats bounded.
    def in_mailboxes() -> dict[str, list[EmailMessage]] | None:
        got = {c: mails(mail_server, addresses[member_of[c]], s) for c, s in subjects.items()}
        for c in subjects:
            heads = {text_of(m).split("\n", 1)[0].strip() for m in got[c]}
            if not all(b in heads for b in bodies[c] if not b.startswith("mail-")):
                return None
        return got

    received = await eventually(in_mailboxes, "every message by mail", within=SETTLE)
    bridge.stop()
    repeats = {c: duplicates_per_mailbox(m) for c, m in received.items()}
    notifications = {c: mails(mail_server, notified_address, s) for c, s in subjects.items()}
    assert all(notifications.values()), "the inactive member was notified of each conversation"
    repeats |= {f"notify {c}": duplicates_per_mailbox(m) for c, m in notifications.items()}
    repeats |= {f"content {c}": repeated_contents(m) for c, m in notifications.items()}
    print(f"mail repeats per queue after {KILLS} kills: {repeats}")
    for queue, count in repeats.items():
        assert count <= KILLS, f"{count} repeated mails in {queue} after {KILLS} kills"
