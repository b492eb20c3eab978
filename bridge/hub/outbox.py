"""Outbox workers: hand each pending delivery to its world's sink, in order, with retries.

A worker claims the head of a queue (conversation × destination), builds the job from the
journal and the snapshots, calls the sink, and records the outcome. Retries are durable (the
next attempt time is stored), so a restart resumes them; a delivery given up ends ``failed``
and, in the same transaction, a failure notice is queued for the conversation (posted to SPICO
by ``NoticePoster``), unless the failed event was itself such a notice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bridge.core.delivery import (
    BRIDGE_WORLD,
    FAILURE_NOTICE_PREFIX,
    DeliveryError,
    DeliveryJob,
    GiveUp,
    PermanentFailure,
    ReadsAhead,
    RetryPolicy,
    Sink,
    decide_retry,
)
from bridge.core.model import DeliveryKind, Participant, World
from bridge.core.views import event_message
from bridge.core.waiting import wait_any
from bridge.hub.participants import merge
from bridge.metrics import DELIVERIES, RELAY_LATENCY
from bridge.store import repositories as repo
from bridge.store.liveness import Liveness, owner_of
from bridge.store.models import utcnow
from bridge.store.repositories import ClaimedDelivery, ConversationSnapshot, FreshDelivery, Store

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

#: How long a claim is held before another worker may take the delivery over.
LEASE = timedelta(minutes=5)
#: Idle workers look again this often even without a wake-up (other processes, due retries).
IDLE_POLL_SECONDS = 1.0
#: How often claims of dead processes are looked for (PostgreSQL: several processes share).
RECOVERY_SECONDS = 5.0
#: Queue heads a worker claims at once (all from different queues, delivered concurrently).
BATCH = 16
#: Deliveries of one queue claimed together (the head and those behind it, tried in order).
RUN = 16
#: At most this many fresh deliveries are handed to an idle worker by the unit of work that
#: enqueued them (``hand_off``); more (a backlog page) take the usual wake-up and claim.
HAND_OFF_MAX = BATCH
#: Tries at recording a batch's outcomes before its claims are given back.
SETTLE_ATTEMPTS = 5
#: The outcome of a delivery left untried because an earlier one of its queue failed.
NOT_ATTEMPTED = object()
#: The outcome of a delivery already settled on its own, right after its attempt.
SETTLED = object()
#: The outcome of a delivery left untried and already given back with its run's failure.
RELEASED = object()
#: Worlds whose deliveries are settled one by one, right after each attempt, not with their
#: batch: mail has no transaction id, so a crash between a mail's sending and its settle would
#: have the next process send it again; settled at once, a kill repeats at most the one mail in
#: flight per queue (the sink also skips a Message-ID it recorded after the server's 250).
#: Matrix: its sink writes the sent message's event link anyway, so the settle rides in that
#: same unit of work instead of a batch settle transaction of its own.
SETTLE_EACH = frozenset({World.MAIL, World.MATRIX})


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the enqueuing unit of work already read, so the jobs of a hand-off do not read it
    again: journal rows by seq, conversation snapshots by id (as committed with the unit), and
    directory rows by SPICO id for every id it looked up (None: not in the directory). Whatever
    a job needs beyond these is read as in a claim."""

    events: Mapping[int, repo.JournalRow]
    snapshots: Mapping[str, ConversationSnapshot]
    people: Mapping[str, repo.ProfessionalRow | None]


class _Waiting:
    """An idle worker: woken by its event, with a batch handed over (``HandOff``) or claims to
    give back first (an abandoned hand-off), or neither (look for due deliveries)."""

    __slots__ = ("batch", "event", "name", "release")

    def __init__(self, name: str) -> None:
        self.name = name
        self.event = asyncio.Event()
        self.batch: tuple[list[ClaimedDelivery], dict[int, DeliveryJob]] | None = None
        self.release: list[int] = []


