"""Notification rate limit and digests, with a recording SMTP sender (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.core.delivery import DeliveryJob, PermanentFailure
from bridge.core.model import DeliveryKind, Participant, World
from bridge.core.views import event_message
from bridge.mail.outbound import MailSink
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fakes import FakePoster, FakeSmtp, conversation_of
from tests.fixtures.worlds import compose_reply, text_of
from tests.mail.helpers import mail_config, mail_inbox, mail_sink

MEMBER = "810000000017"
ADDRESS = "anne.martin@sandbox.mssante.fr"
CONVERSATION = {"id": "conv_n", "subject": "Suivi", "members": [MEMBER], "patient": None}


@pytest.fixture
async def sink(
    tmp_path: Path, sqlite_store: Store
) -> AsyncIterator[tuple[MailSink, FakeSmtp, Store]]:
    config = mail_config(tmp_path, sections={"notifications": {"period_minutes": 30}})
    smtp = FakeSmtp()
    yield mail_sink(config, sqlite_store, smtp), smtp, sqlite_store


def job(seq: int, mail: str = ADDRESS) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=seq,
        world=World.MAIL,
        destination=MEMBER,
        kind=DeliveryKind.NOTIFY,
        attempt=1,
        event_seq=seq,
        event_type="message.posted",
        conversation_id="conv_n",
        message=event_message(payload(seq)),
        conversation=conversation_of(CONVERSATION),
        participants={MEMBER: Participant(MEMBER, mail=mail)},
    )


def payload(seq: int) -> dict:
    message = {"id": f"m{seq}", "author_id": None, "body": f"message {seq}", "created_at": ""}
    return {"data": {"message": message}}


async def journal(store: Store, *seqs: int) -> None:
    """The events, the conversation snapshot and the member, as the fan-out records them."""
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("conv_n", "Suivi", None, (MEMBER,), None, 0),
        )
        await repo.in_session(
            session,
            repo.save_professional,
            repo.ProfessionalRow(MEMBER, "Mme", "Anne", "Martin", None, ADDRESS, "inactive", True),
        )
        for seq in seqs:
            await repo.in_session(
                session,
                repo.record_event,
                repo.JournalRow(seq, "message.posted", "conv_n", None, "", payload(seq)),
            )


async def backdate(store: Store) -> None:
    async with store.transaction() as session:
        row = await repo.in_session(session, mail_repo.get_notification, "conv_n", MEMBER)
        assert row is not None
        await repo.in_session(
            session,
            mail_repo.save_notification,
            mail_repo.NotificationRow(
                "conv_n", MEMBER, datetime.now(UTC) - timedelta(hours=1), row.pending
            ),
        )


async def test_one_notification_per_period_then_one_digest(sink) -> None:
    mail_sink, smtp, store = sink
    await journal(store, 1, 2, 3, 4)
    for seq in (1, 2, 3):
        await mail_sink.deliver(job(seq))
    await mail_sink.deliver(job(2))  # a retried delivery is not queued twice
    [notification] = smtp.to(ADDRESS)
    assert notification["Auto-Submitted"] == "auto-generated"
    assert notification["X-Auto-Response-Suppress"] == "All"
    text = text_of(notification)
    assert "message 1" in text and "Répondez à ce message" in text
    assert await mail_sink.send_due_digests() == 0, "the period is not over"
    await backdate(store)
    assert await mail_sink.send_due_digests() == 1
    digest = text_of(smtp.sent[1].mail)
    assert "message 2" in digest and "message 3" in digest and "message 1" not in digest
    assert await mail_sink.send_due_digests() == 0, "nothing left"


async def test_after_the_period_waiting_messages_go_with_the_next_notification(sink) -> None:
    mail_sink, smtp, store = sink
    await journal(store, 1, 2, 3)
    await mail_sink.deliver(job(1))
    await mail_sink.deliver(job(2))
    await backdate(store)
    await mail_sink.deliver(job(3))  # before the digest loop ran: nothing is lost
    assert len(smtp.sent) == 2
    text = text_of(smtp.sent[1].mail)
    assert "message 2" in text and "message 3" in text
    async with store.transaction() as session:
        row = await repo.in_session(session, mail_repo.get_notification, "conv_n", MEMBER)
    assert row is not None and row.pending == ()


async def test_a_notification_delivered_again_after_a_crash_is_not_sent_again(sink) -> None:
    """Killed after the server's 250 but before the outbox settled: the repeated delivery of
    the notified message, and of one it carried, finds the mail recorded and sends nothing."""
    mail_sink, smtp, store = sink
    await journal(store, 1, 2, 3)
    await mail_sink.deliver(job(1))
    await mail_sink.deliver(job(2))
    await backdate(store)
    await mail_sink.deliver(job(3))  # carries 2 and 3
    for seq in (1, 3):
        await mail_sink.deliver(job(seq))
    assert len(smtp.sent) == 2
    async with store.transaction() as session:
        row = await repo.in_session(session, mail_repo.get_notification, "conv_n", MEMBER)
    assert row is not None and row.pending == ()


async def test_a_digest_recorded_before_a_crash_is_not_sent_again(sink) -> None:
    mail_sink, smtp, store = sink
    await journal(store, 1, 2)
    await mail_sink.deliver(job(1))
    await mail_sink.deliver(job(2))
    await backdate(store)
    assert await mail_sink.send_due_digests() == 1
    # The digest's mail recorded, its period not (as if killed in between): put it back.
    async with store.transaction() as session:
        await repo.in_session(
            session,
            mail_repo.save_notification,
            mail_repo.NotificationRow(
                "conv_n", MEMBER, datetime.now(UTC) - timedelta(hours=1), (2,)
            ),
        )
    await mail_sink.send_due_digests()
    assert len(smtp.sent) == 2, "the notification and one digest"
    async with store.transaction() as session:
        row = await repo.in_session(session, mail_repo.get_notification, "conv_n", MEMBER)
    assert row is not None and row.pending == ()


async def test_never_outside_the_trust_space(sink) -> None:
    mail_sink, smtp, _ = sink
    for address in ("x@gmail.com", "1234567890123@patient.mssante.fr"):
        with pytest.raises(PermanentFailure):
            await mail_sink.deliver(job(1, address))
    assert not smtp.sent


async def test_a_reply_to_a_notification_is_read_like_any_reply(sink, tmp_path: Path) -> None:
    outbound, smtp, store = sink
    await journal(store, 1)
    await outbound.deliver(job(1))
    [notification] = smtp.to(ADDRESS)
    poster = FakePoster()
    inbox = mail_inbox(mail_config(tmp_path), store, poster, outbound)
    try:
        outcome = await inbox.handle(
            compose_reply(notification, "Vu, merci.", sender=ADDRESS).as_bytes()
        )
    finally:
        await inbox.close()
    assert outcome.handled.value == "accepted"
    [posted] = poster.posted
    assert (posted.conversation_id, posted.author_id, posted.body) == (
        "conv_n",
        MEMBER,
        "Vu, merci.",
    )
