"""The mail sink's conversation messages: one thread per member, each message once, SMTP
failures told apart (on a real SQLite store, sending through a fake SMTP). Notifications are in
test_notifications.py; the real Postfix in test_mail_world.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.core.delivery import Attachment, PermanentFailure, RetryLater, RetryPolicy
from bridge.core.model import Participant, World
from bridge.hub.outbox import OutboxWorkers
from bridge.mail.outbound import MailSink
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fakes import FakePoster, FakeSmtp
from tests.fixtures.sqlite import count_units
from tests.fixtures.worlds import text_of
from tests.mail.helpers import (
    ANNE,
    ANNE_ADDRESS,
    BRIDGE,
    DOCTOR,
    anne_job,
    mail_config,
    mail_sink,
)


@dataclass
class Outbox:
    sink: MailSink
    smtp: FakeSmtp
    poster: FakePoster
    store: Store


@pytest.fixture
async def outbox(tmp_path: Path, sqlite_store: Store) -> AsyncIterator[Outbox]:
    """The sink on an empty directory: the names it shows come with the job."""
    config = mail_config(tmp_path, mss_nil="SPICO-BRIDGE-TEST", max_attachment_bytes=1000)
    smtp, poster = FakeSmtp(), FakePoster()
    yield Outbox(
        mail_sink(config, sqlite_store, smtp, poster.fetch_attachment), smtp, poster, sqlite_store
    )


async def test_messages_thread_per_member_with_a_reply_token(outbox: Outbox) -> None:
    await outbox.sink.deliver(anne_job(1, "Premier message"))
    await outbox.sink.deliver(anne_job(2, "Second message"))
    first, second = outbox.smtp.to(ANNE_ADDRESS)
    assert outbox.smtp.sent[0].sender == BRIDGE
    assert str(first["Subject"]) == "[SPICO] Plaie"
    assert "(via SPICO)" in str(first["From"]) and BRIDGE in str(first["From"])
    assert "Jean DUPONT" in str(first["From"])
    assert "bridge+" in str(first["Reply-To"])
    assert first["X-MSS-NIL"] == "SPICO-BRIDGE-TEST"
    assert text_of(first).startswith("Premier message")
    assert first.get_body(("html",)) is not None
    assert second["In-Reply-To"] == first["Message-ID"]
    assert str(first["Message-ID"]) in str(second["References"])
    async with outbox.store.transaction() as session:
        thread = await repo.in_session(session, mail_repo.get_thread, "conv_1", ANNE)
        sent = await repo.in_session(session, mail_repo.get_messages, [str(second["Message-ID"])])
    assert thread is not None and thread.root_message_id == first["Message-ID"]
    assert thread.last_message_id == second["Message-ID"]
    assert sent[str(second["Message-ID"])].spico_message_id == "msg-2"


async def test_a_delivery_tried_again_sends_nothing_twice(outbox: Outbox) -> None:
    await outbox.sink.deliver(anne_job(1, "Une fois"))
    await outbox.sink.deliver(anne_job(1, "Une fois"))
    assert len(outbox.smtp.sent) == 1


async def _queue_mails(store: Store, seqs: range, *, same: tuple[int, ...] = ()) -> None:
    """The doctor's messages ``seqs`` in conv_1, journaled and queued for Anne by mail (the
    events ``same`` carry the message of the event before them)."""
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("conv_1", "Plaie", DOCTOR, (DOCTOR, ANNE), None, 0),
        )
        for seq in seqs:
            number = seq - 1 if seq in same else seq
            message = {"id": f"msg-{number}", "author_id": DOCTOR, "body": f"message {number}"}
            payload = {"data": {"message": message}}
            row = repo.JournalRow(seq, "message.posted", "conv_1", DOCTOR, "", payload)
            await repo.in_session(session, repo.record_event, row)
        await repo.in_session(
            session,
            repo.enqueue,
            [repo.NewDelivery(s, "conv_1", "mail", ANNE, "message") for s in seqs],
        )


def _workers(outbox: Outbox) -> OutboxWorkers:
    configured = {ANNE: Participant(ANNE, mail=ANNE_ADDRESS)}
    return OutboxWorkers(outbox.store, {World.MAIL: outbox.sink}, configured, RetryPolicy())


async def test_through_the_outbox_a_mail_costs_one_unit_besides_the_claim(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim reads what the sink would read before sending ("sent already?", the thread):
    a mail costs the claim's unit and the one recording it with its delivery's settle."""
    await _queue_mails(outbox.store, range(1, 2))
    units = count_units(outbox.store, monkeypatch)
    assert await _workers(outbox).deliver_batch("w") == 1
    assert len(units) == 2
    [mail] = outbox.smtp.to(ANNE_ADDRESS)
    assert text_of(mail).startswith("message 1")


async def test_through_the_outbox_a_run_of_mails_makes_one_thread(outbox: Outbox) -> None:
    """Three mails to Anne claimed together: each answers the one before (the claim read the
    thread for the first only; the others see what the mails before them recorded)."""
    await _queue_mails(outbox.store, range(1, 4))
    assert await _workers(outbox).deliver_batch("w") == 3
    first, second, third = outbox.smtp.to(ANNE_ADDRESS)
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == first["Message-ID"]
    assert third["In-Reply-To"] == second["Message-ID"]
    assert str(first["Message-ID"]) in str(third["References"])


