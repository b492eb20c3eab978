"""Outbox workers on a real store: a queue's run is tried in order and stops at a failure."""

from __future__ import annotations

from sqlalchemy import select

from bridge.core.delivery import DeliveryJob, RetryLater, RetryPolicy
from bridge.core.model import World
from bridge.hub.outbox import OutboxWorkers
from bridge.store import repositories as repo
from bridge.store.models import Delivery
from bridge.store.repositories import JournalRow, NewDelivery, Store


class FlakySink:
    """Records what it is given; refuses (retry later) the events listed in ``refuse``."""

    world = World.MATRIX

    def __init__(self, refuse: set[int]) -> None:
        self.refuse = refuse
        self.tried: list[int] = []

    async def deliver(self, job: DeliveryJob) -> None:
        self.tried.append(job.event_seq)
        if job.event_seq in self.refuse:
            raise RetryLater("429", retry_after=60)


async def test_a_failure_stops_its_run_and_leaves_the_rest_untried(store: Store) -> None:
    async with store.transaction() as session:
        await repo.save_conversation(
            session, repo.ConversationSnapshot("c1", "Sujet", "81", ("81",), None, 0)
        )
        for seq in range(1, 6):
            await repo.record_event(
                session,
                JournalRow(seq, "message.posted", "c1", "81", "2026-11-26T00:00:00Z", {}),
            )
        await repo.enqueue(
            session, [NewDelivery(s, "c1", "matrix", "c1", "message") for s in range(1, 6)]
        )
    sink = FlakySink(refuse={3})
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(60, 300, 10))
    assert await workers.deliver_batch("w1") == 3, "1, 2 and 3 were tried; 4 and 5 were not"
    assert sink.tried == [1, 2, 3]
    async with store.transaction() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.event_seq))).all()
        states = [(r.event_seq, r.state, r.attempts, r.claimed_by) for r in rows]
    assert states == [
        (1, "done", 1, None),
        (2, "done", 1, None),
        (3, "pending", 1, None),  # to be retried, and it blocks its queue until then
        (4, "pending", 0, None),
        (5, "pending", 0, None),
    ]
    assert await workers.deliver_batch("w1") == 0, "nothing behind the retried head"
