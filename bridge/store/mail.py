"""Repositories of the mail world: threads, sent/received mails, addresses, notifications.

What the mail sink reads and writes for each mail (sent already? the thread, the record of
what was sent, the token's handle, the notification period) are synchronous Core functions of
a ``Connection``, run in the sink's units of work (``Store.run``); a cold caller holding an
``AsyncSession`` reaches them through ``repositories.in_session``.

Reply-token handles are kept in ``mail_messages`` under ``token:<handle>`` (direction
``token``): the token carries only a hash of (conversation, member), and this row maps it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Executable, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store import direct
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


def _thread(row: Any) -> ThreadRow:
    return ThreadRow(
        row.conversation_id, row.member_id, row.address, row.root_message_id, row.last_message_id
    )


def _of_member(table: Any) -> tuple[Any, Any]:
    """Where ``table``'s row is the one of a conversation's member (its primary key, as the
    bound parameters ``conversation_id`` and ``member_id``)."""
    return (
        table.conversation_id == bindparam("conversation_id"),
        table.member_id == bindparam("member_id"),
    )


_THREAD = select(
    MailThread.conversation_id,
    MailThread.member_id,
    MailThread.address,
    MailThread.root_message_id,
    MailThread.last_message_id,
)


_THREAD_OF = _THREAD.where(*_of_member(MailThread))


def _thread_column(column: Any) -> Any:
    return select(column).where(*_of_member(MailThread))


#: Sent already (by Message-ID)? And the member's thread: one statement, no FROM of its own
#: (scalar sub-selects on the two primary keys), instead of one read for each.
_SENT_AND_THREAD = select(
    select(MailMessage.message_id)
    .where(MailMessage.message_id == bindparam("message_id"))
    .exists()
    .label("sent"),
    _thread_column(MailThread.address).scalar_subquery().label("address"),
    _thread_column(MailThread.root_message_id).scalar_subquery().label("root_message_id"),
    _thread_column(MailThread.last_message_id).scalar_subquery().label("last_message_id"),
)


def sent_and_thread(
    connection: Connection, message_id: str, conversation_id: str, member_id: str
) -> tuple[bool, ThreadRow | None]:
    """Whether the mail ``message_id`` was recorded as sent, and the member's thread (None
    when the sent mail is known, or there is no thread yet)."""
    row = direct.execute(
        connection,
        _SENT_AND_THREAD,
        {
            "message_id": message_id[:400],
            "conversation_id": conversation_id,
            "member_id": member_id,
        },
    ).one()
    if row.sent:
        return True, None
    if row.root_message_id is None:
        return False, None
    return False, ThreadRow(
        conversation_id, member_id, row.address, row.root_message_id, row.last_message_id
    )


def get_thread(connection: Connection, conversation_id: str, member_id: str) -> ThreadRow | None:
    row = direct.execute(
        connection, _THREAD_OF, {"conversation_id": conversation_id, "member_id": member_id}
    ).first()
    return None if row is None else ThreadRow(*row)


async def threads_of(session: AsyncSession, conversation_ids: Iterable[str]) -> list[ThreadRow]:
    wanted = set(conversation_ids)
    if not wanted:
        return []
    rows = await session.scalars(select(MailThread).where(MailThread.conversation_id.in_(wanted)))
    return [_thread(row) for row in rows]


async def threads_by_address(session: AsyncSession, address: str) -> list[ThreadRow]:
    rows = await session.scalars(select(MailThread).where(MailThread.address == address.lower()))
    return [_thread(row) for row in rows]


def _prepared(connection: Connection, build: Callable[[Connection], Executable]) -> Executable:
    """The statement ``build`` makes, made once per dialect: SQLAlchemy memoizes a statement's
    cache key on the object, so one reused (its values given at execution) skips building,
    keying and coercing its clauses each time (a third of a unit of work's CPU)."""
    key = (build, connection.dialect.name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(connection)
    return statement


_STATEMENTS: dict[tuple[Callable[[Connection], Executable], str], Executable] = {}


def _save_thread(connection: Connection) -> Executable:
    statement = _insert(connection, MailThread)
    return statement.on_conflict_do_update(
        index_elements=[MailThread.conversation_id, MailThread.member_id],
        set_={
            "address": statement.excluded.address,
            "last_message_id": statement.excluded.last_message_id,
            "updated_at": statement.excluded.updated_at,
        },
    )


def save_thread(connection: Connection, thread: ThreadRow) -> None:
    now = utcnow()
    direct.execute(
        connection,
        _prepared(connection, _save_thread),
        {
            "conversation_id": thread.conversation_id,
            "member_id": thread.member_id,
            "address": thread.address.lower(),
            "root_message_id": thread.root_message_id,
            "last_message_id": thread.last_message_id,
            "created_at": now,
            "updated_at": now,
        },
    )


def _record_message(connection: Connection) -> Executable:
    return (
        _insert(connection, MailMessage)
        .on_conflict_do_nothing(index_elements=[MailMessage.message_id])
        .returning(MailMessage.message_id)
    )


def record_message(
    connection: Connection,
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
    values = {
        "message_id": message_id[:400],
        "conversation_id": conversation_id,
        "member_id": member_id,
        "direction": direction,
        "verdict": verdict,
        "reason": reason,
        "spico_message_id": spico_message_id,
        "created_at": utcnow(),
    }
    recorded = direct.execute(connection, _prepared(connection, _record_message), values)
    return recorded.first() is not None


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


_MESSAGE = select(
    MailMessage.message_id,
    MailMessage.conversation_id,
    MailMessage.member_id,
    MailMessage.direction,
    MailMessage.verdict,
    MailMessage.spico_message_id,
    MailMessage.reason,
)


_MESSAGES_BY_ID = _MESSAGE.where(MailMessage.message_id.in_(bindparam("ids", expanding=True)))


def get_messages(connection: Connection, ids: Iterable[str]) -> dict[str, MessageRow]:
    wanted = {i[:400] for i in ids}
    if not wanted:
        return {}
    rows = direct.execute(connection, _MESSAGES_BY_ID, {"ids": list(wanted)})
    return {row.message_id: MessageRow(*row) for row in rows}


def record_handle(
    connection: Connection, handle: str, conversation_id: str, member_id: str
) -> None:
    record_message(
        connection,
        HANDLE_PREFIX + handle,
        direction="token",
        conversation_id=conversation_id,
        member_id=member_id,
    )


def record_sent(
    connection: Connection,
    message_id: str,
    thread: ThreadRow,
    *,
    handle: str | None,
    spico_message_id: str | None = None,
) -> None:
    """A mail the server accepted: its Message-ID (what a repeated delivery checks first), the
    member's thread now ending with it, and the reply token's ``handle`` (the thread's own,
    derived from conversation and member: callers give it with a thread's first mail only)."""
    record_message(
        connection,
        message_id,
        direction="out",
        conversation_id=thread.conversation_id,
        member_id=thread.member_id,
        spico_message_id=spico_message_id,
    )
    save_thread(connection, thread)
    if handle is not None:
        record_handle(connection, handle, thread.conversation_id, thread.member_id)


def resolve_handles(connection: Connection, handles: Iterable[str]) -> dict[str, tuple[str, str]]:
    rows = get_messages(connection, (HANDLE_PREFIX + h for h in handles))
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


def _notification(row: Any) -> NotificationRow:
    return NotificationRow(
        row.conversation_id, row.member_id, row.last_sent_at, tuple(row.pending or ())
    )


_NOTIFICATION = select(
    Notification.conversation_id,
    Notification.member_id,
    Notification.last_sent_at,
    Notification.pending,
)


_NOTIFICATION_OF = _NOTIFICATION.where(*_of_member(Notification))


def get_notification(
    connection: Connection, conversation_id: str, member_id: str
) -> NotificationRow | None:
    row = direct.execute(
        connection, _NOTIFICATION_OF, {"conversation_id": conversation_id, "member_id": member_id}
    ).first()
    return None if row is None else _notification(row)


def _save_notification(connection: Connection) -> Executable:
    statement = _insert(connection, Notification)
    return statement.on_conflict_do_update(
        index_elements=[Notification.conversation_id, Notification.member_id],
        set_={k: statement.excluded[k] for k in ("last_sent_at", "pending", "updated_at")},
    )


def save_notification(connection: Connection, row: NotificationRow) -> None:
    direct.execute(
        connection,
        _prepared(connection, _save_notification),
        {
            "conversation_id": row.conversation_id,
            "member_id": row.member_id,
            "last_sent_at": row.last_sent_at,
            "pending": list(row.pending),
            "updated_at": utcnow(),
        },
    )


async def due_digests(session: AsyncSession, sent_before: datetime) -> list[NotificationRow]:
    """Notifications with messages waiting whose period is over."""
    rows = await session.execute(
        _NOTIFICATION.where(
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
