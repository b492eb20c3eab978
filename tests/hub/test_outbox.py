"""Outbox workers on a real store: a queue's run is tried in order and stops at a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, select

from bridge.core.delivery import DeliveryJob, RetryLater, RetryPolicy
from bridge.core.model import Name, World
from bridge.hub import outbox
from bridge.hub.outbox import OutboxWorkers
from bridge.store import repositories as repo
from bridge.store.models import AuditEntry, Delivery
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


async def _enqueue_messages(
    store: Store,
    seqs: Iterable[int],
    world: World = World.MATRIX,
    destination: str = "c1",
    *,
    members: tuple[str, ...] | None = None,
) -> None:
    """Messages ``seqs`` of conversation c1 (by 81) journaled and queued for ``destination`` in
    ``world``; with ``members``, the conversation's snapshot is saved first."""
    seqs = list(seqs)

    def record(connection: Connection) -> None:
        if members is not None:
            repo.save_conversation(
                connection, repo.ConversationSnapshot("c1", "Sujet", "81", members, None, 0)
            )
        for seq in seqs:
            repo.record_event(
                connection,
                JournalRow(seq, "message.posted", "c1", "81", "2026-11-26T00:00:00Z", {}),
            )
        repo.enqueue(
            connection, [NewDelivery(s, "c1", world.value, destination, "message") for s in seqs]
        )

    await store.run(record)


async def _delivery_states(store: Store) -> list[tuple[int, str, int, str | None]]:
    """(event seq, state, attempts, claimed by) of every delivery, in seq order."""
    async with store.transaction() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.event_seq))).all()
    return [(r.event_seq, r.state, r.attempts, r.claimed_by) for r in rows]


async def test_a_failure_stops_its_run_and_leaves_the_rest_untried(store: Store) -> None:
    await _enqueue_messages(store, range(1, 6), members=("81",))
    sink = FlakySink(refuse={3})
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(60, 300, 10))
    assert await workers.deliver_batch("w1") == 3, "1, 2 and 3 were tried; 4 and 5 were not"
    assert sink.tried == [1, 2, 3]
    assert await _delivery_states(store) == [
        (1, "done", 1, None),
        (2, "done", 1, None),
        (3, "pending", 1, None),  # to be retried, and it blocks its queue until then
        (4, "pending", 0, None),
        (5, "pending", 0, None),
    ]
    assert await workers.deliver_batch("w1") == 0, "nothing behind the retried head"


class MailSinkSeeingTheStore:
    """A mail sink that looks, at each delivery, at which of its queue are already done."""

    world = World.MAIL

    def __init__(self, store: Store) -> None:
        self.store = store
        self.done_before: list[list[int]] = []

    async def deliver(self, job: DeliveryJob) -> None:
        async with self.store.transaction() as session:
            rows = await session.scalars(select(Delivery).where(Delivery.state == "done"))
            self.done_before.append(sorted(r.event_seq for r in rows))
        if job.event_seq == 3:
            raise RetryLater("451")


async def test_each_mail_is_settled_right_after_its_attempt(store: Store) -> None:
    """Mail has no transaction id: a kill must not find earlier mails of the run unsettled
    (the next process would send them again)."""
    await _enqueue_messages(store, range(1, 5), World.MAIL, "82", members=("81", "82"))
    sink = MailSinkSeeingTheStore(store)
    workers = OutboxWorkers(store, {World.MAIL: sink}, {}, RetryPolicy(60, 300, 10))
    assert await workers.deliver_batch("w1") == 3
    assert sink.done_before == [[], [1], [1, 2]]
    assert await _delivery_states(store) == [
        (1, "done", 1, None),
        (2, "done", 1, None),
        (3, "pending", 1, None),
        (4, "pending", 0, None),
    ]


class RecordingMailSink:
    """Records each 'mail' and settles its delivery in that same transaction."""

    world = World.MAIL

    def __init__(self, store: Store) -> None:
        self.store = store

    async def deliver(self, job: DeliveryJob) -> None:
        settle = job.settle
        assert settle is not None

        def record_what_was_sent(connection: Connection) -> None:
            repo.record_inbound(
                connection,
                idempotency_key=f"sent:{job.event_seq}",
                world="test",
                origin="x",
                conversation_id=job.conversation_id,
                author_id="81",
            )
            settle.within(connection)

        await self.store.run(record_what_was_sent)
        settle.committed()


