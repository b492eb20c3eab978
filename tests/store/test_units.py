"""Units of work (``Store.run``) on SQLite and PostgreSQL: one transaction each, committed on
return and rolled back on raise; on SQLite they take turns with ``transaction()``."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from bridge.store import repositories as repo
from bridge.store import units
from bridge.store.db import SQLITE_BUSY_TIMEOUT_MS
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

    unit = asyncio.create_task(store.run(slow, heavy=True))
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

    unit = asyncio.create_task(store.run(slow, heavy=True))
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
    thread = await store.run(lambda connection: threading.current_thread(), heavy=True)
    assert thread is not threading.current_thread() and thread.is_alive()
    await store.close()
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        await store.run(lambda connection: None)
    await store.close()  # closing twice is harmless


# --- SQLite: units on the event-loop thread ---------------------------------------------------


def _database(store: Store) -> Path:
    return Path(str(store.engine.url.database))


def _pragma(name: str) -> Callable[[Connection], Any]:
    return lambda connection: connection.exec_driver_sql(f"PRAGMA {name}").scalar()


async def test_on_sqlite_a_unit_runs_inline_unless_heavy(sqlite_store: Store) -> None:
    store = sqlite_store
    here = threading.current_thread()
    assert await store.run(lambda connection: threading.current_thread()) is here
    assert await store.run(lambda connection: threading.current_thread(), heavy=True) is not here
    # The loop's connection never waits for a lock nor checkpoints on commit; the thread's does.
    assert await store.run(_pragma("busy_timeout")) == 0
    assert await store.run(_pragma("wal_autocheckpoint")) == 0
    assert await store.run(_pragma("busy_timeout"), heavy=True) == SQLITE_BUSY_TIMEOUT_MS
    assert await store.run(_pragma("wal_autocheckpoint"), heavy=True) == 1000


async def test_on_sqlite_a_locked_database_sends_the_unit_to_the_thread(
    sqlite_store: Store,
) -> None:
    """Another process holds the write lock: the unit waits for it on the database thread, and
    the event loop keeps running meanwhile."""
    store = sqlite_store
    await store.run(lambda connection: None)  # the loop's connection is open
    other = sqlite3.connect(_database(store), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO cursors (source, value, updated_at) VALUES ('other', '1', '2026-01-01')"
        )
        threads: list[threading.Thread] = []

        def work(connection: Connection) -> str | None:
            threads.append(threading.current_thread())
            _put(connection, "mine")
            return _value(connection, "other")

        unit = asyncio.create_task(store.run(work))
        turns = 0
        while turns < 50:  # the loop runs other tasks while the unit waits
            await asyncio.sleep(0)
            turns += 1
        assert not unit.done()
        other.execute("COMMIT")
        assert await unit == "1"  # it ran after the other writer's commit
    finally:
        other.close()
    assert threads == [threads[0]] and threads[0] is not threading.current_thread()
    assert await _stored(store, "mine") == "1"
    # The next unit runs inline again.
    assert await store.run(lambda connection: threading.current_thread()) is (
        threading.current_thread()
    )


async def test_on_sqlite_a_unit_busy_part_way_is_rolled_back_and_run_again_on_the_thread(
    sqlite_store: Store,
) -> None:
    store = sqlite_store
    threads: list[threading.Thread] = []

    def work(connection: Connection) -> int:
        threads.append(threading.current_thread())
        _put(connection, "once")  # a second insert would fail unless the first was undone
        if len(threads) == 1:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise busy
        return len(threads)

    assert await store.run(work) == 2
    assert threads[0] is threading.current_thread() and threads[1] is not threads[0]
    assert await _stored(store, "once") == "1"


async def test_on_sqlite_other_errors_of_an_inline_unit_reach_the_caller(
    sqlite_store: Store,
) -> None:
    calls: list[None] = []

    def work(connection: Connection) -> None:
        calls.append(None)
        connection.exec_driver_sql("SELECT * FROM no_such_table")

    with pytest.raises(Exception, match="no_such_table"):
        await sqlite_store.run(work)
    assert len(calls) == 1


async def test_on_sqlite_inline_commits_are_checkpointed(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection does not checkpoint; the runner has the thread do it every
    ``CHECKPOINT_EVERY`` commits, so the WAL keeps being reused instead of growing."""
    store = sqlite_store
    wal = _database(store).with_name(_database(store).name + "-wal")

    async def commit(count: int, prefix: str) -> int:
        for index in range(count):
            await store.run(partial(_put, source=f"{prefix}{index}", value="x" * 2000))
        return wal.stat().st_size

    monkeypatch.setattr(units, "CHECKPOINT_EVERY", 10)
    checkpointed = await commit(100, "a")
    monkeypatch.setattr(units, "CHECKPOINT_EVERY", 10**9)
    unchecked = await commit(100, "b")  # the same commits, nothing checkpoints them
    assert checkpointed * 3 < unchecked
    assert await _stored(store, "b99") == "x" * 2000
