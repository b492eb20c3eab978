"""Repositories of missed messages (``matrix_unread``): a portal's message not read yet by a
member who follows in Matrix. The sink adds (``unread``), the sync clears (``read``), the
Matrix world's check turns the old ones into notification requests (``due``).

Same style as ``repositories``: the caller decides the transaction. ``unread`` (every message
posted) and ``read`` (every sync batch or pushed transaction) are synchronous functions of a
``Connection``, run inside units of work (``Store.run``); ``due`` takes an ``AsyncSession``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store import direct
from bridge.store.models import MatrixUnread
from bridge.store.repositories import _dialect_insert, _prepared

_UNREAD = _prepared(lambda dialect: _dialect_insert(dialect, MatrixUnread).on_conflict_do_nothing())
_READ = delete(MatrixUnread).where(
    MatrixUnread.conversation_id == bindparam("conversation_id"),
    MatrixUnread.member_id.in_(bindparam("members", expanding=True)),
)


def unread(
    connection: Connection, conversation_id: str, members: Iterable[str], now: datetime, seq: int
) -> None:
    """A message (journal ``seq``) reached the portal: each member has it unread (the oldest
    one counts). The statements are built once (see ``bridge.store.matrix``)."""
    rows = [
        {"conversation_id": conversation_id, "member_id": m, "since": now, "first_seq": seq}
        for m in members
    ]
    if rows:
        direct.execute(connection, _UNREAD(connection), rows)


def read(connection: Connection, conversation_id: str, members: Iterable[str]) -> None:
    """The members read the portal (a receipt, or a message of theirs): nothing is missed."""
    wanted = sorted(set(members))
    if wanted:
        direct.execute(connection, _READ, {"conversation_id": conversation_id, "members": wanted})


async def due(session: AsyncSession, before: datetime) -> list[tuple[str, str, int | None]]:
    """(conversation, member, oldest unread seq) unread since before ``before``."""
    rows = await session.execute(
        select(MatrixUnread.conversation_id, MatrixUnread.member_id, MatrixUnread.first_seq).where(
            MatrixUnread.since <= before
        )
    )
    return [(c, m, s) for c, m, s in rows.all()]
