"""Self-service links end to end, against the real Synapse, Postfix + Dovecot and the SPICO
sandbox (bridge in-process): an unmapped user invites the bot and is told how to link; ``lier``
mails a code to the directory's address, read here over IMAP; a wrong code, an expired code, a
professional already linked are refused; the right code links the account (invited to the
professional's portal at once); ``délier`` kicks it. The rules themselves are unit-tested in
tests/core/test_linking.py.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nio import AsyncClient, RoomCreateResponse
from sqlalchemy import select, update

from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store.models import LinkCode
from tests.fixtures.bridge import scenario_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    StartBridge,
    join_when_invited,
    mail_section,
    matrix_section,
    membership,
    read_inbox,
    timeline,
)
from tests.matrix.test_commands import ask

PASSWORD = "link-password"


async def direct_room(client: AsyncClient, bot: str) -> tuple[str, str]:
    """A direct room with the bot, and its first words there."""
    created = await client.room_create(is_direct=True, invite=[bot])
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id

    async def welcome() -> str | None:
        for event in await timeline(client, room_id):
            if event["sender"] == bot and event["type"] == "m.room.message":
                return str(event["content"]["body"])
        return None

    return room_id, await eventually(welcome, "the bot's welcome")


def codes(mail_server: LocalMailServer, address: str) -> list[str]:
    """The link codes in the mailbox, oldest first, read over IMAP."""
    found = []
    for mail in read_inbox(address, PASSWORD, mail_server.ports.imaps, str(mail_server.ca_file)):
        if "Code de liaison" in str(mail["Subject"]):
            body = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
            found.append(re.search(r"Votre code : (\d{6})", body).group(1))  # type: ignore[union-attr]
    return found


async def test_a_professional_links_and_unlinks_their_matrix_account(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge")  # libraries: capped by ops
    people = {p.id: p for p in spico_directory.professionals}
    talker = personas.colleagues[-3]
    pro, other_pro = [c for c in personas.colleagues[-9:-3] if people[c].mssante_address][:2]
    addresses = {p: people[p].mssante_address.lower() for p in (pro, other_pro)}
    mail_server.add_mailboxes({a: PASSWORD for a in addresses.values()})
    bot, talker_user = matrix_users.new("lbot"), matrix_users.new("ltalk")
    linker, intruder = matrix_users.new("linker"), matrix_users.new("intru")
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [{"spico_id": talker, "matrix_user": talker_user.user_id}],
        matrix=matrix_section(synapse, bot, tmp_path / "secrets", self_service={"enabled": True}),
        mail=mail_section(mail_server, tmp_path / "secrets"),
    )
    bridge = await in_process_bridge(path, cursors=(SPICO_CURSOR, MATRIX_CURSOR))
    created = await open_conversation(spico_client, talker, [pro], "Liaison", "Bonjour")
    portal = await bridge.portal(created.conversation.id)

    # An unmapped user who invites the bot is told how to link.
    client = await matrix_users.login(linker)
    room_id, welcome = await direct_room(client, bot.user_id)
    assert "lier" in welcome
    assert "« lier »" in await ask(client, room_id, "recherche dupont")

    # lier: the code goes to the directory's address (masked in the answer), read over IMAP.
    sent = await ask(client, room_id, f"lier {addresses[pro]}")
    assert "Un code a été envoyé" in sent and addresses[pro] not in sent
    [code] = await eventually(lambda: codes(mail_server, addresses[pro]), "the code mail")
    wrong = "000000" if code != "000000" else "111111"
    assert "Essais restants : 4" in await ask(client, room_id, f"code {wrong}")
    linked = await ask(client, room_id, f"code {code}")
    assert "Votre compte Matrix est lié" in linked and people[pro].last_name in linked
    await join_when_invited(client, portal, linker.user_id)  # invited at once
    assert "déjà lié" in await ask(client, room_id, f"lier {pro}")

    # A second account cannot link a professional already linked.
    other = await matrix_users.login(intruder)
    other_room, _ = await direct_room(other, bot.user_id)
    assert "a déjà un compte Matrix lié" in await ask(other, other_room, f"lier {pro}")
    assert len(codes(mail_server, addresses[pro])) == 1, "no code was sent for it"

    # An expired code is refused (and cannot be used after).
    assert "Un code a été envoyé" in await ask(other, other_room, f"lier {other_pro}")
    [late] = await eventually(lambda: codes(mail_server, addresses[other_pro]), "the code")
    async with bridge.store.transaction() as session:
        await session.execute(
            update(LinkCode)
            .where(LinkCode.matrix_user == intruder.user_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert "a expiré" in await ask(other, other_room, f"code {late}")
    assert "Aucun code en attente" in await ask(other, other_room, f"code {late}")

    # délier: the account leaves the professional's portal at once.
    assert "n'est plus lié" in await ask(client, room_id, "délier")
    assert await membership(client, portal, linker.user_id) == "leave"
    assert "« lier »" in await ask(client, room_id, "délier"), "unmapped again"
    assert "matrix command code handled" in caplog.text
    for secret in (code, late):
        assert secret not in caplog.text, "a code is never logged"
    async with bridge.store.transaction() as session:
        kept = (await session.scalars(select(LinkCode.mail_code))).all()
    assert kept == [None, None], "once mailed, only the codes' digests stay"
