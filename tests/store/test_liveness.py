"""Process liveness: a dead process's claims are recognised at once, a live one's never; one
process reads each source, the others stand by."""

from __future__ import annotations

import asyncio

from bridge.store import repositories as repo
from bridge.store.liveness import Liveness, SourceLock, owner_of
from bridge.store.repositories import NewDelivery, Store
from tests.fixtures.waiting import eventually


def test_owner_is_the_process_part_of_a_worker_name() -> None:
    assert owner_of("123456:w3") == "123456"


async def test_a_running_process_is_alive_and_a_stopped_one_is_dead(store: Store) -> None:
    other, me = Liveness(store), Liveness(store)
    await other.start()
    await me.start()
    try:
        async with store.transaction() as session:
            assert not await repo.in_session(session, me.is_dead, me.owner)
            # SQLite has a single owner process: any other name is a previous, dead run.
            assert await repo.in_session(session, me.is_dead, other.owner) is (
                store.dialect == "sqlite"
            )
        await other.stop()
        async with store.transaction() as session:
            assert await repo.in_session(session, me.is_dead, other.owner)
    finally:
        await other.stop()
        await me.stop()


async def test_claims_of_a_process_are_released_together(store: Store) -> None:
    async with store.transaction() as session:
        for seq in (1, 2, 3):
            await repo.in_session(
                session,
                repo.record_event,
                repo.JournalRow(seq, "message.posted", f"c{seq}", None, "2026-11-25T10:00:00Z", {}),
            )
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, f"c{s}", "matrix", "room", "message") for s in (1, 2, 3)],
        )
        await repo.in_session(session, repo.claim_due, "111:w0", limit=1)
        await repo.in_session(session, repo.claim_due, "111:w1", limit=1)
        await repo.in_session(session, repo.claim_due, "222:w0", limit=1)
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.claim_holders) == {"111:w0", "111:w1", "222:w0"}
        assert await repo.in_session(session, repo.release_claims_of_process, "111") == 2
        assert await repo.in_session(session, repo.claim_holders) == {"222:w0"}


async def test_one_process_reads_a_source_and_another_takes_over(store: Store) -> None:
    """Two processes are two stores (engines, sessions) on the same database."""
    other = await Store.open(store.engine.url.render_as_string(hide_password=False), migrate=False)
    stop = asyncio.Event()
    first_done, ran = asyncio.Event(), []

    async def first_work() -> None:
        ran.append("first")
        await first_done.wait()

    async def second_work() -> None:
        ran.append("second")

    first = SourceLock(store, "spico", retry_seconds=0.1)
    second = SourceLock(other, "spico", retry_seconds=0.1)
    try:
        task_1 = asyncio.create_task(first.hold(stop, first_work))
        await eventually(lambda: ran == ["first"], "the first process reading")
        task_2 = asyncio.create_task(second.hold(stop, second_work))
        if store.dialect == "postgresql":
            await eventually(lambda: second.standing_by, "the second standing by")
            assert ran == ["first"], "never two readers at once"
        first_done.set()  # the first stops (or dies): the second takes over
        await asyncio.wait_for(asyncio.gather(task_1, task_2), 10)
        assert ran == ["first", "second"] and not second.standing_by
    finally:
        stop.set()
        await other.close()


async def test_a_standing_by_process_stops_when_asked(store: Store) -> None:
    other = await Store.open(store.engine.url.render_as_string(hide_password=False), migrate=False)
    stop, held, holding = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        holding.set()
        await held.wait()

    try:
        holder = asyncio.create_task(SourceLock(store, "mail").hold(stop, hold))
        await asyncio.wait_for(holding.wait(), 10)  # the first process reads the source
        waiting = SourceLock(other, "mail", retry_seconds=0.1)
        standby = asyncio.create_task(waiting.hold(stop, held.wait))
        if store.dialect == "postgresql":
            await eventually(lambda: waiting.standing_by, "standing by")
        stop.set()
        held.set()
        await asyncio.wait_for(asyncio.gather(holder, standby), 10)
    finally:
        await other.close()
