"""Missed-message mails end to end, against the real Synapse, Postfix + Dovecot and the SPICO
sandbox (bridge in-process): of two members who follow a conversation in Matrix, the one who
does not read a message within ``notifications.matrix_unread_minutes`` gets one notification
mail; the one whose read receipt reached the bridge gets none. In relay mode the receipt comes
with the bot's sync; in appservice mode the homeserver pushes it with a transaction
(``receive_ephemeral``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store.models import Delivery, MatrixUnread
from tests.fixtures.bridge import scenario_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import AppserviceSynapse, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    StartBridge,
    bodies,
    join_when_invited,
    mail_section,
    mails,
    matrix_section,
    timeline,
)

#: Long enough for the reader's receipt to reach the bridge first, short enough for a test.
#: The clock starts when the message is delivered, before the reader has joined and synced:
#: under a full suite's load (appservice mode: the receipt then comes through a transaction)
#: 15 s was seen to be too short once.
UNREAD_MINUTES = 0.5


@dataclass
class MatrixSide:
    """The homeserver of one mode, its users, and the bridge's ``matrix:`` section there."""

    users: MatrixUsers
    section: dict[str, Any]
    cursors: tuple[str, ...]


@pytest.fixture(params=["relay", "appservice"])
async def matrix_side(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MatrixSide]:
    if request.param == "relay":
        synapse: Synapse = request.getfixturevalue("synapse")
        users = MatrixUsers(synapse)
        bot = users.new("mbot")
        side = MatrixSide(
            users, matrix_section(synapse, bot, tmp_path / "secrets"), (SPICO_CURSOR, MATRIX_CURSOR)
        )
    else:
        server: AppserviceSynapse = request.getfixturevalue("appservice_synapse")
        users = MatrixUsers(server.synapse)
        side = MatrixSide(users, server.matrix_section(), (SPICO_CURSOR,))
    try:
        yield side
    finally:
        for client in users.clients:
            await client.close()


async def test_a_member_who_does_not_read_gets_one_mail_and_a_reader_none(
    matrix_side: MatrixSide,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> None:
    people = {p.id: p for p in spico_directory.professionals}
    reader, sleeper = [c for c in personas.colleagues[-16:-12] if people[c].mssante_address][:2]
    addresses = {p: people[p].mssante_address.lower() for p in (reader, sleeper)}
    mail_server.add_mailboxes({a: "missed-password" for a in addresses.values()})
    matrix_users = matrix_side.users
    users = {reader: matrix_users.new("mread"), sleeper: matrix_users.new("msleep")}
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [{"spico_id": s, "matrix_user": u.user_id} for s, u in users.items()],
        matrix=matrix_side.section,
        mail=mail_section(mail_server, tmp_path / "secrets"),
        sections={"notifications": {"matrix_unread_minutes": UNREAD_MINUTES}},
    )
    bridge = await in_process_bridge(path, cursors=matrix_side.cursors)
    subject = f"Non lu {time.time_ns()}"
    created = await open_conversation(
        spico_client,
        personas.doctor,
        [reader, sleeper],
        subject,
        "Pouvez-vous confirmer la posologie ?",
    )
    await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body="Et la date du prochain bilan ?",
        idempotency_key=f"missed-{created.conversation.id}",
    )
    room_id = await bridge.portal(created.conversation.id)
    clients = {member: await matrix_users.login(user) for member, user in users.items()}
    for member, client in clients.items():
        await join_when_invited(client, room_id, users[member].user_id)

    async def delivered() -> bool:
        async with bridge.store.transaction() as session:
            rows = (
                await session.execute(
                    select(Delivery.state).where(
                        Delivery.world == "matrix", Delivery.kind == "message"
                    )
                )
            ).all()
        return len(rows) == 2 and all(state == "done" for (state,) in rows)

    # Once both messages are delivered to the room, the reader reads them in Matrix (a receipt
    # on the latest): the bridge's sync gets it.
    await eventually(delivered, "both messages delivered to the room")
    client = clients[reader]
    [message] = await eventually(
        lambda: bodies_in(client, room_id, "prochain bilan"), "the latest message in the room"
    )
    marked = await client.update_receipt_marker(room_id, message["event_id"])
    assert type(marked).__name__ == "UpdateReceiptMarkerResponse", marked

    [mail] = await eventually(
        lambda: mails(mail_server, addresses[sleeper], subject),
        "the missed-message mail",
        within=UNREAD_MINUTES * 60 + 60,  # the delay, then the check's pace and the mail
    )
    listed = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "posologie" in listed and "prochain bilan" in listed, "every unread message"

    async def checked() -> bool:
        async with bridge.store.transaction() as session:
            return not await session.scalar(select(func.count()).select_from(MatrixUnread))

    await eventually(checked, "every unread row handled")
    async with bridge.store.transaction() as session:
        notified = (
            await session.scalars(
                select(Delivery.destination).where(
                    Delivery.world == "mail", Delivery.kind == "notify"
                )
            )
        ).all()
    assert notified == [sleeper], "one mail, to the member who did not read"
    assert not mails(mail_server, addresses[reader], subject)


async def bodies_in(client, room_id: str, text: str):  # type: ignore[no-untyped-def]
    return bodies(await timeline(client, room_id), text) or None
