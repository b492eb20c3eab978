"""Repositories of the mail world: threads, sent/received mails, addresses, notifications.

Reply-token handles are kept in ``mail_messages`` under ``token:<handle>`` (direction
``token``): the token carries only a hash of (conversation, member), and this row maps it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store.models import (
    AuditEntry,
    MailAddress,
    MailMessage,
    MailThread,
    Notification,
    utcnow,
)
from bridge.store.repositories import _insert

HANDLE_PREFIX = "token:"


@dataclass(frozen=True, slots=True)
class ThreadRow:
    conversation_id: str
    member_id: str
    address: str
    root_message_id: str
    last_message_id: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    message_id: str
    conversation_id: str | None
    member_id: str | None
    direction: str
    verdict: str | None
    spico_message_id: str | None
    reason: str | None = None


def _thread(row: MailThread) -> ThreadRow:
    return ThreadRow(
        row.conversation_id, row.member_id, row.address, row.root_message_id, row.last_message_id
    )


async def get_thread(
    session: AsyncSession, conversation_id: str, member_id: str
) -> ThreadRow | None:
    row = await session.get(MailThread, (conversation_id, member_id))
    return None if row is None else _thread(row)


async def threads_of(session: AsyncSession, conversation_ids: Iterable[str]) -> list[ThreadRow]:
    wanted = set(conversation_ids)
    if not wanted:
        return []
    rows = await session.scalars(select(MailThread).where(MailThread.conversation_id.in_(wanted)))
    return [_thread(row) for row in rows]


async def threads_by_address(session: AsyncSession, address: str) -> list[ThreadRow]:
    rows = await session.scalars(select(MailThread).where(MailThread.address == address.lower()))
    return [_thread(row) for row in rows]


async def save_thread(session: AsyncSession, thread: ThreadRow) -> None:
    values = {
        "conversation_id": thread.conversation_id,
        "member_id": thread.member_id,
        "address": thread.address.lower(),
        "root_message_id": thread.root_message_id,
        "last_message_id": thread.last_message_id,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    statement = _insert(session, MailThread).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[MailThread.conversation_id, MailThread.member_id],
        set_={
            "address": statement.excluded.address,
            "last_message_id": statement.excluded.last_message_id,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(statement)


async def record_message(
    session: AsyncSession,
    message_id: str,
    *,
    direction: str,
    conversation_id: str | None = None,
    member_id: str | None = None,
    verdict: str | None = None,
    spico_message_id: str | None = None,
    reason: str | None = None,
) -> bool:
    """Record a mail once; False when its Message-ID was already recorded."""
    statement = (
        _insert(session, MailMessage)
        .values(
            message_id=message_id[:400],
            conversation_id=conversation_id,
            member_id=member_id,
            direction=direction,
            verdict=verdict,
            reason=reason,
            spico_message_id=spico_message_id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[MailMessage.message_id])
        .returning(MailMessage.message_id)
    )
    return (await session.execute(statement)).first() is not None


async def update_message(
    session: AsyncSession, message_id: str, *, verdict: str, spico_message_id: str | None
) -> None:
    await session.execute(
        update(MailMessage)
        .where(MailMessage.message_id == message_id[:400])
        .values(verdict=verdict, spico_message_id=spico_message_id)
    )


async def take_over_message(
    session: AsyncSession,
    message_id: str,
    *,
    only_reasons: Iterable[str],
    verdict: str,
    reason: str | None,
    conversation_id: str | None,
    member_id: str | None,
    spico_message_id: str | None,
) -> bool:
    """Rewrite an inbound mail's record when it holds one of ``only_reasons`` (a record that
    says nothing of the mail now read under the same Message-ID); False when it does not."""
    result = await session.execute(
        update(MailMessage)
        .where(
            MailMessage.message_id == message_id[:400],
            MailMessage.direction == "in",
            MailMessage.reason.in_(list(only_reasons)),
        )
        .values(
            verdict=verdict,
            reason=reason,
            conversation_id=conversation_id,
            member_id=member_id,
            spico_message_id=spico_message_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_messages(session: AsyncSession, ids: Iterable[str]) -> dict[str, MessageRow]:
    wanted = {i[:400] for i in ids}
    if not wanted:
        return {}
    rows = await session.scalars(select(MailMessage).where(MailMessage.message_id.in_(wanted)))
    return {
        row.message_id: MessageRow(
            row.message_id,
            row.conversation_id,
            row.member_id,
            row.direction,
            row.verdict,
            row.spico_message_id,
            row.reason,
        )
        for row in rows
    }


async def record_handle(
    session: AsyncSession, handle: str, conversation_id: str, member_id: str
) -> None:
    await record_message(
        session,
        HANDLE_PREFIX + handle,
        direction="token",
        conversation_id=conversation_id,
        member_id=member_id,
    )


async def resolve_handles(
    session: AsyncSession, handles: Iterable[str]
) -> dict[str, tuple[str, str]]:
    rows = await get_messages(session, (HANDLE_PREFIX + h for h in handles))
    return {
        key.removeprefix(HANDLE_PREFIX): (row.conversation_id, row.member_id)
        for key, row in rows.items()
        if row.conversation_id and row.member_id
    }


# --- addresses -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressRow:
    address: str
    failing: bool
    last_bounce_at: datetime | None


async def get_address(session: AsyncSession, address: str) -> AddressRow | None:
    row = await session.get(MailAddress, address.lower())
    if row is None:
        return None
    return AddressRow(row.address, row.failing, row.last_bounce_at)


async def _upsert_address(session: AsyncSession, address: str, **values: Any) -> None:
    statement = _insert(session, MailAddress).values(
        address=address.lower(), updated_at=utcnow(), **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=[MailAddress.address],
        set_={key: statement.excluded[key] for key in (*values, "updated_at")},
    )
    await session.execute(statement)


async def mark_failing(session: AsyncSession, address: str, failing: bool = True) -> None:
    values: dict[str, Any] = {"failing": failing}
    if failing:
        values["last_bounce_at"] = utcnow()
    await _upsert_address(session, address, **values)


# --- notifications ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationRow:
    conversation_id: str
    member_id: str
    last_sent_at: datetime | None
    pending: tuple[int, ...]


def _notification(row: Notification) -> NotificationRow:
    return NotificationRow(
        row.conversation_id, row.member_id, row.last_sent_at, tuple(row.pending or ())
    )


async def get_notification(
    session: AsyncSession, conversation_id: str, member_id: str
) -> NotificationRow | None:
    row = await session.get(Notification, (conversation_id, member_id))
    return None if row is None else _notification(row)


async def save_notification(session: AsyncSession, row: NotificationRow) -> None:
    values = {
        "conversation_id": row.conversation_id,
        "member_id": row.member_id,
        "last_sent_at": row.last_sent_at,
        "pending": list(row.pending),
        "updated_at": utcnow(),
    }
    statement = _insert(session, Notification).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Notification.conversation_id, Notification.member_id],
        set_={k: statement.excluded[k] for k in ("last_sent_at", "pending", "updated_at")},
    )
    await session.execute(statement)


async def due_digests(session: AsyncSession, sent_before: datetime) -> list[NotificationRow]:
    """Notifications with messages waiting whose period is over."""
    rows = await session.scalars(
        select(Notification).where(
            Notification.last_sent_at.is_not(None), Notification.last_sent_at <= sent_before
        )
    )
    return [_notification(row) for row in rows if row.pending]


# --- answers (rate limit) ---------------------------------------------------------------------


async def count_answers(
    session: AsyncSession, action: str, since: datetime, address: str | None = None
) -> int:
    """How many automatic answers (audit rows ``action``, outcome ``sent``) went out since
    ``since``, to ``address`` or to anyone (the mail world writes one row per answer; no table
    of its own)."""
    query = (
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.outcome == "sent", AuditEntry.at >= since)
    )
    if address is not None:
        query = query.where(AuditEntry.destination == address.lower())
    return int(await session.scalar(query) or 0)