async def test_through_the_outbox_a_run_of_mails_costs_one_unit_each_besides_the_claim(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four mails to Anne claimed together: the claim read "sent already?" for them all and
    the thread for the first; each later one continues the thread the one before recorded."""
    await _queue_mails(outbox.store, range(1, 5))
    units = count_units(outbox.store, monkeypatch)
    assert await _workers(outbox).deliver_batch("w") == 4
    assert len(units) == 1 + 4
    mails = outbox.smtp.to(ANNE_ADDRESS)
    assert [text_of(m).split("\n", 1)[0] for m in mails] == [f"message {n}" for n in range(1, 5)]
    assert [m["In-Reply-To"] for m in mails[1:]] == [m["Message-ID"] for m in mails[:-1]]


async def test_through_the_outbox_a_message_two_events_carry_is_mailed_once(
    outbox: Outbox,
) -> None:
    """The third delivery of a run carries the second's message again: the claim cannot know
    whether the second will send it, so the third looks for itself (and finds it sent)."""
    await _queue_mails(outbox.store, range(1, 5), same=(3,))
    assert await _workers(outbox).deliver_batch("w") == 4
    mails = outbox.smtp.to(ANNE_ADDRESS)
    assert [text_of(m).split("\n", 1)[0] for m in mails] == ["message 1", "message 2", "message 4"]
    assert [m["In-Reply-To"] for m in mails[1:]] == [m["Message-ID"] for m in mails[:-1]]


async def test_through_the_outbox_a_mail_sent_before_a_crash_is_not_sent_again(
    outbox: Outbox,
) -> None:
    """Sent and recorded, its delivery not settled (the bridge died in between): claimed
    again, the claim's read finds it sent, and the mail goes once."""
    await outbox.sink.deliver(anne_job(1, "message 1"))
    await _queue_mails(outbox.store, range(1, 3))
    assert await _workers(outbox).deliver_batch("w") == 2
    sent = outbox.smtp.to(ANNE_ADDRESS)
    assert [text_of(mail).split("\n", 1)[0] for mail in sent] == ["message 1", "message 2"]
    assert sent[1]["In-Reply-To"] == sent[0]["Message-ID"]


async def test_smtp_failures_say_whether_to_try_again(outbox: Outbox) -> None:
    outbox.smtp.fail(RetryLater("SMTP 450: try again later"), times=1)
    with pytest.raises(RetryLater):
        await outbox.sink.deliver(anne_job(1, "Malgré la panne"))
    async with outbox.store.transaction() as session:
        assert await repo.in_session(session, mail_repo.get_thread, "conv_1", ANNE) is None
    await outbox.sink.deliver(anne_job(1, "Malgré la panne"))
    assert len(outbox.smtp.sent) == 1
    outbox.smtp.fail(PermanentFailure("SMTP 550: no such user"))
    with pytest.raises(PermanentFailure):
        await outbox.sink.deliver(anne_job(2, "Refusé"))


async def test_attachments_travel_with_the_mail_within_the_size_limit(outbox: Outbox) -> None:
    outbox.poster.files["att-1"] = Attachment("cr.pdf", "application/pdf", b"%PDF-1.4 cr")
    attachments = [
        {"id": "att-1", "filename": "cr.pdf", "content_type": "application/pdf", "size": 11},
        {"id": "att-2", "filename": "irm.dcm", "content_type": "application/dicom", "size": 5000},
    ]
    await outbox.sink.deliver(anne_job(1, "Compte rendu joint.", attachments=attachments))
    [mail] = outbox.smtp.to(ANNE_ADDRESS)
    files = [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in mail.iter_attachments()
    ]
    assert files == [("cr.pdf", "application/pdf", b"%PDF-1.4 cr")]
    assert outbox.poster.fetched == ["att-1"], "the large file is never fetched"


async def test_never_outside_the_trust_space(outbox: Outbox) -> None:
    for address in ("x@gmail.com", "1234567890123@patient.mssante.fr", ""):
        with pytest.raises(PermanentFailure):
            await outbox.sink.deliver(anne_job(1, "Confidentiel", address=address))
    assert outbox.smtp.sent == []


async def test_an_address_no_mail_can_carry_is_a_permanent_failure(outbox: Outbox) -> None:
    """In the trust space by its domain, yet not a mailbox the bridge writes to (a header
    could not hold it safely): refused for good, nothing sent or recorded."""
    for address in ("anne martin@sandbox.mssante.fr", "anne\r\nBcc: x@sandbox.mssante.fr"):
        with pytest.raises(PermanentFailure, match="cannot be written"):
            await outbox.sink.deliver(anne_job(1, "Bonjour", address=address))
    assert outbox.smtp.sent == []
    async with outbox.store.transaction() as session:
        assert await repo.in_session(session, mail_repo.get_thread, "conv_1", ANNE) is None
