"""The outbox's hand-off: a live batch's fresh deliveries claimed for an idle worker inside the
fan-out's own unit of work (no second unit for their claim), in queue order, recoverable."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import cast

import pytest
from sqlalchemy import Connection, select, update

from bridge.core.delivery import DeliveryJob, RetryPolicy
from bridge.core.model import World
from bridge.hub import outbox
from bridge.hub.fanout import FanOut
from bridge.hub.outbox import Loaded, OutboxWorkers, _Waiting
from bridge.spico.client import SpicoClient
from bridge.store import repositories as repo
from bridge.store.models import Delivery, utcnow
from bridge.store.repositories import JournalRow, NewDelivery, Store
from tests.fixtures.sqlite import count_units
from tests.hub.test_fanout import BOTH, _known_conversation, _posted
from tests.store.test_claim_fresh import counting, own_engine


class Sink:
    world = World.MATRIX

    def __init__(self, *, whole: bool = False) -> None:
        self.seqs: list[int] = []
        self.delivered = asyncio.Event()
        self.whole = whole

    async def deliver(self, job: DeliveryJob) -> None:
        if self.whole:
            assert job.conversation is not None and job.participants and job.authors
        self.seqs.append(job.event_seq)
        self.delivered.set()


MATRIX_ONLY = BOTH.__class__(frozenset({World.MATRIX}))


async def _states(store: Store) -> list[tuple[int, str, str | None]]:
    async with store.transaction() as session:
        rows = await session.execute(
            select(Delivery.event_seq, Delivery.state, Delivery.claimed_by).order_by(Delivery.id)
        )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_lone_message_costs_no_unit_for_its_claim(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fan-out (with the claim), then the settle: two units, where the worker's own claim
    made three; the job is whole (snapshot, members, author) from what the fan-out read."""
    monkeypatch.setattr(outbox, "IDLE_POLL_SECONDS", 600.0)
    await _known_conversation(store)
    sink = Sink(whole=True)
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(), workers=2)
    fanout = FanOut(
        store,
        cast(SpicoClient, None),
        {},
        MATRIX_ONLY,
        on_enqueued=workers.wake,
        hand_off=workers.hand_off,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        for _ in range(500):
            if len(workers._idle) == 2:
                break
            await asyncio.sleep(0.01)
        units = count_units(store, monkeypatch)
        await fanout.handle_batch([_posted(2)])
        await asyncio.wait_for(sink.delivered.wait(), 30)
        for _ in range(500):
            if (await _states(store))[0][1] == "done":
                break
            await asyncio.sleep(0.01)
        counted = [u for u in units if getattr(u, "func", None) != repo.get_conversations]
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert sink.seqs == [2]
    assert await _states(store) == [(2, "done", None)]
    names = [getattr(getattr(u, "func", None), "__name__", None) for u in counted]
    # Then the next look (PostgreSQL: another process may have enqueued) claims nothing.
    assert names[:2] == ["_record_batch", "_record_outcomes"], "no claim unit of its own"
    if store.dialect == "sqlite":
        assert names == ["_record_batch", "_record_outcomes"]


async def _queue(store: Store, seqs: list[int]) -> None:
    def record(connection: Connection) -> None:
        for seq in seqs:
            repo.record_event(
                connection,
                JournalRow(seq, "message.posted", "c1", "81", "2026-11-26T00:00:00Z", {}),
            )
        repo.enqueue(connection, [NewDelivery(s, "c1", "matrix", "c1", "message") for s in seqs])

    await store.run(record)


def _reserve(workers: OutboxWorkers, name: str) -> outbox.HandOff:
    workers._idle.append(_Waiting(name))
    handoff = workers.hand_off()
    assert handoff is not None
    return handoff


async def _hand_off(store: Store, handoff: outbox.HandOff, seq: int) -> bool:
    """Event ``seq`` journaled and queued, and claimed by ``handoff``, in one unit of work."""

    def unit(connection: Connection) -> bool:
        row = JournalRow(seq, "message.posted", "c1", "81", "2026-11-26T00:00:00Z", {})
        repo.record_event(connection, row)
        fresh = repo.enqueue_fresh(connection, [NewDelivery(seq, "c1", "matrix", "c1", "message")])
        return handoff.claim(connection, fresh, Loaded({seq: row}, {}, {}))

    return await store.run(unit)


def _hand_off_counted(
    url: str, handoff: outbox.HandOff, deliveries: list[NewDelivery]
) -> tuple[bool, list[str]]:
    """``deliveries`` (of event 1) enqueued and claimed by ``handoff`` in one transaction of
    an engine of its own: whether all were claimed, and the statements on the outbox table."""
    row = JournalRow(1, "message.posted", "c1", "81", "2026-11-26T00:00:00Z", {})
    with own_engine(url) as engine, engine.begin() as connection:
        repo.record_event(connection, row)
        fresh = repo.enqueue_fresh(connection, deliveries)
        with counting(engine) as statements:
            handed = handoff.claim(connection, fresh, Loaded({1: row}, {}, {}))
    return handed, [s for s in statements if "deliveries" in s]


async def test_lone_fresh_heads_are_handed_off_with_two_outbox_statements(
    store: Store, database_url: str
) -> None:
    """Each alone at the head of its queue: the heads read, then the claim (the general claim
    adds the due heads and their followers)."""
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    waiting = _Waiting("me:w0")
    workers._idle.append(waiting)
    handoff = workers.hand_off()
    assert handoff is not None
    two_rooms = [NewDelivery(1, "c1", "matrix", room, "message") for room in ("c1", "r2")]
    handed, statements = _hand_off_counted(database_url, handoff, two_rooms)
    assert handed is True
    assert len(statements) == 2, statements
    handoff.dispatch()
    assert waiting.batch is not None
    claimed, jobs = waiting.batch
    assert [(c.destination, c.attempts) for c in claimed] == [("c1", 1), ("r2", 1)]
    assert sorted(jobs) == [c.id for c in claimed] and all(j.attempt == 1 for j in jobs.values())
    assert await _states(store) == [(1, "sending", "me:w0"), (1, "sending", "me:w0")]


async def test_two_fresh_deliveries_of_one_queue_are_handed_off_by_the_general_claim(
    store: Store, database_url: str
) -> None:
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    waiting = _Waiting("me:w0")
    workers._idle.append(waiting)
    handoff = workers.hand_off()
    assert handoff is not None
    same_room = [NewDelivery(1, "c1", "matrix", "c1", kind) for kind in ("state", "message")]
    handed, statements = _hand_off_counted(database_url, handoff, same_room)
    assert handed is True
    assert len(statements) == 4, "heads, due heads, followers, claim"
    handoff.dispatch()
    assert waiting.batch is not None
    assert [(c.kind, c.attempts) for c in waiting.batch[0]] == [("state", 1), ("message", 1)]
    assert await _states(store) == [(1, "sending", "me:w0"), (1, "sending", "me:w0")]


async def test_a_fresh_delivery_behind_a_retrying_one_is_not_handed_off(store: Store) -> None:
    await _queue(store, [1])
    async with store.transaction() as session:
        await session.execute(
            update(Delivery).values(attempts=1, next_attempt_at=utcnow() + timedelta(hours=1))
        )
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    handoff = _reserve(workers, "me:w0")
    assert await _hand_off(store, handoff, 2) is False, "the workers are woken as usual"
    handoff.dispatch()
    assert await _states(store) == [(1, "pending", None), (2, "pending", None)]
    assert len(workers._idle) == 1, "the reserved worker is idle again"


async def test_an_earlier_pending_delivery_of_the_queue_is_claimed_first(store: Store) -> None:
    await _queue(store, [1])
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    handoff = _reserve(workers, "me:w0")
    assert await _hand_off(store, handoff, 2) is True
    assert await _states(store) == [(1, "sending", "me:w0"), (2, "sending", "me:w0")]
    waiting = workers._idle  # the worker was taken off the idle ones
    assert not waiting
    handoff.dispatch()


async def test_a_queue_head_in_flight_elsewhere_holds_the_fresh_one_back(store: Store) -> None:
    await _queue(store, [1])
    other = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    claimed, _ = await store.run(partial(other._claim_batch, "them:w0"))
    assert [c.event_seq for c in claimed] == [1]
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    handoff = _reserve(workers, "me:w0")
    assert await _hand_off(store, handoff, 2) is False
    handoff.dispatch()
    assert await _states(store) == [(1, "sending", "them:w0"), (2, "pending", None)]


def test_no_idle_worker_no_hand_off() -> None:
    workers = OutboxWorkers(cast(Store, _FakeStore()), {}, {}, RetryPolicy())
    assert workers.hand_off() is None


class _FakeStore:
    dialect = "sqlite"


async def test_a_hand_off_killed_before_delivery_is_recovered(store: Store) -> None:
    """Committed, never dispatched (the process died): the claim carries the dead process's
    worker name, so recovery gives it back and it is delivered once."""
    dead = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    handoff = _reserve(dead, "424242:w0")
    await _queue(store, [])
    assert await _hand_off(store, handoff, 1) is True
    assert await _states(store) == [(1, "sending", "424242:w0")]
    sink = Sink()
    alive = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy())
    assert await alive.recover() == 1
    assert await alive.deliver_batch("me:w0") == 1
    assert sink.seqs == [1]
    assert await _states(store) == [(1, "done", None)]


async def test_an_abandoned_hand_off_has_its_worker_give_the_claims_back(store: Store) -> None:
    """The unit's outcome is unknown (its caller cancelled after the commit): the worker is
    woken to give back what it may hold before claiming as usual."""
    workers = OutboxWorkers(store, {World.MATRIX: Sink()}, {}, RetryPolicy())
    waiting = _Waiting("me:w0")
    workers._idle.append(waiting)
    handoff = workers.hand_off()
    assert handoff is not None
    assert await _hand_off(store, handoff, 1) is True
    handoff.abandon()
    assert waiting.event.is_set() and waiting.batch is None and len(waiting.release) == 1
