"""The reader's new-conversation path without servers: a fake composer stands for SPICO and a
fake SMTP records what would be sent (the real path is in test_new_conversation.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.core.composer import ComposerRefusal, ComposerUnavailable, PatientEntry
from bridge.mail.inbound import MailInbox
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fakes import FakeComposer, FakePoster, FakeSmtp, professional
from tests.fixtures.sqlite import audit_trail
from tests.mail.helpers import BRIDGE as OWN
from tests.mail.helpers import mail_config, mail_inbox, mail_sink

DOCTOR = "810000000009"
ANNE = "810000000017"
DOCTOR_ADDRESS = "jean.dupont@sandbox.mssante.fr"
ANNE_ADDRESS = "anne.martin@sandbox.mssante.fr"
PATIENT = PatientEntry("pat-00001", "110098161039958", "Jeanne", "Dupuis", "1950-01-01")


@dataclass
class Setup:
    inbox: MailInbox
    store: Store
    composer: FakeComposer
    poster: FakePoster
    smtp: FakeSmtp

    async def audit(self) -> list[tuple[str, str, str | None]]:
        return await audit_trail(self.store)


@pytest.fixture(params=["fr"])
async def setup(
    tmp_path: Path, sqlite_store: Store, request: pytest.FixtureRequest
) -> AsyncIterator[Setup]:
    config = mail_config(
        tmp_path,
        sections={"notifications": {"language": request.param}},
        answers={"per_address": 2},
    )
    smtp = FakeSmtp()
    sink = mail_sink(config, sqlite_store, smtp)
    composer = FakeComposer(
        professional(DOCTOR, address=DOCTOR_ADDRESS), professional(ANNE, address=ANNE_ADDRESS)
    )
    composer.add_patient(PATIENT, files_of=[DOCTOR])
    poster = FakePoster(composer)
    inbox = mail_inbox(config, sqlite_store, poster, sink)
    try:
        yield Setup(inbox, sqlite_store, composer, poster, smtp)
    finally:
        await inbox.close()


def _raw(
    number: int,
    *,
    sender: str = DOCTOR_ADDRESS,
    cc: str = ANNE_ADDRESS,
    subject: str = "Suivi",
    body: str = "Bonjour",
    extra: str = "",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {OWN}\r\nCc: {cc}\r\nSubject: {subject}\r\n"
        f"Message-ID: <new-{number}@client>\r\n{extra}\r\n{body}\r\n"
    ).encode()


async def test_created_recorded_audited_and_confirmed(setup: Setup) -> None:
    outcome = await setup.inbox.handle(_raw(1, body="Patient : pat-00001\nBonjour"))
    assert outcome.handled.value == "created" and outcome.conversation_id == "conv_1"
    (call,) = setup.composer.called("create_conversation")
    assert call == {
        "on_behalf_of": DOCTOR,
        "acting_as": DOCTOR,
        "members": [ANNE],
        "subject": "Suivi",
        "message": "Bonjour",
        "patient_id": "pat-00001",
        "attachments": (),
        "idempotency_key": "mail:new:<new-1@client>",
    }
    (sent,) = setup.smtp.sent
    confirmation = sent.mail
    assert sent.recipients == [DOCTOR_ADDRESS] and "bridge+" in str(confirmation["Reply-To"])
    assert confirmation["Subject"] == "[SPICO] J.D. Suivi"
    async with setup.store.transaction() as session:
        thread = await repo.in_session(session, mail_repo.get_thread, "conv_1", DOCTOR)
        row = (await repo.in_session(session, mail_repo.get_messages, ["<new-1@client>"]))[
            "<new-1@client>"
        ]
    assert thread is not None and thread.root_message_id == str(confirmation["Message-ID"])
    assert (row.verdict, row.conversation_id, row.member_id) == ("created", "conv_1", DOCTOR)
    assert ("mail.new_conversation", "created", None) in await setup.audit()
    # Read again: deduped, nothing more.
    assert (await setup.inbox.handle(_raw(1))).reason == "duplicate"
    assert len(setup.composer.called("create_conversation")) == 1 and len(setup.smtp.sent) == 1


async def test_spico_unavailable_leaves_the_mail_for_later(setup: Setup) -> None:
    setup.composer.fail(ComposerUnavailable("down"), "create_conversation")
    with pytest.raises(ComposerUnavailable):
        await setup.inbox.handle(_raw(2))
    async with setup.store.transaction() as session:
        assert await repo.in_session(session, mail_repo.get_messages, ["<new-2@client>"]) == {}
    assert setup.smtp.sent == [] and await setup.audit() == []
    setup.composer.recover()
    assert (await setup.inbox.handle(_raw(2))).handled.value == "created"
    keys = {c["idempotency_key"] for c in setup.composer.called("create_conversation")}
    assert keys == {"mail:new:<new-2@client>"}, "the retry uses the same key"


async def test_a_spico_refusal_is_answered_and_audited(setup: Setup) -> None:
    setup.composer.fail(
        ComposerRefusal(403, "no_patient_access", "Not in the care circle."), "create_conversation"
    )
    outcome = await setup.inbox.handle(_raw(3, body="Patient: pat-00002\nBonjour"))
    assert (outcome.handled.value, outcome.reason) == ("refused", "spico_refused")
    (sent,) = setup.smtp.sent
    assert sent.recipients == [DOCTOR_ADDRESS]
    text = sent.mail.get_body(("plain",)).get_content()
    assert "vous n'avez pas accès à ce patient" in text
    assert "Not in the care circle." not in text, "SPICO's own sentence may quote the request"
    audit = await setup.audit()
    assert ("mail.new_conversation", "refused", "spico_refused:no_patient_access") in audit
    assert ("mail.answer", "sent", "spico_refused") in audit


async def test_an_untrusted_sender_is_never_answered(setup: Setup) -> None:
    outcome = await setup.inbox.handle(_raw(4, sender="dr.x@gmail.com"))
    assert outcome.reason == "untrusted_domain"
    assert setup.composer.called("create_conversation") == [] and setup.smtp.sent == []


async def test_automatic_mail_starts_nothing(setup: Setup) -> None:
    outcome = await setup.inbox.handle(_raw(5, extra="Auto-Submitted: auto-replied\r\n"))
    assert outcome.handled.value == "auto_reply"
    assert setup.composer.called("create_conversation") == [] and setup.smtp.sent == []


async def test_unknown_sender_and_addresses_are_answered_without_creating(setup: Setup) -> None:
    outcome = await setup.inbox.handle(_raw(6, sender="nobody@sandbox.mssante.fr"))
    assert outcome.reason == "sender_unknown"
    outcome = await setup.inbox.handle(_raw(7, cc=f"{ANNE_ADDRESS}, x@sandbox.mssante.fr"))
    assert outcome.reason == "addresses"
    assert setup.composer.called("create_conversation") == []
    texts = [sent.mail.get_body(("plain",)).get_content() for sent in setup.smtp.sent]
    assert "annuaire SPICO" in texts[0]
    assert "- 1 adresse(s) absente(s) de l'annuaire SPICO" in texts[1]
    assert "x@sandbox.mssante.fr" not in texts[1] and ANNE_ADDRESS not in texts[1]
    assert all(sent.mail["Subject"] == "Conversation non créée" for sent in setup.smtp.sent)


async def test_patient_by_ins_from_the_active_files(setup: Setup) -> None:
    ins = "110098161039958"
    await setup.inbox.handle(_raw(8, body=f"Patient : {ins}\nBonjour"))
    assert setup.composer.called("create_conversation")[-1]["patient_id"] == "pat-00001"
    setup.composer.active_files[DOCTOR] = []
    outcome = await setup.inbox.handle(_raw(9, body=f"Patient : {ins}\nBonjour"))
    assert outcome.reason == "patient_not_found"
    assert len(setup.composer.called("create_conversation")) == 1


async def test_answers_are_rate_limited_per_address(setup: Setup) -> None:
    for number in range(10, 14):
        await setup.inbox.handle(_raw(number, subject=""))
    assert len(setup.smtp.sent) == 2, "mail.answers.per_address"


async def test_attachments_go_with_the_first_message(setup: Setup) -> None:
    raw = (
        f"From: {DOCTOR_ADDRESS}\r\nTo: {OWN}\r\nCc: {ANNE_ADDRESS}\r\nSubject: CR\r\n"
        "Message-ID: <new-20@client>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu joint\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="cr.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
    ).encode()
    await setup.inbox.handle(raw)
    call = setup.composer.called("create_conversation")[-1]
    assert call["message"] == "Compte rendu joint"
    assert [(a.filename, a.data) for a in call["attachments"]] == [("cr.pdf", b"%PDF-1.4")]
    assert setup.poster.posted == [], "one message, not a second one for the files"


@pytest.mark.parametrize("setup", ["en"], indirect=True)
async def test_answers_in_english_when_configured(setup: Setup) -> None:
    await setup.inbox.handle(_raw(30, subject=""))
    (sent,) = setup.smtp.sent
    answer = sent.mail
    assert answer["Subject"] == "Conversation not started"
    assert "the subject is required" in answer.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        (f'"{ANNE_ADDRESS}" <eve@autre.mssante.fr>', "address_in_name"),
        (f"{DOCTOR_ADDRESS}, eve@autre.mssante.fr", "not_one_mailbox"),
        (f"Equipe: {DOCTOR_ADDRESS};", "not_one_mailbox"),
    ],
)
async def test_a_forged_author_starts_nothing_and_is_not_answered(
    setup: Setup, forged: str, reason: str
) -> None:
    outcome = await setup.inbox.handle(_raw(40, sender=forged))
    assert (outcome.handled.value, outcome.reason) == ("refused", reason)
    assert setup.composer.called("create_conversation") == [] and setup.smtp.sent == []
    assert ("mail.in", "refused", reason) in await setup.audit()
