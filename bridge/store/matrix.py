"""Repositories of the Matrix world: portal rooms, patient spaces, event links.

Same style as ``repositories``: the caller decides the transaction. What runs for every
message or pushed transaction (event links, portals by room, the appservice journal) is a
synchronous Core function of a ``Connection``, called inside a unit of work (``Store.run``);
the rest (portals and spaces, made once) still takes an ``AsyncSession``.

The hot statements are built once, at import, with bound parameters: building a statement and
computing its cache key cost more than SQLite running it, and a statement object keeps its
cache key, so executing it again goes straight to the compiled form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store import direct
from bridge.store.models import (
    AppserviceTransaction,
    ConversationRecord,
    MatrixEventLink,
    PatientSpace,
    Portal,
    utcnow,
)
from bridge.store.repositories import _dialect_insert, _insert, _prepared


@dataclass(frozen=True, slots=True)
class PortalRow:
    conversation_id: str
    room_id: str


async def get_portal(session: AsyncSession, conversation_id: str) -> PortalRow | None:
    row = await session.get(Portal, conversation_id)
    return None if row is None else PortalRow(row.conversation_id, row.room_id)


async def get_portal_by_room(session: AsyncSession, room_id: str) -> PortalRow | None:
    row = await session.scalar(select(Portal).where(Portal.room_id == room_id))
    return None if row is None else PortalRow(row.conversation_id, row.room_id)


_PORTALS_BY_ROOM = select(Portal.conversation_id, Portal.room_id).where(
    Portal.room_id.in_(bindparam("rooms", expanding=True))
)


def portals_by_room(connection: Connection, room_ids: Iterable[str]) -> dict[str, PortalRow]:
    wanted = list(set(room_ids))
    if not wanted:
        return {}
    rows = direct.execute(connection, _PORTALS_BY_ROOM, {"rooms": wanted})
    return {room_id: PortalRow(conversation_id, room_id) for conversation_id, room_id in rows}


async def save_portal(session: AsyncSession, conversation_id: str, room_id: str) -> PortalRow:
    """Record a portal; the first record wins (a concurrent creation keeps the first room)."""
    now = utcnow()
    await session.execute(
        _insert(session, Portal)
        .values(conversation_id=conversation_id, room_id=room_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )
    row = await session.get(Portal, conversation_id, populate_existing=True)
    assert row is not None
    return PortalRow(row.conversation_id, row.room_id)


async def get_space(session: AsyncSession, patient_id: str) -> str | None:
    row = await session.get(PatientSpace, patient_id)
    return None if row is None else row.room_id


async def save_space(session: AsyncSession, patient_id: str, room_id: str) -> str:
    await session.execute(
        _insert(session, PatientSpace)
        .values(patient_id=patient_id, room_id=room_id, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    row = await session.get(PatientSpace, patient_id, populate_existing=True)
    assert row is not None
    return row.room_id


_EVENT_LINKED = select(MatrixEventLink.event_id).where(
    MatrixEventLink.event_id == bindparam("event_id")
)
_OUT_LINK = select(MatrixEventLink.event_id).where(
    MatrixEventLink.spico_message_id == bindparam("spico_message_id"),
    MatrixEventLink.room_id == bindparam("room_id"),
    MatrixEventLink.direction == "out",
)
_SAVE_LINK = _prepared(
    lambda dialect: _dialect_insert(dialect, MatrixEventLink).on_conflict_do_nothing()
)


def event_linked(connection: Connection, event_id: str) -> bool:
    """Whether a Matrix event was handled (inbound) or sent (outbound) already."""
    return direct.execute(connection, _EVENT_LINKED, {"event_id": event_id}).scalar() is not None


def find_out_link(connection: Connection, spico_message_id: str, room_id: str) -> str | None:
    """The Matrix event a SPICO message was already delivered as, in that room."""
    params = {"spico_message_id": spico_message_id, "room_id": room_id}
    return direct.execute(connection, _OUT_LINK, params).scalar()


_OUT_LINKS = select(MatrixEventLink.spico_message_id, MatrixEventLink.room_id).where(
    MatrixEventLink.spico_message_id.in_(bindparam("ids", expanding=True)),
    MatrixEventLink.direction == "out",
)


def delivered_already(
    connection: Connection, messages: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (SPICO message, room) pairs were delivered already: ``find_out_link`` for
    a claimed run in one statement."""
    wanted = set(messages)
    if not wanted:
        return set()
    rows = direct.execute(connection, _OUT_LINKS, {"ids": sorted({m for m, _ in wanted})})
    return {(m, r) for m, r in rows} & wanted


def save_event_link(
    connection: Connection,
    *,
    event_id: str,
    room_id: str,
    conversation_id: str,
    spico_message_id: str | None,
    direction: str,
) -> None:
    direct.execute(
        connection,
        _SAVE_LINK(connection),
        {
            "event_id": event_id,
            "room_id": room_id,
            "conversation_id": conversation_id,
            "spico_message_id": spico_message_id,
            "direction": direction,
            "created_at": utcnow(),
        },
    )


async def conversations_without_portal(session: AsyncSession, limit: int = 500) -> list[str]:
    """Known conversations that have no portal room yet (Matrix enabled on a running bridge)."""
    rows = await session.scalars(
        select(ConversationRecord.id)
        .outerjoin(Portal, Portal.conversation_id == ConversationRecord.id)
        .where(Portal.room_id.is_(None))
        .order_by(ConversationRecord.id)
        .limit(limit)
    )
    return list(rows)


# --- appservice transactions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppserviceTransactionRow:
    seq: int
    txn_id: str
    events: list[dict[str, Any]]


#: RETURNING says whether a row went in (a replay inserts none) on both dialects alike.
_JOURNAL = _prepared(
    lambda dialect: (
        _dialect_insert(dialect, AppserviceTransaction)
        .on_conflict_do_nothing(index_elements=[AppserviceTransaction.txn_id])
        .returning(AppserviceTransaction.seq)
    )
)


def journal_transaction(connection: Connection, txn_id: str, events: list[dict[str, Any]]) -> bool:
    """Record a pushed transaction; False when its id was recorded before (a replay)."""
    result = direct.execute(
        connection,
        _JOURNAL(connection),
        {"txn_id": txn_id, "events": events, "received_at": utcnow(), "handled_at": None},
    )
    return result.first() is not None


def pending_transactions(connection: Connection, limit: int = 20) -> list[AppserviceTransactionRow]:
    """Journaled transactions not handled yet, oldest first."""
    rows = connection.execute(
        select(
            AppserviceTransaction.seq, AppserviceTransaction.txn_id, AppserviceTransaction.events
        )
        .where(AppserviceTransaction.handled_at.is_(None))
        .order_by(AppserviceTransaction.seq)
        .limit(limit)
    )
    return [
        AppserviceTransactionRow(seq, txn_id, list(events or [])) for seq, txn_id, events in rows
    ]


def transaction_handled(connection: Connection, seq: int) -> None:
    """Handled: its events (message bodies) are dropped, its id kept for the dedupe."""
    connection.execute(
        update(AppserviceTransaction)
        .where(AppserviceTransaction.seq == seq)
        .values(handled_at=utcnow(), events=[])
    )