class HandOff:
    """Fresh deliveries for one reserved idle worker (``OutboxWorkers.hand_off``), claimed in
    the unit of work that enqueued them and handed over in memory once it committed.

    A lone relayed message otherwise cost a second unit of work after its fan-out: a woken
    worker's claim, reading again the event, snapshot and people the fan-out had just read.
    The claim is the usual one restricted to the fresh deliveries' queues (``repo.claim_fresh``:
    two statements when each is alone at the head of its queue), so a queue's order holds:
    nothing is claimed behind an earlier pending or claimed delivery. It is made under the
    worker's own name, so recovery gives it back if the process dies before the worker
    delivers it. Call ``claim`` inside the unit, then exactly one of ``dispatch`` (it
    committed) or ``abandon`` (it failed, or may not have committed).
    """

    def __init__(self, workers: OutboxWorkers, waiting: _Waiting) -> None:
        self._workers = workers
        self._waiting = waiting
        self._claimed: list[ClaimedDelivery] = []
        self._jobs: dict[int, DeliveryJob] = {}
        self._open = True

    def claim(self, connection: Connection, fresh: Sequence[FreshDelivery], loaded: Loaded) -> bool:
        """(Inside the enqueuing unit of work.) Claim the due deliveries of the queues of
        ``fresh`` (what ``repo.enqueue_fresh`` inserted in this unit) for the reserved worker,
        build their jobs from ``loaded`` and run the sinks' read-ahead, all in ``connection``.
        Returns True when every one of ``fresh`` was claimed: no wake-up is needed for them
        (False: wake the workers as usual)."""
        self._claimed, self._jobs = [], {}  # the unit may run twice (``Store.run``)
        if not fresh or len(fresh) > HAND_OFF_MAX:
            return False
        claimed, jobs = self._workers._claim_batch(
            self._waiting.name, connection, fresh=fresh, loaded=loaded
        )
        if not claimed:
            return False
        self._claimed, self._jobs = claimed, jobs
        mine = {d.id for d in claimed}
        return all(d.id in mine for d in fresh)

    def dispatch(self) -> None:
        """(The unit committed.) The worker delivers what was claimed, as after its own claim;
        with nothing claimed it is idle again, unwoken."""
        if not self._open:
            return
        self._open = False
        if self._claimed:
            self._waiting.batch = (self._claimed, self._jobs)
            self._waiting.event.set()
        else:
            self._workers._put_back(self._waiting)

    def abandon(self) -> None:
        """(The unit failed: rolled back, or unknown when its commit failed or its caller was
        cancelled.) The worker gives back whatever it may hold of the claim, then claims as
        usual: nothing stays claimed by a live worker that does not deliver it."""
        if not self._open:
            return
        self._open = False
        if self._claimed:
            self._waiting.release = [d.id for d in self._claimed]
            self._waiting.event.set()
        else:
            self._workers._put_back(self._waiting)


