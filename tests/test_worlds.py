"""Both worlds at once: one in-process bridge with ``matrix:`` and ``mail:`` enabled, on the
SPICO sandbox, the test Synapse and the test Postfix + Dovecot.

One professional follows by mail (a real mailbox, replies with a real SMTP client), another is
mapped to a Matrix user who joins the portal room. Messages from SPICO, from mail and from
Matrix must each reach the other two worlds once, and never come back to where they came from.
Assertions poll with deadlines; nothing waits a fixed time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient

from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config
from tests.fixtures.mailserver import BRIDGE_ADDRESS
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUser, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    InProcessBridge,
    StartBridge,
    bodies,
    join_when_invited,
    mail_section,
    mails,
    matrix_section,
    reply_by_mail,
    text_of,
    timeline,
)

PASSWORD = "worlds-password"


@dataclass
class Worlds:
    bridge: InProcessBridge
    server: LocalMailServer
    bot: MatrixUser
    reader: str  # SPICO id of the professional who follows by mail
    reader_address: str
    talker: str  # SPICO id of the professional mapped to ``matrix_user``
    matrix_user: MatrixUser
    users: MatrixUsers

    @property
    def store(self) -> Store:
        return self.bridge.store

    def mails(self, subject_part: str) -> list[EmailMessage]:
        """The mails in the reader's mailbox whose subject contains ``subject_part``."""
        return mails(self.server, self.reader_address, subject_part)

    def reply(self, original: EmailMessage, body: str) -> str:
        """Answer like a mail client through the submission port, original quoted."""
        return reply_by_mail(
            self.server, original, body, sender=self.reader_address, password=PASSWORD
        )

    async def portal(self, conversation_id: str) -> str:
        return await self.bridge.portal(conversation_id)

    async def joined(self, room_id: str) -> AsyncClient:
        """The Matrix user, logged in and joined to the portal once invited."""
        client = await self.users.login(self.matrix_user)
        await join_when_invited(client, room_id, self.matrix_user.user_id)
        return client


async def in_spico(client: SpicoClient, conversation: str, body: str) -> list[Any]:
    return [m for m in await client.list_messages(conversation) if m.body == body]


@pytest.fixture
async def worlds(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> Worlds:
    people = {p.id: p for p in spico_directory.professionals}
    # Colleagues no other test file maps, active (an inactive one gets notifications instead).
    reader, talker = [
        c
        for c in personas.colleagues[20:]
        if people[c].status != "inactive" and people[c].mssante_address
    ][:2]
    reader_address = people[reader].mssante_address.lower()
    mail_server.add_mailboxes({reader_address: PASSWORD})
    bot, matrix_user = matrix_users.new("wbot"), matrix_users.new("wtalker")
    secrets = tmp_path / "secrets"
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        poll_wait_seconds=2,
        participants=[
            {"spico_id": reader, "mail": reader_address, "delivery": "mail"},
            {"spico_id": talker, "matrix_user": matrix_user.user_id, "delivery": "matrix"},
        ],
        delivery={
            "workers": 2,
            "backoff_initial_seconds": 0.2,
            "backoff_max_seconds": 1,
            "max_attempts": 100,
        },
        matrix=matrix_section(synapse, bot, secrets),
        mail=mail_section(mail_server, secrets),
    )
    bridge = await in_process_bridge(path, cursors=(SPICO_CURSOR, MATRIX_CURSOR))
    return Worlds(
        bridge, mail_server, bot, reader, reader_address, talker, matrix_user, matrix_users
    )


async def start_conversation(
    worlds: Worlds, spico_client: SpicoClient, personas: Personas, subject: str, message: str
) -> tuple[str, str, AsyncClient]:
    """A conversation by the doctor with both followers; its room, joined by the Matrix user."""
    created = await open_conversation(
        spico_client, personas.doctor, [worlds.reader, worlds.talker], subject, message
    )
    conversation = created.conversation.id
    room_id = await worlds.portal(conversation)
    return conversation, room_id, await worlds.joined(room_id)


