"""Repositories of the Matrix world: portal rooms, patient spaces, event links.

Same style as ``repositories``: functions over an ``AsyncSession``; the caller decides the
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
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


async def portals_by_room(session: AsyncSession, room_ids: Iterable[str]) -> dict[str, PortalRow]:
    wanted = set(room_ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Portal).where(Portal.room_id.in_(wanted)))
    return {row.room_id: PortalRow(row.conversation_id, row.room_id) for row in rows}


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


async def get_event_link(session: AsyncSession, event_id: str) -> MatrixEventLink | None:
    return await session.get(MatrixEventLink, event_id)


async def find_out_link(session: AsyncSession, spico_message_id: str, room_id: str) -> str | None:
    """The Matrix event a SPICO message was already delivered as, in that room."""
    return await session.scalar(
        select(MatrixEventLink.event_id).where(
            MatrixEventLink.spico_message_id == spico_message_id,
            MatrixEventLink.room_id == room_id,
            MatrixEventLink.direction == "out",
        )
    )


async def save_event_link(
    session: AsyncSession,
    *,
    event_id: str,
    room_id: str,
    conversation_id: str,
    spico_message_id: str | None,
    direction: str,
) -> None:
    await session.execute(
        _insert(session, MatrixEventLink)
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


async def journal_transaction(
    session: AsyncSession, txn_id: str, events: list[dict[str, Any]]
) -> bool:
    """Record a pushed transaction; False when its id was recorded before (a replay)."""
    result = await session.execute(
        _insert(session, AppserviceTransaction)
        .values(txn_id=txn_id, events=events, received_at=utcnow(), handled_at=None)
        .on_conflict_do_nothing(index_elements=[AppserviceTransaction.txn_id])
    )
    return bool(result.rowcount)


async def pending_transactions(
    session: AsyncSession, limit: int = 20
) -> list[AppserviceTransactionRow]:
    """Journaled transactions not handled yet, oldest first."""
    rows = await session.scalars(
        select(AppserviceTransaction)
        .where(AppserviceTransaction.handled_at.is_(None))
        .order_by(AppserviceTransaction.seq)
        .limit(limit)
    )
    return [AppserviceTransactionRow(r.seq, r.txn_id, list(r.events or [])) for r in rows]


async def transaction_handled(session: AsyncSession, seq: int) -> None:
    """Handled: its events (message bodies) are dropped, its id kept for the dedupe."""
    await session.execute(
        update(AppserviceTransaction)
        .where(AppserviceTransaction.seq == seq)
        .values(handled_at=utcnow(), events=[])
    )
