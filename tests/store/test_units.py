"""Units of work (``Store.run``) on SQLite and PostgreSQL: one transaction each, committed on
return and rolled back on raise; on SQLite they take turns with ``transaction()``."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Connection, insert, select

from bridge.store import repositories as repo
from bridge.store.models import Cursor, utcnow
from bridge.store.repositories import Store


def _put(connection: Connection, source: str, value: str = "1") -> None:
    connection.execute(insert(Cursor).values(source=source, value=value, updated_at=utcnow()))


def _value(connection: Connection, source: str) -> str | None:
    return connection.scalar(select(Cursor.value).where(Cursor.source == source))


async def _stored(store: Store, source: str) -> str | None:
    async with store.transaction() as session:
        return await session.scalar(select(Cursor.value).where(Cursor.source == source))


async def test_a_unit_commits_when_it_returns(store: Store) -> None:
    def work(connection: Connection) -> str:
        _put(connection, "a", "7")
        return "done"

    assert await store.run(work) == "done"
    assert await _stored(store, "a") == "7"
    assert await store.run(lambda connection: _value(connection, "a")) == "7"


async def test_a_unit_rolls_back_when_it_raises(store: Store) -> None:
    def work(connection: Connection) -> None:
        _put(connection, "b")
        raise LookupError("after the write")

    with pytest.raises(LookupError, match="after the write"):
        await store.run(work)
    assert await _stored(store, "b") is None
    await store.run(lambda connection: _put(connection, "b", "2"))  # the thread carries on
    assert await _stored(store, "b") == "2"


async def test_a_failing_statement_rolls_back_the_whole_unit(store: Store) -> None:
    await store.run(lambda connection: _put(connection, "dup"))

    def work(connection: Connection) -> None:
        _put(connection, "first")
        _put(connection, "dup")  # primary key taken

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await store.run(work)
    assert await _stored(store, "first") is None


async def test_a_session_calls_a_unit_function_in_its_own_transaction(store: Store) -> None:
    async with store.transaction() as session:
        session.add(Cursor(source="orm", value="3", updated_at=utcnow()))
        # The pending ORM row is flushed first, and the call is part of this transaction.
        assert await repo.in_session(session, _value, "orm") == "3"
        await repo.in_session(session, _put, "core", "4")
    assert await _stored(store, "core") == "4"
    with pytest.raises(RuntimeError):
        async with store.transaction() as session:
            await repo.in_session(session, _put, "gone")
            raise RuntimeError("rolled back")
    assert await _stored(store, "gone") is None


async def test_on_sqlite_units_and_transactions_never_interleave(sqlite_store: Store) -> None:
    store = sqlite_store
    events: list[str] = []

    async with store.transaction() as session:
        session.add(Cursor(source="t", value="1", updated_at=utcnow()))
        unit = asyncio.create_task(
            store.run(lambda connection: events.append(f"unit sees {_value(connection, 't')}"))
        )
        await asyncio.sleep(0.2)
        assert events == [], "the unit ran inside an open transaction"
        events.append("transaction ends")
    await unit
    assert events == ["transaction ends", "unit sees 1"]

    # And the other way round: a transaction waits for a unit that is still running.
    release = threading.Event()
    entered = threading.Event()

    def slow(connection: Connection) -> None:
        entered.set()
        release.wait(10)
        _put(connection, "u")
        events.append("unit ends")

    unit = asyncio.create_task(store.run(slow))
    await asyncio.to_thread(entered.wait, 10)

    async def transaction() -> None:
        async with store.transaction() as session:
            row = await session.scalar(select(Cursor.value).where(Cursor.source == "u"))
            events.append(f"transaction sees {row}")

    waiting = asyncio.create_task(transaction())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    release.set()
    await asyncio.gather(unit, waiting)
    assert events[-2:] == ["unit ends", "transaction sees 1"]


async def test_a_cancelled_caller_keeps_the_turn_until_the_unit_ends(sqlite_store: Store) -> None:
    store = sqlite_store
    release = threading.Event()
    entered = threading.Event()

    def slow(connection: Connection) -> None:
        entered.set()
        release.wait(10)
        _put(connection, "c")

    unit = asyncio.create_task(store.run(slow))
    await asyncio.to_thread(entered.wait, 10)
    unit.cancel()
    waiting = asyncio.create_task(_stored(store, "c"))
    await asyncio.sleep(0.2)
    assert not unit.done() and not waiting.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await unit
    # The unit finished (and committed) before the turn passed on.
    assert await waiting == "1"


async def test_on_postgresql_units_run_side_by_side(postgres_url: str) -> None:
    store = await Store.open(postgres_url, migrate=False)
    try:
        barrier = threading.Barrier(2, timeout=10)

        def meet(connection: Connection) -> str:
            barrier.wait()  # raises BrokenBarrierError if the units were run one at a time
            return threading.current_thread().name

        names = await asyncio.gather(store.run(meet), store.run(meet))
        assert len(set(names)) == 2
    finally:
        await store.close()


async def test_close_stops_the_database_thread(store: Store) -> None:
    thread = await store.run(lambda connection: threading.current_thread())
    assert thread is not threading.current_thread() and thread.is_alive()
    await store.close()
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        await store.run(lambda connection: None)
    await store.close()  # closing twice is harmless