async def barrier(
    worlds: Worlds,
    spico_client: SpicoClient,
    personas: Personas,
    conversation: str,
    subject: str,
    client: AsyncClient,
    room_id: str,
) -> tuple[list[EmailMessage], list[dict[str, Any]]]:
    """A later SPICO message, awaited in both worlds: whatever came before it has arrived."""
    text = f"Barrière {time.time_ns()}"
    await spico_client.post_message(
        conversation,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body=text,
        idempotency_key=f"barrier-{conversation}-{text}",
    )

    def mailed() -> list[EmailMessage] | None:
        found = worlds.mails(subject)
        return found if any(text in text_of(m) for m in found) else None

    mails = await eventually(mailed, "the barrier in the mailbox")

    async def seen() -> list[dict[str, Any]] | None:
        events = await timeline(client, room_id)
        return events if bodies(events, text) else None

    return mails, await eventually(seen, "the barrier in the room")


async def test_a_spico_message_reaches_the_room_and_the_mailbox(
    worlds: Worlds, spico_client: SpicoClient, personas: Personas
) -> None:
    subject = f"Mondes {time.time_ns()}"
    text = "Bonjour aux deux mondes"
    _, room_id, client = await start_conversation(worlds, spico_client, personas, subject, text)

    async def in_room() -> list[dict[str, Any]]:
        return bodies(await timeline(client, room_id), text)

    events = await eventually(in_room, "the SPICO message in the room")
    assert len(events) == 1 and events[0]["sender"] == worlds.bot.user_id
    mails = await eventually(lambda: worlds.mails(subject), "the SPICO message by mail")
    assert len(mails) == 1
    assert text in text_of(mails[0])
    assert BRIDGE_ADDRESS in str(mails[0]["From"])


async def test_a_mail_reply_reaches_spico_and_the_room_once(
    worlds: Worlds, spico_client: SpicoClient, personas: Personas
) -> None:
    subject = f"Réponse {time.time_ns()}"
    conversation, room_id, client = await start_conversation(
        worlds, spico_client, personas, subject, "Qui passe demain ?"
    )
    (first,) = await eventually(lambda: worlds.mails(subject), "the first mail")
    answer = "Je passe demain matin."
    worlds.reply(first, answer)

    posted = await eventually(
        lambda: in_spico(spico_client, conversation, answer), "the mail reply in SPICO"
    )
    assert len(posted) == 1 and posted[0].author_id == worlds.reader  # quote stripped: exact

    async def in_room() -> list[dict[str, Any]]:
        return bodies(await timeline(client, room_id), answer)

    await eventually(in_room, "the mail reply in the room")
    mails, events = await barrier(
        worlds, spico_client, personas, conversation, subject, client, room_id
    )
    relayed = bodies(events, answer)
    assert len(relayed) == 1 and relayed[0]["sender"] == worlds.bot.user_id
    assert "a écrit" not in relayed[0]["content"]["body"], "the quote stays out of the room"
    assert not any(answer in text_of(m) for m in mails), "not mailed back to its sender"
    assert len(await in_spico(spico_client, conversation, answer)) == 1


async def test_a_matrix_message_reaches_spico_and_the_mailbox_once(
    worlds: Worlds, spico_client: SpicoClient, personas: Personas
) -> None:
    subject = f"Matrix {time.time_ns()}"
    conversation, room_id, client = await start_conversation(
        worlds, spico_client, personas, subject, "Des nouvelles ?"
    )
    text = "Réponse depuis Matrix"
    sent = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    event_id = sent.event_id  # type: ignore[union-attr]

    posted = await eventually(
        lambda: in_spico(spico_client, conversation, text), "the Matrix message in SPICO"
    )
    assert len(posted) == 1 and posted[0].author_id == worlds.talker
    assert posted[0].idempotency_key == f"matrix:{event_id}"
    await eventually(
        lambda: [m for m in worlds.mails(subject) if text in text_of(m)],
        "the Matrix message by mail",
    )
    mails, events = await barrier(
        worlds, spico_client, personas, conversation, subject, client, room_id
    )
    assert [e["sender"] for e in bodies(events, text)] == [worlds.matrix_user.user_id], (
        "no echo into the room"
    )
    assert len([m for m in mails if text in text_of(m)]) == 1
    assert len(await in_spico(spico_client, conversation, text)) == 1