async def test_a_mail_sink_settles_in_the_transaction_recording_what_it_sent(
    store: Store,
) -> None:
    await _enqueue_messages(store, (1, 2), World.MAIL, "82", members=("81", "82"))
    workers = OutboxWorkers(store, {World.MAIL: RecordingMailSink(store)}, {}, RetryPolicy())
    assert await workers.deliver_batch("w1") == 2
    async with store.transaction() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.event_seq))).all()
        audits = (await session.scalars(select(AuditEntry))).all()
    assert [(r.state, r.claimed_by) for r in rows] == [("done", None), ("done", None)]
    assert len([a for a in audits if a.action == "relay.message"]) == 2, "settled once each"


class HeldSink:
    """Holds the first delivery until ``release`` is set; records every event it is given."""

    world = World.MATRIX

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.delivered: list[int] = []
        self.second = asyncio.Event()

    async def deliver(self, job: DeliveryJob) -> None:
        if not self.delivered:
            self.holding.set()
            await self.release.wait()
        self.delivered.append(job.event_seq)
        if len(self.delivered) == 2:
            self.second.set()


async def test_a_delivery_queued_behind_one_in_flight_goes_when_that_one_is_settled(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker that held the queue looks again after its batch because a wake-up came
    meanwhile (the woken idle worker found the queue's head still being sent). With the idle
    poll out of the way, only that look delivers the second message."""
    monkeypatch.setattr(outbox, "IDLE_POLL_SECONDS", 3600.0)
    store = sqlite_store
    await store.run(
        lambda connection: repo.save_conversation(
            connection, repo.ConversationSnapshot("c1", "Sujet", "81", ("81",), None, 0)
        )
    )
    sink = HeldSink()
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(), workers=2)
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        await _enqueue_messages(store, [1])
        workers.wake()
        await asyncio.wait_for(sink.holding.wait(), 30)
        await _enqueue_messages(store, [2])
        workers.wake()
        await asyncio.sleep(0.2)  # the idle worker's claim finds the queue's head in flight
        sink.release.set()
        await asyncio.wait_for(sink.second.wait(), 30)
        assert sink.delivered == [1, 2]
    finally:
        stop.set()
        await running


class KeepingSink:
    """Keeps the jobs it is given."""

    world = World.MATRIX

    def __init__(self) -> None:
        self.jobs: list[DeliveryJob] = []

    async def deliver(self, job: DeliveryJob) -> None:
        self.jobs.append(job)


async def test_a_job_names_its_members_and_its_authors_members_or_not(store: Store) -> None:
    """The sinks show names without reading the directory: the claim read them with the job,
    the author's and the delegate's too when they are not members."""
    message = {"id": "m1", "author_id": "81", "sent_by": "83", "body": "x", "kind": "message"}
    async with store.transaction() as session:
        for spico_id, first in (("81", "Jean"), ("82", "Anne"), ("83", "Paul")):
            await repo.in_session(
                session,
                repo.save_professional,
                repo.ProfessionalRow(spico_id, "Dr", first, "Nom", "Médecin", None, "online", True),
            )
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("c1", "Sujet", "82", ("82",), None, 0),
        )
        await repo.in_session(
            session,
            repo.record_event,
            JournalRow(1, "message.posted", "c1", "81", "", {"data": {"message": message}}),
        )
        await repo.in_session(
            session, repo.enqueue, [NewDelivery(1, "c1", "matrix", "c1", "message")]
        )
    sink = KeepingSink()
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(60, 300, 10))
    assert await workers.deliver_batch("w1") == 1
    [job] = sink.jobs
    assert list(job.participants) == ["82"], "members only"
    assert {i: p.name for i, p in job.authors.items()} == {
        "81": Name("Dr", "Jean", "Nom", "Médecin"),
        "83": Name("Dr", "Paul", "Nom", "Médecin"),
    }
    assert job.participants["82"].name == Name("Dr", "Anne", "Nom", "Médecin")


class ReadingAheadSink:
    """Reads ahead, in the claim, each job's delivery state; keeps what each job brought."""

    world = World.MATRIX

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.brought: list[object] = []

    def read_ahead(self, connection: Connection, jobs: Sequence[DeliveryJob]) -> dict[int, object]:
        if self.broken:
            raise ValueError("a bug in the sink")
        state = select(Delivery.state).where(Delivery.id == bindparam("id"))
        return {job.delivery_id: connection.scalar(state, {"id": job.delivery_id}) for job in jobs}

    async def deliver(self, job: DeliveryJob) -> None:
        self.brought.append(job.read_ahead)


@pytest.mark.parametrize("broken", [False, True])
async def test_a_sink_reads_ahead_inside_the_claim(store: Store, broken: bool) -> None:
    """What a ``ReadsAhead`` sink reads comes with its jobs, read in the claim's transaction
    (the deliveries are claimed already); a sink failing to read gets its jobs all the same."""
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("c1", "Sujet", "81", ("81",), None, 0),
        )
        for seq in (1, 2):
            await repo.in_session(
                session, repo.record_event, JournalRow(seq, "message.posted", "c1", "81", "", {})
            )
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, "c1", "matrix", "c1", "message") for s in (1, 2)],
        )
    sink = ReadingAheadSink(broken=broken)
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(60, 300, 10))
    assert await workers.deliver_batch("w1") == 2
    assert sink.brought == ([None, None] if broken else ["sending", "sending"])


