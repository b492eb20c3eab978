"""The Matrix world's hot repository functions (prebuilt statements run as units of work), on
SQLite and PostgreSQL: event links, portals by room, the appservice journal, missed messages,
management rooms."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from bridge.store import commands as commands_repo
from bridge.store import matrix as matrix_repo
from bridge.store import unread as unread_repo
from bridge.store.models import MatrixUnread
from bridge.store.repositories import Store


def _link(connection: Connection, event_id: str, message: str | None = "msg-1") -> None:
    matrix_repo.save_event_link(
        connection,
        event_id=event_id,
        room_id="!room:x",
        conversation_id="conv-1",
        spico_message_id=message,
        direction="out",
    )


async def test_an_event_link_is_kept_once_and_found_both_ways(store: Store) -> None:
    await store.run(functools.partial(_link, event_id="$a"))
    await store.run(functools.partial(_link, event_id="$a", message="other"))  # ignored
    assert await store.run(functools.partial(matrix_repo.event_linked, event_id="$a"))
    assert not await store.run(functools.partial(matrix_repo.event_linked, event_id="$b"))
    found = functools.partial(matrix_repo.find_out_link, spico_message_id="msg-1")
    assert await store.run(functools.partial(found, room_id="!room:x")) == "$a"
    assert await store.run(functools.partial(found, room_id="!other:x")) is None


async def test_portals_are_looked_up_by_room_with_management_rooms_beside(store: Store) -> None:
    async with store.transaction() as session:
        await matrix_repo.save_portal(session, "conv-1", "!portal:x")
        await commands_repo.save_management_room(session, "!manage:x", "@alice:x")
    rooms = ["!portal:x", "!manage:x", "!none:x"]
    portals = await store.run(functools.partial(matrix_repo.portals_by_room, room_ids=rooms))
    assert portals == {"!portal:x": matrix_repo.PortalRow("conv-1", "!portal:x")}
    managed = await store.run(functools.partial(commands_repo.management_rooms, room_ids=rooms))
    assert managed == {"!manage:x": "@alice:x"}
    assert await store.run(functools.partial(matrix_repo.portals_by_room, room_ids=[])) == {}


async def test_a_replayed_transaction_is_journaled_once_and_handled_once(store: Store) -> None:
    events = [{"type": "m.room.message", "event_id": "$e", "content": {"body": "x"}}]
    journal = functools.partial(matrix_repo.journal_transaction, txn_id="t1", events=events)
    assert await store.run(journal)
    assert not await store.run(journal)
    [row] = await store.run(matrix_repo.pending_transactions)
    assert (row.txn_id, row.events) == ("t1", events)
    await store.run(functools.partial(matrix_repo.transaction_handled, seq=row.seq))
    assert await store.run(matrix_repo.pending_transactions) == []
    assert not await store.run(journal)


async def test_missed_messages_are_added_once_and_cleared_per_member(store: Store) -> None:
    now = datetime.now(UTC)
    for seq in (5, 6):  # the oldest unread message counts
        await store.run(
            functools.partial(
                unread_repo.unread,
                conversation_id="conv-1",
                members=["ana", "bob"],
                now=now,
                seq=seq,
            )
        )

    def unread_rows(connection: Connection) -> int:
        return connection.scalar(select(func.count()).select_from(MatrixUnread)) or 0

    assert await store.run(unread_rows) == 2
    await store.run(functools.partial(unread_repo.read, conversation_id="conv-1", members=["ana"]))
    async with store.transaction() as session:
        assert await unread_repo.due(session, now) == [("conv-1", "bob", 5)]
