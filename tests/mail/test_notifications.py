"""Notification rate limit and digests, with a recording SMTP sender (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest

from bridge.config import load_config
from bridge.core.delivery import DeliveryJob, PermanentFailure
from bridge.core.model import DeliveryKind, Participant, World
from bridge.mail.outbound import MailSink
from bridge.mail.settings import settings_from
from bridge.store import mail as mailrepo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config

MEMBER = "810000000017"
ADDRESS = "anne.martin@sandbox.mssante.fr"
CONVERSATION = {"id": "conv_n", "subject": "Suivi", "members": [MEMBER], "patient": None}


class RecordingSmtp:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, mail: EmailMessage, sender: str, recipients: Sequence[str]) -> None:
        self.sent.append(mail)

    async def close(self) -> None:
        pass


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[tuple[MailSink, RecordingSmtp, Store]]:
    (tmp_path / "key").write_text("k" * 40)
    sandbox = SimpleNamespace(token="t", base_url="http://127.0.0.1:9/api/v1")
    url = f"sqlite:///{tmp_path / 'n.db'}"
    transport = {"host": "127.0.0.1", "security": "none"}
    path = bridge_config(
        tmp_path,
        sandbox,  # type: ignore[arg-type]
        database_url=url,
        mail={
            "address": "bridge@sandbox.mssante.fr",
            "smtp": {**transport, "port": 2525},
            "imap": {**transport, "port": 1143},
            "token_key_file": str(tmp_path / "key"),
        },
        sections={"notifications": {"period_minutes": 30}},
    )
    store = await Store.open(url)
    smtp = RecordingSmtp()
    yield MailSink(settings_from(load_config(path)), store, smtp), smtp, store  # type: ignore[arg-type]
    await store.close()


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
        payload=payload(seq),
        conversation=CONVERSATION,
        participants={MEMBER: Participant(MEMBER, mail=mail)},
    )


def payload(seq: int) -> dict:
    message = {"id": f"m{seq}", "author_id": None, "body": f"message {seq}", "created_at": ""}
    return {"data": {"message": message}}


async def journal(store: Store, *seqs: int) -> None:
    """The events, the conversation snapshot and the member, as the fan-out records them."""
    async with store.transaction() as session:
        await repo.save_conversation(
            session, repo.ConversationSnapshot("conv_n", "Suivi", None, (MEMBER,), None, 0)
        )
        await repo.save_professional(
            session,
            repo.ProfessionalRow(MEMBER, "Mme", "Anne", "Martin", None, ADDRESS, "inactive", True),
        )
        for seq in seqs:
            await repo.record_event(
                session, repo.JournalRow(seq, "message.posted", "conv_n", None, "", payload(seq))
            )


async def backdate(store: Store) -> None:
    async with store.transaction() as session:
        row = await mailrepo.get_notification(session, "conv_n", MEMBER)
        assert row is not None
        await mailrepo.save_notification(
            session,
            mailrepo.NotificationRow(
                "conv_n", MEMBER, datetime.now(UTC) - timedelta(hours=1), row.pending
            ),
        )


async def test_one_notification_per_period_then_one_digest(sink) -> None:
    mail_sink, smtp, store = sink
    await journal(store, 1, 2, 3, 4)
    for seq in (1, 2, 3):
        await mail_sink.deliver(job(seq))
    await mail_sink.deliver(job(2))  # a retried delivery is not queued twice
    assert len(smtp.sent) == 1 and smtp.sent[0]["Auto-Submitted"] == "auto-generated"
    assert await mail_sink.send_due_digests() == 0, "the period is not over"
    await backdate(store)
    assert await mail_sink.send_due_digests() == 1
    digest = smtp.sent[1].get_body(("plain",)).get_content()
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
    text = smtp.sent[1].get_body(("plain",)).get_content()
    assert "message 2" in text and "message 3" in text
    async with store.transaction() as session:
        row = await mailrepo.get_notification(session, "conv_n", MEMBER)
    assert row is not None and row.pending == ()


async def test_never_outside_the_trust_space(sink) -> None:
    mail_sink, smtp, _ = sink
    for address in ("x@gmail.com", "1234567890123@patient.mssante.fr"):
        with pytest.raises(PermanentFailure):
            await mail_sink.deliver(job(1, address))
    assert not smtp.sent
