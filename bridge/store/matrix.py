"""Repositories of the Matrix world: portal rooms, patient spaces, event links.

Same style as ``repositories``: the caller decides the transaction. What runs for every
message or pushed transaction (event links, portals by room, the appservice journal) is a
synchronous Core function of a ``Connection``, called inside a unit of work (``Store.run``);
the rest (portals and spaces, made once) still takes an ``AsyncSession``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store.models import (
    AppserviceTransaction,
    ConversationRecord,
    MatrixEventLink,
    PatientSpace,
    Portal,
    utcnow,
)
from bridge.store.repositories import _insert


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


def portals_by_room(connection: Connection, room_ids: Iterable[str]) -> dict[str, PortalRow]:
    wanted = set(room_ids)
    if not wanted:
        return {}
    rows = connection.execute(
        select(Portal.conversation_id, Portal.room_id).where(Portal.room_id.in_(wanted))
    )
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


def event_linked(connection: Connection, event_id: str) -> bool:
    """Whether a Matrix event was handled (inbound) or sent (outbound) already."""
    found = connection.scalar(
        select(MatrixEventLink.event_id).where(MatrixEventLink.event_id == event_id)
    )
    return found is not None


def find_out_link(connection: Connection, spico_message_id: str, room_id: str) -> str | None:
    """The Matrix event a SPICO message was already delivered as, in that room."""
    return connection.scalar(
        select(MatrixEventLink.event_id).where(
            MatrixEventLink.spico_message_id == spico_message_id,
            MatrixEventLink.room_id == room_id,
            MatrixEventLink.direction == "out",
        )
    )


def save_event_link(
    connection: Connection,
    *,
    event_id: str,
    room_id: str,
    conversation_id: str,
    spico_message_id: str | None,
    direction: str,
) -> None:
    connection.execute(
        _insert(connection, MatrixEventLink)
        .values(
            event_id=event_id,
            room_id=room_id,
            conversation_id=conversation_id,
            spico_message_id=spico_message_id,
            direction=direction,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
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


def journal_transaction(connection: Connection, txn_id: str, events: list[dict[str, Any]]) -> bool:
    """Record a pushed transaction; False when its id was recorded before (a replay)."""
    result = connection.execute(
        _insert(connection, AppserviceTransaction)
        .values(txn_id=txn_id, events=events, received_at=utcnow(), handled_at=None)
        .on_conflict_do_nothing(index_elements=[AppserviceTransaction.txn_id])
    )
    return bool(result.rowcount)


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
