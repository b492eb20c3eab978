"""Starting a SPICO conversation by mail, end to end: a professional writes a new mail to the
bridge's address through real Postfix submission; the bridge (in-process, reading Dovecot over
IMAP) creates the conversation in the SPICO sandbox, or answers why not. Every other case
(patient lines, subjects, duplicates, SPICO down or refusing) is unit-tested in
test_newconv_inbox.py. On PostgreSQL (the store's backends are tested in tests/store)."""

from __future__ import annotations

import email.utils
import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient
from bridge.spico.models import Conversation
from bridge.spico.sandbox.seed import Directory
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config
from tests.fixtures.mailserver import BRIDGE_ADDRESS
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import SPICO_CURSOR, StartBridge, mail_section, mails, text_of

PASSWORD = "pro-password"

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
IMAP_CURSOR = "mail:imap:INBOX"


@dataclass
class World:
    store: Store
    server: LocalMailServer
    doctor: str
    doctor_address: str
    members: tuple[str, str]
    member_addresses: tuple[str, str]
    structure_address: str

    def send(
        self,
        subject: str,
        body: str,
        *,
        cc: Sequence[str] = (),
        mid: str | None = None,
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> str:
        """A new mail from the doctor, To the bridge, Cc ``cc``, through authenticated
        submission (envelope: the bridge only, as each recipient's server would get its own)."""
        mail = EmailMessage()
        mail["From"] = f"Dr Test <{self.doctor_address}>"
        mail["To"] = f"SPICO <{BRIDGE_ADDRESS}>"
        if cc:
            mail["Cc"] = ", ".join(cc)
        mail["Subject"] = subject
        mail["Message-ID"] = mid or email.utils.make_msgid(domain="client.sandbox.mssante.fr")
        mail.set_content(body)
        for filename, content_type, data in attachments:
            maintype, _, subtype = content_type.partition("/")
            mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        context = ssl.create_default_context(cafile=str(self.server.ca_file))
        with smtplib.SMTP("127.0.0.1", self.server.ports.submission, timeout=10) as client:
            client.starttls(context=context)
            client.login(self.doctor_address, PASSWORD)
            client.send_message(mail, to_addrs=[BRIDGE_ADDRESS])
        return str(mail["Message-ID"])

    def answers(self, mid: str) -> list[EmailMessage]:
        """The bridge's answers to the mail ``mid`` in the doctor's mailbox."""
        return [
            m
            for m in mails(self.server, self.doctor_address, "Conversation non créée")
            if str(m["In-Reply-To"]).strip() == mid
        ]


@pytest.fixture
async def world(
    database_url: str,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    personas: Personas,
    mail_server: LocalMailServer,
    tmp_path: Path,
    in_process_bridge: StartBridge,
) -> World:
    people = {p.id: p for p in spico_directory.professionals}
    members = (personas.colleagues[10], personas.colleagues[11])
    addresses = {m: people[m].mssante_address.lower() for m in (personas.doctor, *members)}
    mail_server.add_mailboxes({address: PASSWORD for address in addresses.values()})
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        poll_wait_seconds=2,
        mail=mail_section(mail_server, tmp_path / "secrets"),
    )
    # Both cursors: mail that arrives before the IMAP side's first start would be left aside.
    bridge = await in_process_bridge(path, cursors=(SPICO_CURSOR, IMAP_CURSOR))
    return World(
        store=bridge.store,
        server=mail_server,
        doctor=personas.doctor,
        doctor_address=addresses[personas.doctor],
        members=members,
        member_addresses=(addresses[members[0]], addresses[members[1]]),
        structure_address=spico_directory.structures[0].mssante_address.lower(),
    )


async def _conversations(client: SpicoClient, member: str, subject: str) -> list[Conversation]:
    page = await client.list_conversations(member=member, limit=200)
    return [c for c in page.conversations if c.subject == subject]


async def test_a_new_mail_with_two_directory_addresses_in_cc_starts_a_conversation(
    world: World, spico_client: SpicoClient
) -> None:
    subject = f"Retour à domicile {time.time_ns()}"
    world.send(
        subject,
        "Bonjour,\n\nPouvez-vous organiser le retour à domicile ?\n\n-- \nDr Test\nCabinet\n",
        cc=world.member_addresses,
        attachments=[("ordonnance.pdf", "application/pdf", b"%PDF-1.4 ordonnance")],
    )
    (conversation,) = await eventually(
        lambda: _conversations(spico_client, world.doctor, subject), "the conversation in SPICO"
    )
    assert conversation.created_by == world.doctor
    assert set(conversation.member_ids) == {world.doctor, *world.members}
    assert conversation.patient is None

    (first,) = await spico_client.list_messages(conversation.id)
    assert first.body == "Bonjour,\n\nPouvez-vous organiser le retour à domicile ?"
    assert first.author_id == world.doctor and first.sent_by == world.doctor
    assert [(a.filename, a.content_type) for a in first.attachments] == [
        ("ordonnance.pdf", "application/pdf")
    ]

    # The sender gets the root of their thread, and answers in it like any member.
    (confirmation,) = await eventually(
        lambda: mails(world.server, world.doctor_address, subject), "the confirmation"
    )
    assert "bridge+" in str(confirmation["Reply-To"])
    assert confirmation["Auto-Submitted"] == "auto-replied"
    assert "est créée" in text_of(confirmation)
    reply = EmailMessage()
    reply["From"] = world.doctor_address
    reply["To"] = str(confirmation["Reply-To"])
    reply["Subject"] = "Re: " + str(confirmation["Subject"])
    reply["In-Reply-To"] = str(confirmation["Message-ID"])
    reply["References"] = f"{confirmation['References']} {confirmation['Message-ID']}"
    reply["Message-ID"] = email.utils.make_msgid(domain="client.sandbox.mssante.fr")
    reply.set_content("Précision : passage infirmier le matin.")
    context = ssl.create_default_context(cafile=str(world.server.ca_file))
    with smtplib.SMTP("127.0.0.1", world.server.ports.submission, timeout=10) as client:
        client.starttls(context=context)
        client.login(world.doctor_address, PASSWORD)
        client.send_message(reply, to_addrs=[BRIDGE_ADDRESS])

    async def replied() -> list:
        found = await spico_client.list_messages(conversation.id)
        return [m for m in found if m.body == "Précision : passage infirmier le matin."]

    (answer,) = await eventually(replied, "the reply to the confirmation in SPICO")
    assert answer.author_id == world.doctor
    assert len(await _conversations(spico_client, world.doctor, subject)) == 1


async def test_an_unknown_address_gets_an_explanation_and_no_conversation(
    world: World, spico_client: SpicoClient
) -> None:
    subject = f"Avis groupé {time.time_ns()}"
    unknown = f"inconnu.{time.time_ns()}@sandbox.mssante.fr"
    mid = world.send(
        subject,
        "Bonjour à tous",
        cc=[world.member_addresses[0], unknown, world.structure_address, "dr.x@gmail.com"],
    )
    (answer,) = await eventually(lambda: world.answers(mid), "the answer to the sender")
    assert answer["Auto-Submitted"] == "auto-replied"
    text = text_of(answer)
    assert f"{unknown} : absente de l'annuaire SPICO" in text
    assert f"{world.structure_address} : adresse d'une structure" in text
    assert "dr.x@gmail.com : hors de l'espace de confiance" in text
    assert world.member_addresses[0] not in text
    assert "Aucune conversation n'a été créée" in text
    # The outcome is recorded before the answer is sent: nothing was created.
    assert await _conversations(spico_client, world.doctor, subject) == []
    assert await _conversations(spico_client, world.members[0], subject) == []