class CountingSink:
    """Delivers everything; ``delivered`` is set once ``expected`` deliveries came."""

    world = World.MATRIX

    def __init__(self, expected: int) -> None:
        self.seqs: list[int] = []
        self.expected = expected
        self.delivered = asyncio.Event()

    async def deliver(self, job: DeliveryJob) -> None:
        self.seqs.append(job.event_seq)
        if len(self.seqs) >= self.expected:
            self.delivered.set()


async def test_idle_workers_share_one_poll_and_it_finds_what_no_wake_up_announced(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries committed without a wake-up (another process, a retry coming due) are found
    by the poll; while idle, four workers run one claim per poll, not one each."""
    monkeypatch.setattr(outbox, "IDLE_POLL_SECONDS", 0.02)
    store = sqlite_store
    claims = 0
    polls = 0
    ten_polls = asyncio.Event()
    real_claim_batch = OutboxWorkers._claim_batch
    real_wait_any = outbox.wait_any

    def counting_claim_batch(self: OutboxWorkers, worker: str, connection: Connection) -> Any:
        nonlocal claims
        claims += 1
        return real_claim_batch(self, worker, connection)

    async def counting_wait_any(*events: asyncio.Event, within: float | None = None) -> None:
        nonlocal polls
        if within == outbox.IDLE_POLL_SECONDS and len(events) == 1:  # the outbox's poll
            polls += 1
            if polls >= 10:
                ten_polls.set()
        await real_wait_any(*events, within=within)

    monkeypatch.setattr(OutboxWorkers, "_claim_batch", counting_claim_batch)
    monkeypatch.setattr(outbox, "wait_any", counting_wait_any)
    sink = CountingSink(expected=1)
    workers = OutboxWorkers(store, {World.MATRIX: sink}, {}, RetryPolicy(), workers=4)
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        await asyncio.wait_for(ten_polls.wait(), 30)
        idle_polls, idle_claims = polls, claims
        await _enqueue_messages(store, [1], members=("81",))  # no wake-up
        await asyncio.wait_for(sink.delivered.wait(), 30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert sink.seqs == [1]
    # Each worker's first look at start, then at most one claim per poll.
    assert idle_claims <= idle_polls + 4


async def test_draining_a_backlog_claims_off_the_event_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a full batch the next claim may take BATCH × RUN deliveries: it is a heavy unit
    (on SQLite, run on the database thread); at the live rate claims stay light (inline)."""
    await _enqueue_messages(store, range(1, 2 * outbox.RUN + 2), members=("81",))
    workers = OutboxWorkers(store, {World.MATRIX: FlakySink(set())}, {}, RetryPolicy())
    claims: list[bool] = []
    run = store.run

    async def recorded(work: Any, *, heavy: bool = False) -> Any:
        if getattr(work, "func", None) == workers._claim_batch:
            claims.append(heavy)
        return await run(work, heavy=heavy)

    monkeypatch.setattr(store, "run", recorded)
    delivered = [await workers.deliver_batch("w1") for _ in range(4)]
    assert delivered == [outbox.RUN, outbox.RUN, 1, 0]
    assert claims == [False, True, True, False]
