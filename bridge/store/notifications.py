"""How a world asks for one notification now without writing the mail world's queue: a
notification asked for now (the Matrix ``notify`` command, missed messages) becomes a
``notify`` delivery of the mail world in the outbox, in one transaction with its audit row,
under the mail sink's own rate limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.core.model import DeliveryKind, World
from bridge.core.notifications import (
    NotificationAnswer,
    next_notification_at,
    notification_allowed,
)
from bridge.core.views import event_message
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.models import JournalEvent
from bridge.store.repositories import Store


async def message_seqs_since(
    session: AsyncSession, conversation_id: str, since_seq: int, member_id: str
) -> list[int]:
    """The journal seqs of the conversation's messages from ``since_seq`` on (platform notices
    and the member's own messages left out), oldest first."""
    rows = await session.execute(
        select(JournalEvent.seq, JournalEvent.payload)
        .where(
            JournalEvent.conversation_id == conversation_id,
            JournalEvent.type == "message.posted",
            JournalEvent.seq >= since_seq,
        )
        .order_by(JournalEvent.seq)
    )
    found = []
    for seq, payload in rows.all():
        message = event_message(payload)
        if (
            message is not None
            and not message.notice
            and member_id not in (message.author_id, message.sent_by)
        ):
            found.append(int(seq))
    return found


async def latest_message_seq(session: AsyncSession, conversation_id: str) -> int | None:
    """The journal seq of the conversation's latest message from a professional (not a
    platform notice): what a manual notification is about."""
    rows = await session.execute(
        select(JournalEvent.seq, JournalEvent.payload)
        .where(
            JournalEvent.conversation_id == conversation_id,
            JournalEvent.type == "message.posted",
        )
        .order_by(JournalEvent.seq.desc())
        .limit(20)
    )
    for seq, payload in rows.all():
        message = event_message(payload)
        if message is None or not message.notice:
            return int(seq)
    return None


class StoreNotificationRequests:
    """Notifications asked for now, queued in the outbox (the hub's queue)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def request_notification(
        self,
        conversation_id: str,
        member_id: str,
        *,
        requested_by: str,
        world: str,
        period: timedelta,
        now: datetime,
        since_seq: int | None = None,
    ) -> NotificationAnswer:
        """Queue the notification of ``member_id`` about ``conversation_id``'s latest message
        now, under the same rate limit as the automatic ones (``period``), audited as asked by
        ``requested_by`` (an idNat) from ``world``. With ``since_seq`` (missed messages in
        Matrix) the one notification lists every message of the conversation from that seq
        on."""
        async with self._store.transaction() as session:
            sent = await repo.in_session(
                session, mail_repo.get_notification, conversation_id, member_id
            )
            last = sent.last_sent_at if sent else None
            if not notification_allowed(last, now, period):
                return NotificationAnswer("suppressed", last, next_notification_at(last, period))
            seq = await latest_message_seq(session, conversation_id)
            if seq is None:
                return NotificationAnswer("no_message")
            if since_seq is not None:
                # The earlier unread messages wait with the notification, which sends them
                # with the latest one (the mail sink's "what waited goes with this message").
                # The period is over: no time of a last one is the same rule, and keeps the
                # digest loop from sending them first on their own.
                earlier = await message_seqs_since(session, conversation_id, since_seq, member_id)
                waiting = {*(sent.pending if sent else ()), *earlier} - {seq}
                await repo.in_session(
                    session,
                    mail_repo.save_notification,
                    mail_repo.NotificationRow(
                        conversation_id, member_id, None, tuple(sorted(waiting))
                    ),
                )
            queued = await repo.in_session(
                session,
                repo.enqueue,
                [
                    repo.NewDelivery(
                        seq,
                        conversation_id,
                        World.MAIL.value,
                        member_id,
                        DeliveryKind.NOTIFY.value,
                    )
                ],
            )
            if not queued:
                return NotificationAnswer("already_queued")
            await repo.add_audit(
                session,
                world=world,
                action="command.notify",
                outcome="done",
                actor_id=requested_by,
                conversation_id=conversation_id,
                destination=f"mail:{member_id}",
            )
        return NotificationAnswer("queued")
