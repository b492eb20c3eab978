"""Repositories of the Matrix commands: management rooms and per-user command state (a
``notify`` command's outbox entry: ``bridge.store.notifications``).

Same style as ``repositories``: the caller decides the transaction; ``management_rooms``, read
for every sync batch or pushed transaction, is a synchronous function of a ``Connection`` (a
unit of work, ``Store.run``), the rest take an ``AsyncSession``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.store import direct
from bridge.store.models import CommandState, ManagementRoom, utcnow
from bridge.store.repositories import _insert

# --- management rooms ----------------------------------------------------------------------


async def save_management_room(session: AsyncSession, room_id: str, matrix_user: str) -> None:
    statement = _insert(session, ManagementRoom).values(
        room_id=room_id, matrix_user=matrix_user, created_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ManagementRoom.room_id],
        set_={"matrix_user": statement.excluded.matrix_user},
    )
    await session.execute(statement)


async def forget_management_room(session: AsyncSession, room_id: str) -> None:
    await session.execute(delete(ManagementRoom).where(ManagementRoom.room_id == room_id))


#: Built once (see ``bridge.store.matrix``).
_MANAGEMENT_ROOMS = select(ManagementRoom.room_id, ManagementRoom.matrix_user).where(
    ManagementRoom.room_id.in_(bindparam("rooms", expanding=True))
)


def management_rooms(connection: Connection, room_ids: Iterable[str]) -> dict[str, str]:
    """{room: its owner} for those of ``room_ids`` that are management rooms (a sync's or a
    pushed transaction's rooms, looked up with their portals in one unit of work)."""
    wanted = set(room_ids)
    if not wanted:
        return {}
    rows = direct.execute(connection, _MANAGEMENT_ROOMS, {"rooms": sorted(wanted)})
    return {room_id: owner for room_id, owner in rows}


async def management_room_of(session: AsyncSession, matrix_user: str) -> str | None:
    """The user's most recent management room."""
    return await session.scalar(
        select(ManagementRoom.room_id)
        .where(ManagementRoom.matrix_user == matrix_user)
        .order_by(ManagementRoom.created_at.desc())
        .limit(1)
    )


# --- command state -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandStateRow:
    matrix_user: str
    spico_id: str
    acting_as: str | None = None
    acting_name: str | None = None
    lists: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    dialogue: Mapping[str, Any] | None = None


async def get_state(session: AsyncSession, matrix_user: str) -> CommandStateRow | None:
    row = await session.get(CommandState, matrix_user)
    if row is None:
        return None
    return CommandStateRow(
        row.matrix_user,
        row.spico_id,
        row.acting_as,
        row.acting_name,
        dict(row.lists or {}),
        dict(row.context or {}),
        dict(row.dialogue) if row.dialogue is not None else None,
    )


async def save_state(session: AsyncSession, state: CommandStateRow) -> None:
    values = {
        "matrix_user": state.matrix_user,
        "spico_id": state.spico_id,
        "acting_as": state.acting_as,
        "acting_name": state.acting_name,
        "lists": dict(state.lists),
        "context": dict(state.context),
        "dialogue": dict(state.dialogue) if state.dialogue is not None else None,
        "updated_at": utcnow(),
    }
    statement = _insert(session, CommandState).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[CommandState.matrix_user],
        set_={key: statement.excluded[key] for key in values if key != "matrix_user"},
    )
    await session.execute(statement)


async def acting_as(session: AsyncSession, matrix_user: str, spico_id: str) -> str | None:
    """The account the user chose to act as, if they chose one while mapped to ``spico_id``."""
    row = await session.get(CommandState, matrix_user)
    if row is None or row.spico_id != spico_id:
        return None
    return row.acting_as
