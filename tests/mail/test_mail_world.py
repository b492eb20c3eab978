"""The mail world end to end: the sandbox (SPICO), the bridge in-process, and real Postfix →
LMTP → Dovecot started by the test session. Professionals reply with a real SMTP client.

The proof that a thread goes out and a reply comes back once, that a stranger gets one polite
refusal, and that an SMTP 4xx and a Dovecot outage lose nothing. Threading, notifications,
bounces, attachments and every verdict are unit-tested (test_outbound.py, test_notifications.py,
test_inbox.py). Against the servers too: the caps on one mail's attachments (the author is
told) and a SIGHUP reloading the trust space. On PostgreSQL (the store's backends are tested in
tests/store)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bridge.mail import world as mail_world
from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.models import Delivery
from bridge.store.repositories import Store
from tests.fixtures.bridge import BridgeProcess, bridge_config
from tests.fixtures.mailserver import BRIDGE_ADDRESS
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    StartBridge,
    compose_reply,
    mail_section,
    mails,
    reply_by_mail,
    submit_to,
)

PASSWORD = "pro-password"

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class MailBridge:
    store: Store
    server: LocalMailServer
    by_mail: str
    by_mail_address: str
    inactive: str
    inactive_address: str

    def mails(self, address: str, subject_part: str) -> list[EmailMessage]:
        return mails(self.server, address, subject_part)

    def reply(
        self,
        original: EmailMessage,
        body: str,
        *,
        port: int | None = None,
        mid: str | None = None,
        sender: str | None = None,
    ) -> str:
        """Answer like a mail client: Reply-To, threading headers, quoted original."""
        return reply_by_mail(
            self.server,
            original,
            body,
            sender=sender or self.by_mail_address,
            password=PASSWORD,
            port=port,
            mid=mid,
        )


@pytest.fixture
async def mail_bridge(
    database_url: str,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    personas: Personas,
    mail_server: LocalMailServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_process_bridge: StartBridge,  # last: it stops the bridge before the others tear down
) -> MailBridge:
    monkeypatch.setattr(mail_world, "DIGEST_POLL_SECONDS", 0.3)
    people = {p.id: p for p in spico_directory.professionals}
    taken = {personas.doctor, *personas.colleagues[:3]}
    by_mail = personas.colleagues[0]
    inactive = next(
        p.id
        for p in spico_directory.professionals
        if p.status == "inactive" and p.has_account and p.id not in taken
    )
    addresses = {m: people[m].mssante_address.lower() for m in (by_mail, inactive)}
    mail_server.add_mailboxes({address: PASSWORD for address in addresses.values()})
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        poll_wait_seconds=2,
        participants=[
            {"spico_id": by_mail, "mail": addresses[by_mail], "delivery": "mail"},
            {
                "spico_id": personas.colleagues[1],
                "matrix_user": "@m:localhost",
                "delivery": "matrix",
            },
        ],
        delivery={
            "workers": 2,
            "backoff_initial_seconds": 0.2,
            "backoff_max_seconds": 1,
            "max_attempts": 100,
        },
        mail=mail_section(mail_server, tmp_path / "secrets", answers={"per_address": 1}),
        sections={"notifications": {"period_minutes": 60}},
    )
    bridge = await in_process_bridge(path)
    return MailBridge(
        bridge.store, mail_server, by_mail, addresses[by_mail], inactive, addresses[inactive]
    )


async def _replies(client: SpicoClient, conversation: str, body: str) -> list:
    return [m for m in await client.list_messages(conversation) if m.body == body]


async def test_thread_out_and_reply_in_once_without_quotes(
    mail_bridge: MailBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor = personas.doctor
    subject = f"Plaie {time.time_ns()}"
    created = await open_conversation(
        spico_client, doctor, [mail_bridge.by_mail], subject, "Premier message"
    )
    conversation = created.conversation.id
    first = (
        await eventually(
            lambda: mail_bridge.mails(mail_bridge.by_mail_address, subject), "the first mail"
        )
    )[0]
    assert str(first["Subject"]).startswith("[SPICO]")
    assert "(via SPICO)" in str(first["From"]) and BRIDGE_ADDRESS in str(first["From"])
    assert str(first["Reply-To"]).split("@")[0].startswith("<bridge+") or "bridge+" in str(
        first["Reply-To"]
    )
    assert first["X-MSS-NIL"] == "SPICO-BRIDGE-TEST"
    assert first.get_body(("plain",)).get_content().startswith("Premier message")
    assert first.get_body(("html",)) is not None

    await spico_client.post_message(
        conversation,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="Second message",
        idempotency_key=f"second-{conversation}",
    )
    mails = await eventually(
        lambda: (m := mail_bridge.mails(mail_bridge.by_mail_address, subject))[1:] and m,
        "the second mail",
    )
    second = mails[1]
    assert second["In-Reply-To"] == first["Message-ID"]
    assert str(first["Message-ID"]) in str(second["References"])

    mid = mail_bridge.reply(second, "Je passe demain matin.")
    posted = await eventually(
        lambda: _replies(spico_client, conversation, "Je passe demain matin."),
        "the reply in SPICO",
    )
    assert posted[0].author_id == mail_bridge.by_mail
    # The same mail delivered again (a client resending it): still once.
    mail_bridge.reply(second, "Je passe demain matin.", mid=mid)
    await asyncio.sleep(2)
    assert len(await _replies(spico_client, conversation, "Je passe demain matin.")) == 1
    keyed = [
        m
        for m in await spico_client.list_messages(conversation)
        if m.idempotency_key == f"mail:{mid}"
    ]
    assert len(keyed) == 1


DOVECOT_OUTAGE_SECONDS = 30


async def test_smtp_4xx_delays_and_imap_outage_loses_nothing(
    mail_bridge: MailBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor, server = personas.doctor, mail_bridge.server
    subject = f"Panne {time.time_ns()}"
    server.set_fault(mail_bridge.by_mail_address, "450 4.2.0 Try again later")
    try:
        created = await open_conversation(
            spico_client, doctor, [mail_bridge.by_mail], subject, "Malgré la panne"
        )

        async def retried() -> bool:
            async with mail_bridge.store.transaction() as session:
                rows = (
                    await session.scalars(
                        select(Delivery).where(Delivery.conversation_id == created.conversation.id)
                    )
                ).all()
            return any(r.attempts >= 2 and "450" in (r.last_error or "") for r in rows)

        await eventually(retried, "a retried delivery after a 450")
        assert not mail_bridge.mails(mail_bridge.by_mail_address, subject)
    finally:
        server.set_fault(mail_bridge.by_mail_address, None)
    mail = (
        await eventually(
            lambda: mail_bridge.mails(mail_bridge.by_mail_address, subject), "the delayed mail"
        )
    )[0]

    # Dovecot goes away for 30 s (the figure); a reply arrives meanwhile (queued by
    # Postfix); the bridge's IMAP side reconnects and nothing is lost.
    server.stop_dovecot()
    try:
        mail_bridge.reply(mail, "Réponse pendant la coupure", port=server.ports.mx)
        await asyncio.sleep(DOVECOT_OUTAGE_SECONDS)
    finally:
        server.start_dovecot()
    await eventually(
        lambda: _replies(spico_client, created.conversation.id, "Réponse pendant la coupure"),
        "the reply sent during the outage",
        within=60,
    )


async def test_a_stranger_gets_one_polite_refusal_and_nothing_is_posted(
    mail_bridge: MailBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor, server = personas.doctor, mail_bridge.server
    stranger = "inconnu.passant@sandbox.mssante.fr"
    server.add_mailboxes({stranger: PASSWORD})
    subject = f"Intrus {time.time_ns()}"
    created = await open_conversation(
        spico_client, doctor, [mail_bridge.by_mail], subject, "Pour Anne seulement"
    )
    mail = (
        await eventually(
            lambda: mail_bridge.mails(mail_bridge.by_mail_address, subject), "the mail"
        )
    )[0]
    before = len(server.messages(stranger))
    for attempt in range(2):
        mail_bridge.reply(mail, f"Intrusion {attempt}", port=server.ports.mx, sender=stranger)
    answers = await eventually(lambda: server.messages(stranger)[before:], "the refusal answer")
    await asyncio.sleep(2)
    answers = server.messages(stranger)[before:]
    assert len(answers) == 1, "one answer, rate-limited (mail.answers.per_address: 1)"
    answer = email.message_from_bytes(answers[0], policy=email.policy.default)
    assert answer["Auto-Submitted"] == "auto-replied"
    assert "autre participant" in answer.get_body(("plain",)).get_content()
    assert b"Intrus" not in answers[0], "nothing the sender wrote"
    bodies = [m.body for m in await spico_client.list_messages(created.conversation.id)]
    assert not any(b.startswith("Intrusion") for b in bodies)


# --- caps on what one mail passes on; reload of the mail world -------------------------------


def _colleague_with_mailbox(
    directory: Directory, personas: Personas, mail_server: LocalMailServer, index: int
) -> tuple[str, str]:
    """An account holder no other test uses (beyond the personas), active, with a mailbox on
    the test server."""
    taken = {personas.secretary, personas.delegating_doctor, personas.doctor, *personas.colleagues}
    candidates = [
        p
        for p in directory.professionals
        if p.has_account and p.status != "inactive" and p.mssante_address and p.id not in taken
    ]
    member = candidates[100 + index].id
    address = candidates[100 + index].mssante_address.lower()
    mail_server.add_mailboxes({address: PASSWORD})
    return member, address


async def test_attachments_over_the_caps_are_left_out_and_the_author_told(
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    mail_server: LocalMailServer,
    tmp_path: Path,
    database_url: str,
    in_process_bridge: StartBridge,
) -> None:
    """No cap on the number of a mail's attachments, and a file over the size cap was dropped
    without a word: now the first ``mail.max_attachments`` go, and the author learns which
    did not."""
    member, address = _colleague_with_mailbox(spico_directory, personas, mail_server, 0)
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        poll_wait_seconds=2,
        participants=[{"spico_id": member, "mail": address, "delivery": "mail"}],
        delivery={"workers": 2, "backoff_initial_seconds": 0.2, "backoff_max_seconds": 1},
        mail=mail_section(
            mail_server, tmp_path / "secrets", max_attachments=2, max_attachment_bytes=3000
        ),
    )
    await in_process_bridge(path)
    subject = f"Pièces {time.time_ns()}"
    created = await open_conversation(
        spico_client, personas.doctor, [member], subject, "Envoyez-moi les documents."
    )
    (original,) = await eventually(lambda: mails(mail_server, address, subject), "the mail")
    reply = compose_reply(original, "Voici les documents.", sender=address)
    for name, size in (("a.pdf", 100), ("gros.pdf", 5000), ("b.pdf", 100), ("c.pdf", 100)):
        reply.add_attachment(b"%" * size, maintype="application", subtype="pdf", filename=name)
    submit_to(mail_server, reply, username=address, password=PASSWORD)
    posted = await eventually(
        lambda: _replies(spico_client, created.conversation.id, "Voici les documents."),
        "the reply in SPICO",
    )
    assert [a.filename for a in posted[0].attachments] == ["a.pdf", "b.pdf"]
    (answer,) = await eventually(
        lambda: mails(mail_server, address, "Message transmis en partie"), "the answer"
    )
    text = answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "1 pièce(s) jointe(s) de plus de" in text and "au-delà des 2" in text
    assert answer["Auto-Submitted"] == "auto-replied"


async def test_sighup_reloads_the_trust_space_of_the_mail_world(
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    mail_server: LocalMailServer,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
    database_url: str,
) -> None:
    """SIGHUP re-read the config but the mail world kept its trusted domains, whitelist,
    templates and addresses as at start."""
    member, address = _colleague_with_mailbox(spico_directory, personas, mail_server, 1)
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        poll_wait_seconds=2,
        participants=[{"spico_id": member, "mail": address, "delivery": "mail"}],
        delivery={"workers": 2, "backoff_initial_seconds": 0.2, "backoff_max_seconds": 1},
        mail=mail_section(mail_server, tmp_path / "secrets"),
        sections={"http": {"listen_host": "127.0.0.1", "listen_port": free_port()}},
    )
    bridge = BridgeProcess(path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    subject = f"Confiance {time.time_ns()}"
    created = await open_conversation(spico_client, personas.doctor, [member], subject, "Première")
    (original,) = await eventually(lambda: mails(mail_server, address, subject), "the mail")
    accepted = reply_by_mail(
        mail_server, original, "Avant le rechargement", sender=address, password=PASSWORD
    )

    async def verdict(mid: str) -> str | None:
        store = await Store.open(database_url, migrate=False)
        try:
            async with store.transaction() as session:
                row = (await repo.in_session(session, mail_repo.get_messages, [mid])).get(mid)
        finally:
            await store.close()
        return row.verdict if row is not None else None

    assert await eventually(lambda: verdict(accepted), "the first reply judged") == "accepted"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["mail"]["trusted_domains"] = ["*.autre-operateur.fr"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGHUP)
    await eventually(
        lambda: "configuration reloaded" in bridge.log_path.read_text(errors="replace"),
        "the reload",
    )
    refused = reply_by_mail(
        mail_server, original, "Après le rechargement", sender=address, password=PASSWORD
    )
    assert await eventually(lambda: verdict(refused), "the second reply judged") == "refused"
    assert await _replies(spico_client, created.conversation.id, "Après le rechargement") == []
    assert bridge.stop() == 0