class OutboxWorkers:
    """A pool of delivery workers sharing the outbox (and, on PostgreSQL, other processes')."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[World, Sink],
        configured: Mapping[str, Participant],
        retry: RetryPolicy,
        *,
        workers: int = 4,
        on_notice_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._sinks = dict(sinks)
        #: Sinks whose read before sending rides in the claim's unit of work.
        self._readers_ahead = {w: s for w, s in self._sinks.items() if isinstance(s, ReadsAhead)}
        self._configured = configured
        self._retry = retry
        self._count = workers
        #: The idle workers, oldest first: a wake-up sets one's event (see ``wake``).
        self._idle: collections.deque[_Waiting] = collections.deque()
        self._missed_wakeup = False
        #: How many wake-ups there were: a worker that saw one during its batch looks again.
        self._wakeups = 0
        #: PostgreSQL: other processes enqueue too, without waking this one's workers.
        self._shared = store.dialect != "sqlite"
        #: The last batch was full: a backlog is being drained, and the next claim may take
        #: BATCH × RUN deliveries (~7–14 ms on SQLite), so it runs off the event loop.
        self._draining = False
        self._on_notice_queued = on_notice_queued
        self._liveness = Liveness(store)

    def set_participants(self, configured: Mapping[str, Participant]) -> None:
        """A reloaded config's participant mappings apply from the next event on."""
        self._configured = configured

    def wake(self) -> None:
        """New deliveries were committed: one idle worker looks now instead of at its next
        poll. One is enough (it claims up to a batch of queues, and wakes another when its
        batch was full); waking them all had every worker run an empty claim each time."""
        self._wakeups += 1
        waiting = self._take_idle()
        if waiting is None:
            self._missed_wakeup = True  # every worker is busy: the next to finish looks again
        else:
            waiting.event.set()

    def hand_off(self) -> HandOff | None:
        """An idle worker reserved for the deliveries the caller's next unit of work enqueues
        (see ``HandOff``); None when every worker is busy (or none runs): wake as usual."""
        waiting = self._take_idle()
        return None if waiting is None else HandOff(self, waiting)

    def _take_idle(self) -> _Waiting | None:
        """The idle worker waiting longest and not woken yet (taken off the idle list)."""
        while self._idle:
            waiting = self._idle.popleft()
            if not waiting.event.is_set():
                return waiting
        return None

    def _put_back(self, waiting: _Waiting) -> None:
        """A reserved worker not handed anything: idle again, or looking at once if a wake-up
        found no idle worker meanwhile."""
        if self._missed_wakeup:
            self._missed_wakeup = False
            waiting.event.set()
        else:
            self._idle.appendleft(waiting)

    async def recover(self) -> int:
        """Put back the claims of bridge processes that are gone (crashed, killed).

        Runs at start and then every ``RECOVERY_SECONDS``; claims whose lease expired are put
        back too, as a last resort.
        """
        released = await self._store.run(self._release_claims_of_the_gone, heavy=True)
        if released:
            log.info("released %d deliveries claimed by a bridge process that is gone", released)
        return released

    def _release_claims_of_the_gone(self, connection: Connection) -> int:
        """Unit of work: claims of dead processes and expired leases back to pending."""
        released = 0
        for owner in {owner_of(holder) for holder in repo.claim_holders(connection)}:
            if self._liveness.is_dead(connection, owner):
                released += repo.release_claims_of_process(connection, owner)
        return released + repo.release_claims(connection, expired_before=utcnow())

    async def run(self, stop: asyncio.Event) -> None:
        await self._liveness.start()
        try:
            await self.recover()
            names = [f"{self._liveness.owner}:w{i}" for i in range(self._count)]
            recovery = asyncio.create_task(self._recover_periodically(stop))
            polling = asyncio.create_task(self._poll_periodically(stop))
            try:
                await asyncio.gather(*(self._worker(name, stop) for name in names))
            finally:
                recovery.cancel()
                polling.cancel()
                await self._store.run(
                    partial(repo.release_claims_of_process, owner=self._liveness.owner),
                    heavy=True,
                )
        finally:
            await self._liveness.stop()

    async def _recover_periodically(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await wait_any(stop, within=RECOVERY_SECONDS)
            try:
                await self.recover()
            except Exception as exc:
                log.error("outbox recovery failed (%s); will retry", type(exc).__name__)

    async def _poll_periodically(self, stop: asyncio.Event) -> None:
        """Every ``IDLE_POLL_SECONDS``, one idle worker looks for what no wake-up announced:
        retries coming due, deliveries another process enqueued (PostgreSQL). One claim a
        second for the whole outbox: each idle worker polling on its own timer cost one claim a
        second per worker, for nothing the first one would not have found."""
        while not stop.is_set():
            await wait_any(stop, within=IDLE_POLL_SECONDS)
            waiting = self._take_idle()
            if waiting is not None:
                waiting.event.set()

    async def _worker(self, name: str, stop: asyncio.Event) -> None:
        #: A batch handed over while idle (``HandOff``), delivered instead of claiming.
        given: tuple[list[ClaimedDelivery], dict[int, DeliveryJob]] | None = None
        #: Claims of an abandoned hand-off, given back before anything else.
        release: list[int] = []
        while not stop.is_set():
            seen = self._wakeups
            try:
                if release:
                    await self._store.run(
                        partial(repo.release_claims, worker_id=name, delivery_ids=release)
                    )
                    release = []
                handled, full = await self._deliver(name, given)
                given = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store itself failed: back off, keep the daemon up
                log.error("outbox worker %s: store error (%s); retrying", name, _describe_db(exc))
                handled, full = 0, False
                await asyncio.sleep(IDLE_POLL_SECONDS)
            # Look again at once only when there may be more: a full batch, or deliveries
            # committed meanwhile (the next of a queue this batch held), which on PostgreSQL
            # another process may have done without a wake-up here. Otherwise everything due
            # was claimed, and an immediate second claim would find nothing (it used to cost
            # an empty claim per relayed message).
            again = self._shared or self._wakeups != seen
            if full or self._missed_wakeup or (handled and again):
                self._missed_wakeup = False
                continue
            waiting = _Waiting(name)
            self._idle.append(waiting)
            try:
                # A wake-up, a hand-off, or the poll (``_poll_periodically``).
                await wait_any(waiting.event, stop)
            finally:
                with contextlib.suppress(ValueError):
                    self._idle.remove(waiting)
            given, release = waiting.batch, waiting.release

    async def deliver_batch(self, worker: str) -> int:
        """Claim up to ``BATCH`` queue heads, each with up to ``RUN`` deliveries of its queue,
        deliver the queues concurrently (each in order), settle everything together.

        Queues (conversation × destination) are independent, so delivering them at the same
        time keeps each one's order; within a queue the deliveries go one after the other and a
        failure stops the rest, which are given back untried. One claim and one settle
        transaction serve the whole batch. Returns how many deliveries were handled (0: nothing
        was due).
        """
        handled, _ = await self._deliver(worker)
        return handled

    async def _deliver(
        self,
        worker: str,
        given: tuple[list[ClaimedDelivery], dict[int, DeliveryJob]] | None = None,
    ) -> tuple[int, bool]:
        """``deliver_batch``; also whether the batch was full (more may be due: BATCH queues,
        or a queue's RUN deliveries). ``given``: a batch claimed for this worker by a hand-off
        (``HandOff``), delivered without a claim of its own."""
        if given is not None:
            claimed, jobs = given
        else:
            claimed, jobs = await self._store.run(
                partial(self._claim_batch, worker), heavy=self._draining
            )
        if not claimed:
            self._draining = False
            return 0, False
        queues: dict[str, list[ClaimedDelivery]] = {}
        for delivery in claimed:
            queues.setdefault(delivery.queue, []).append(delivery)
        if len(queues) >= BATCH:
            self.wake()  # a full batch: there may be more queues due for another worker
        full = len(queues) >= BATCH or any(len(run) >= RUN for run in queues.values())
        self._draining = full
        try:
            runs = await asyncio.gather(
                *(self._attempt_run(worker, run, jobs) for run in queues.values())
            )
        except asyncio.CancelledError:
            await self._store.run(partial(repo.release_claims, worker_id=worker))
            raise
        outcomes = {d.id: outcome for run in runs for d, outcome in run}
        handled = sum(outcomes[d.id] not in (NOT_ATTEMPTED, RELEASED) for d in claimed)
        tried = [d for d in claimed if outcomes[d.id] not in (NOT_ATTEMPTED, SETTLED, RELEASED)]
        untried = [d.id for d in claimed if outcomes[d.id] is NOT_ATTEMPTED]
        if tried or untried:  # a settle-each world's batch was settled delivery by delivery
            outcome_of = [cast(Exception | None, outcomes[d.id]) for d in tried]
            if await self._settle_batch(worker, tried, jobs, outcome_of, untried):
                self._on_notice_queued()
        return handled, full

    def _claim_batch(
        self,
        worker: str,
        connection: Connection,
        *,
        fresh: Sequence[FreshDelivery] | None = None,
        loaded: Loaded | None = None,
    ) -> tuple[list[ClaimedDelivery], dict[int, DeliveryJob]]:
        """Unit of work: claim a batch (see ``deliver_batch``), read what its jobs need, and
        what their sinks would read before sending (``ReadsAhead``). A hand-off (``HandOff``)
        claims only the queues of ``fresh`` (``repo.claim_fresh``), inside the unit that
        enqueued them, whose reads are ``loaded``."""
        worlds = [w.value for w in self._sinks]
        if fresh is None:
            claimed = repo.claim_due(
                connection, worker, limit=BATCH, lease=LEASE, worlds=worlds, run=RUN
            )
        else:
            claimed = repo.claim_fresh(
                connection, worker, fresh, limit=BATCH, lease=LEASE, worlds=worlds, run=RUN
            )
        if not claimed:
            return claimed, {}
        jobs = self._jobs(connection, claimed, loaded)
        self._read_ahead(connection, jobs)
        return claimed, jobs

    def _read_ahead(self, connection: Connection, jobs: dict[int, DeliveryJob]) -> None:
        """What the sinks would read before sending (``ReadsAhead``), read in the claim's
        connection into ``jobs``. A store error fails the claim (tried again, as any store
        error); a sink's own failure only leaves its jobs to read for themselves."""
        for world, sink in self._readers_ahead.items():
            of_world = [job for job in jobs.values() if job.world is world]
            if not of_world:
                continue
            try:
                ahead = sink.read_ahead(connection, of_world)
            except SQLAlchemyError:
                raise  # the claim itself fails: tried again, as any store error
            except Exception as exc:  # a sink's bug: its jobs read for themselves
                log.error("%s sink: reading ahead failed (%s)", world.value, type(exc).__name__)
                continue
            for delivery_id, data in ahead.items():
                jobs[delivery_id] = replace(jobs[delivery_id], read_ahead=data)

    async def _attempt_run(
        self, worker: str, run: list[ClaimedDelivery], jobs: Mapping[int, DeliveryJob]
    ) -> list[tuple[ClaimedDelivery, Exception | object | None]]:
        """One queue's deliveries in order; after a failure the rest are not attempted.

        A delivery of a ``SETTLE_EACH`` world is settled as soon as it was attempted: by the
        sink, in the transaction recording what it sent (``DeliveryJob.settle``), else here;
        after a failure the rest of its run is given back in that same transaction (left
        claimed, the retried head could be claimed again with later deliveries, overtaking
        them)."""
        outcomes: list[tuple[ClaimedDelivery, Exception | object | None]] = []
        for index, delivery in enumerate(run):
            job = jobs.get(delivery.id)
            each = World(delivery.world) in SETTLE_EACH
            inline = _Inline(worker, delivery, job) if each and job else None
            outcome = await self._attempt(replace(job, settle=inline) if inline else job)
            rest = run[index + 1 :] if outcome is not None else []
            if each:
                if outcome is None and inline is not None and inline.done:
                    _observe_done(delivery, job)
                else:
                    untried = [d.id for d in rest]
                    if await self._settle_batch(worker, [delivery], jobs, [outcome], untried):
                        self._on_notice_queued()
                outcomes.append((delivery, SETTLED))
                outcomes.extend((d, RELEASED) for d in rest)
                if rest:
                    break
                continue
            outcomes.append((delivery, outcome))
            if rest:
                outcomes.extend((d, NOT_ATTEMPTED) for d in rest)
                break
        return outcomes

    async def _settle_batch(
        self,
        worker: str,
        claimed: list[ClaimedDelivery],
        jobs: Mapping[int, DeliveryJob],
        outcomes: list[Exception | None],
        untried: Sequence[int] = (),
    ) -> int:
        """Record a batch's outcomes; returns how many failure notices were queued.

        The deliveries already happened, so a store error here is retried; if the store stays
        unusable the claims are given back (the sinks are idempotent, a repeat is harmless)
        rather than left claimed by a live worker until their lease runs out: only these ones,
        as the worker's other queues may still be in flight.
        """
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                return await self._store.run(
                    partial(self._record_outcomes, worker, claimed, jobs, outcomes, untried)
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "settling %d deliveries failed (%s), attempt %d of %d",
                    len(claimed),
                    _describe_db(exc),
                    attempt + 1,
                    SETTLE_ATTEMPTS,
                )
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        with contextlib.suppress(Exception):
            await self._store.run(
                partial(
                    repo.release_claims,
                    worker_id=worker,
                    delivery_ids=[*(d.id for d in claimed), *untried],
                )
            )
        return 0

    def _record_outcomes(
        self,
        worker: str,
        claimed: list[ClaimedDelivery],
        jobs: Mapping[int, DeliveryJob],
        outcomes: list[Exception | None],
        untried: Sequence[int],
        connection: Connection,
    ) -> int:
        """Unit of work: a batch's outcomes (done, retry, failed with a notice) and its untried
        deliveries given back; returns how many failure notices were queued."""
        repo.release_unattempted(connection, untried, worker)
        delivered = [d for d, outcome in zip(claimed, outcomes, strict=True) if not outcome]
        settled = repo.mark_done_many(connection, [d.id for d in delivered], worker)
        for delivery in delivered:
            if delivery.id in settled:
                _observe_done(delivery, jobs.get(delivery.id))
        repo.add_audits(
            connection,
            (_audit(d, jobs.get(d.id), "done") for d in delivered if d.id in settled),
        )
        notices = 0
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            if outcome is not None:
                notices += self._settle_failure(
                    connection, worker, delivery, jobs.get(delivery.id), outcome
                )
        return notices

    async def _attempt(self, job: DeliveryJob | None) -> Exception | None:
        """Run the sink; its exception (if any) is the outcome, never raised."""
        if job is None:
            return PermanentFailure("the journaled event is missing")
        try:
            await self._sinks[job.world].deliver(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return exc
        return None

    def _jobs(
        self, connection: Connection, claimed: list[ClaimedDelivery], loaded: Loaded | None = None
    ) -> dict[int, DeliveryJob]:
        """The jobs of a claimed batch, from three batched reads (events, snapshots, people:
        the members and the messages' authors, whose names the sinks show), each only of what
        ``loaded`` (a hand-off: what its unit of work read already) does not hold."""
        loaded = loaded or _NOTHING_LOADED
        events = _loaded_or_read(
            loaded.events, {d.event_seq for d in claimed}, partial(repo.get_events, connection)
        )
        snapshots = _loaded_or_read(
            loaded.snapshots,
            {d.conversation_id for d in claimed},
            partial(repo.get_conversations, connection),
        )
        messages = {seq: event_message(event.payload) for seq, event in events.items()}
        members = {m for snapshot in snapshots.values() for m in snapshot.members}
        authors = {i for m in messages.values() if m for i in (m.author_id, m.sent_by) if i}
        wanted = members | authors
        known = _loaded_or_read(loaded.people, wanted, partial(repo.get_professionals, connection))
        people = {i: merge(self._configured.get(i), known.get(i), i) for i in wanted}
        jobs = {}
        for delivery in claimed:
            event = events.get(delivery.event_seq)
            if event is None:
                continue
            snapshot = snapshots.get(delivery.conversation_id)
            message = messages[delivery.event_seq]
            actor = event.payload.get("actor_id")
            jobs[delivery.id] = DeliveryJob(
                delivery_id=delivery.id,
                world=World(delivery.world),
                destination=delivery.destination,
                kind=DeliveryKind(delivery.kind),
                attempt=delivery.attempts,
                event_seq=delivery.event_seq,
                event_type=event.type,
                conversation_id=delivery.conversation_id,
                message=message,
                conversation=None if snapshot is None else snapshot.view(),
                participants={m: people[m] for m in snapshot.members} if snapshot else {},
                authors={i: people[i] for i in (message.author_id, message.sent_by) if i}
                if message
                else {},
                occurred_at=_text_or_none(event.payload.get("occurred_at")),
                actor_id=(message.author_id if message else None) or _text_or_none(actor),
            )
        return jobs

    def _settle_failure(
        self,
        connection: Connection,
        worker: str,
        delivery: ClaimedDelivery,
        job: DeliveryJob | None,
        error: Exception,
    ) -> int:
        """Record a failed attempt: retry later or give up; returns 1 when a notice was queued."""
        decision = decide_retry(self._retry, delivery.attempts, error)
        outcome = "failed" if isinstance(decision, GiveUp) else "retry"
        DELIVERIES.labels(delivery.world, delivery.kind, outcome).inc()
        if not isinstance(decision, GiveUp):
            repo.mark_retry(
                connection,
                delivery.id,
                worker,
                at=utcnow() + decision.after,
                error=_own_words(error),
            )
            log.info(
                "delivery %d (%s) attempt %d failed (%s); next in %.1fs",
                delivery.id,
                delivery.world,
                delivery.attempts,
                _own_words(error)[:200],
                decision.after.total_seconds(),
            )
            return 0
        # The sink's own words (or the error's type), not ``decision.reason``: that one holds
        # the text of whatever the sink raised.
        reason = _own_words(error)
        if not isinstance(error, PermanentFailure):
            reason = f"gave up after {delivery.attempts} attempts: {reason}"
        if not repo.mark_failed(connection, delivery.id, worker, error=reason):
            return 0
        repo.add_audits(connection, [_audit(delivery, job, "failed", reason[:500])])
        log.warning(
            "delivery %d (%s, conversation %s) failed for good: %s",
            delivery.id,
            delivery.world,
            delivery.conversation_id,
            reason[:200],
        )
        if job is not None and job.message is not None and job.message.notice:
            return 0  # a notice about a notice would never end
        repo.record_inbound(
            connection,
            idempotency_key=f"{FAILURE_NOTICE_PREFIX}{delivery.id}",
            world=BRIDGE_WORLD,
            origin=f"{delivery.world}:{delivery.destination}",
            conversation_id=delivery.conversation_id,
            author_id=BRIDGE_WORLD,
        )
        return 1


_NOTHING_LOADED = Loaded({}, {}, {})


def _loaded_or_read(
    loaded: Mapping[K, V], wanted: set[K], read: Callable[[set[K]], Mapping[K, V]]
) -> dict[K, V]:
    """``wanted`` from what a hand-off's unit read already, the rest ``read`` from the store."""
    found = {key: loaded[key] for key in wanted if key in loaded}
    found.update(read(wanted - found.keys()))
    return found


class _Inline:
    """``InlineSettle`` of one delivery: marked done (with its audit row) in the sink's
    transaction; ``done`` once the sink says that transaction committed."""

    def __init__(self, worker: str, delivery: ClaimedDelivery, job: DeliveryJob) -> None:
        self._worker, self._delivery, self._job = worker, delivery, job
        self.done = False

    def within(self, connection: Connection) -> None:
        repo.mark_one_done(
            connection, self._delivery.id, self._worker, _audit(self._delivery, self._job, "done")
        )

    def committed(self) -> None:
        self.done = True


def _observe_done(delivery: ClaimedDelivery, job: DeliveryJob | None) -> None:
    DELIVERIES.labels(delivery.world, delivery.kind, "done").inc()
    occurred = job.occurred_at if job is not None else None
    if occurred:
        with contextlib.suppress(ValueError):
            latency = (utcnow() - datetime.fromisoformat(occurred)).total_seconds()
            RELAY_LATENCY.labels(delivery.world).observe(max(latency, 0.0))


def _audit(
    delivery: ClaimedDelivery, job: DeliveryJob | None, outcome: str, detail: str | None = None
) -> repo.AuditRecord:
    return repo.AuditRecord(
        world=delivery.world,
        action=f"relay.{delivery.kind}",
        outcome=outcome,
        actor_id=job.actor_id if job is not None else None,
        conversation_id=delivery.conversation_id,
        destination=delivery.destination,
        detail=detail,
    )


def _text_or_none(value: object) -> str | None:
    return str(value) if value else None


def _describe_db(error: Exception) -> str:
    """A database error as its types only: the driver's text may quote SQL parameters (and
    they may hold payloads)."""
    original = getattr(error, "orig", None) or error
    return f"{type(error).__name__} ({type(original).__name__})"


def _own_words(error: Exception) -> str:
    """A log-safe description: the error class, and its text only when the bridge wrote it
    (a sink's ``DeliveryError`` says what failed in its own words); any other exception's
    text may quote a payload or a server's answer."""
    if isinstance(error, DeliveryError) and str(error):
        return f"{type(error).__name__}: {error}"[:300]
    return type(error).__name__
