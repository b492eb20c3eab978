"""Repositories: the only code that reads or writes the bridge's tables.

Functions take the transaction from their caller, so callers decide what commits together: the
SPICO fan-out records events, writes deliveries and advances its cursor in one commit (durable
before acknowledged). Hot-path functions are synchronous Core functions of a ``Connection``,
called inside a unit of work (``Store.run``); the others still take an ``AsyncSession``
(``Store.transaction``), and such a caller reaches a synchronous one through ``in_session``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from bridge.core.model import ConversationView, Name
from bridge.core.views import patient_view
from bridge.store import direct
from bridge.store.db import make_async_engine, session_factory, upgrade_async
from bridge.store.models import (
    LIVE_QUEUE_STATES,
    AuditEntry,
    ConversationRecord,
    Cursor,
    Delivery,
    InboundLink,
    JournalEvent,
    MailPreference,
    MatrixLink,
    ProfessionalRecord,
    utcnow,
)
from bridge.store.units import UnitRunner

PENDING = "pending"
SENDING = "sending"
DONE = "done"
FAILED = "failed"
DELIVERY_STATES = (PENDING, SENDING, DONE, FAILED)

T = TypeVar("T")
P = ParamSpec("P")


class Store:
    """The database: ``run(work)`` runs a synchronous unit of work (the hot paths: on SQLite
    inline on the event loop, else on a database thread); ``transaction()`` opens an async ORM
    session (the cold paths)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._turn: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._units = UnitRunner(engine.url)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at ``url``, bringing its schema up to date first when asked."""
        if migrate:
            await upgrade_async(url)
        return cls(make_async_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on normal exit and rolls back on error.

        On SQLite the process's transactions take turns on an asyncio lock: every one is a
        writer (BEGIN IMMEDIATE), and queueing them here costs nothing, where queueing them in
        SQLite's busy handler ties up threads and ends in "database is locked" under load.
        Transactions are never nested, so the lock cannot deadlock.
        """
        async with self._turn, self._sessions() as session, session.begin():
            yield session

    async def run(self, work: Callable[[Connection], T], *, heavy: bool = False) -> T:
        """``work(connection)`` as one transaction (SQLAlchemy Core, synchronous driver);
        commits on return, rolls back if it raises. No awaits in ``work``, no I/O but the
        database, and no effects outside the connection but counters: it may run twice (see
        ``UnitRunner.run``).

        On SQLite it takes the same turn as ``transaction()``, so the two never write at once,
        and it runs right here on the event-loop thread, without a thread hop (which cost more
        CPU than most units' SQL): it never waits for a lock there (another process writing
        sends it to the database thread) but it does hold the loop while it runs, so a unit
        that may take milliseconds says ``heavy=True`` (a page of backlog SPICO events, the
        claim after a full batch, scans at start or in recovery) and runs on the database
        thread. PostgreSQL: always on a thread of a small pool (``heavy`` changes nothing).
        """
        async with self._turn:
            return await self._units.run(work, heavy=heavy)

    async def close(self) -> None:
        await self._units.close()
        await self.engine.dispose()


async def in_session(
    session: AsyncSession,
    function: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Call a synchronous repository function (one taking a ``Connection``) inside an async
    session's transaction: for cold paths that still hold an ``AsyncSession``. Pending ORM
    changes are flushed first, as ``session.execute`` would (autoflush)."""

    def call(sync_session: Session) -> T:
        sync_session.flush()
        return function(sync_session.connection(), *args, **kwargs)

    return await session.run_sync(call)


def _insert(bind: AsyncSession | Connection, model: type) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT on both SQLite and PostgreSQL."""
    dialect = (bind.get_bind() if isinstance(bind, AsyncSession) else bind).dialect.name
    return _dialect_insert(dialect, model)


def _dialect_insert(dialect: str, model: type) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


# Hot-path statements are built once, with bound parameters (``expanding`` for IN lists), and
# executed many times: building a statement costs SQLAlchemy several times what executing a
# cached one does (measured: 67 against 18 µs for the cursor read, 200 against 37 µs for the
# settle). The INSERT ... ON CONFLICT ones differ by dialect and are built once for each; their
# rows go as a list of parameter sets (one multi-row INSERT, RETURNING included). Being built
# once, they go through ``direct.execute``: on SQLite, straight to the driver (one execution
# per row for a RETURNING list); statements built per call stay on ``connection.execute``.


def _ids(name: str) -> Any:
    return bindparam(name, expanding=True)


def _prepared(build: Callable[[str], T]) -> Callable[[Connection], T]:
    """``build(dialect)`` once per dialect; the result takes a connection."""
    cached = functools.cache(build)
    return lambda connection: cached(connection.dialect.name)


# --- cursors ---------------------------------------------------------------------------------


_GET_CURSOR = select(Cursor.value).where(Cursor.source == bindparam("source"))


def get_cursor(connection: Connection, source: str) -> str | None:
    return direct.execute(connection, _GET_CURSOR, {"source": source}).scalar()


def _upsert_cursor(dialect: str) -> Any:
    statement = _dialect_insert(dialect, Cursor)
    return statement.on_conflict_do_update(
        index_elements=[Cursor.source],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )


_SET_CURSOR = _prepared(_upsert_cursor)


def set_cursor(connection: Connection, source: str, value: str) -> None:
    direct.execute(
        connection,
        _SET_CURSOR(connection),
        [{"source": source, "value": value, "updated_at": utcnow()}],
    )


# --- journal ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalRow:
    seq: int
    type: str
    conversation_id: str | None
    actor_id: str | None
    occurred_at: str
    payload: dict[str, Any]


def record_event(connection: Connection, event: JournalRow) -> bool:
    """Journal an event once; False when its seq was already recorded (a replayed batch)."""
    return bool(record_events(connection, [event]))


def record_events(connection: Connection, events: Sequence[JournalRow]) -> set[int]:
    """Journal a batch of events in one statement; returns the seqs recorded now (those
    already there, from a replayed batch, are left out)."""
    if not events:
        return set()
    now = utcnow()
    rows = [
        {
            "seq": event.seq,
            "type": event.type,
            "conversation_id": event.conversation_id,
            "actor_id": event.actor_id,
            "occurred_at": event.occurred_at,
            "payload": event.payload,
            "recorded_at": now,
        }
        for event in events
    ]
    return set(direct.execute(connection, _RECORD_EVENTS(connection), rows).scalars())


_RECORD_EVENTS = _prepared(
    lambda dialect: (
        _dialect_insert(dialect, JournalEvent)
        .on_conflict_do_nothing(index_elements=[JournalEvent.seq])
        .returning(JournalEvent.seq)
    )
)


_JOURNAL = select(
    JournalEvent.seq,
    JournalEvent.type,
    JournalEvent.conversation_id,
    JournalEvent.actor_id,
    JournalEvent.occurred_at,
    JournalEvent.payload,
).where(JournalEvent.seq.in_(_ids("seqs")))


def get_event(connection: Connection, seq: int) -> JournalRow | None:
    return get_events(connection, [seq]).get(seq)


def get_events(connection: Connection, seqs: Iterable[int]) -> dict[int, JournalRow]:
    wanted = set(seqs)
    if not wanted:
        return {}
    rows = direct.execute(connection, _JOURNAL, {"seqs": list(wanted)})
    return {row.seq: JournalRow(*row) for row in rows}


# --- conversations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationSnapshot:
    id: str
    subject: str
    created_by: str | None
    members: tuple[str, ...]
    patient: dict[str, Any] | None
    last_seq: int

    def view(self) -> ConversationView:
        """What sinks read of it (``DeliveryJob.conversation``), the patient parsed once."""
        return ConversationView(
            self.id, self.members, self.subject, self.created_by, patient_view(self.patient)
        )


_SNAPSHOT = select(
    ConversationRecord.id,
    ConversationRecord.subject,
    ConversationRecord.created_by,
    ConversationRecord.members,
    ConversationRecord.patient,
    ConversationRecord.last_seq,
).where(ConversationRecord.id.in_(_ids("ids")))


def _snapshot(row: Any) -> ConversationSnapshot:
    return ConversationSnapshot(
        row.id, row.subject, row.created_by, tuple(row.members), row.patient, row.last_seq
    )


async def get_conversation(
    session: AsyncSession, conversation_id: str
) -> ConversationSnapshot | None:
    return (await in_session(session, get_conversations, [conversation_id])).get(conversation_id)


def get_conversations(
    connection: Connection, ids: Iterable[str]
) -> dict[str, ConversationSnapshot]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = direct.execute(connection, _SNAPSHOT, {"ids": list(wanted)})
    return {row.id: _snapshot(row) for row in rows}


async def members_of_patient_conversations(session: AsyncSession, patient_id: str) -> set[str]:
    """Everyone in a conversation about ``patient_id`` (a patient space's membership)."""
    rows = await session.scalars(
        select(ConversationRecord.members).where(
            ConversationRecord.patient["id"].as_string() == patient_id
        )
    )
    return {str(member) for members in rows for member in members or ()}


def conversations_with_member(connection: Connection, member_id: str) -> list[str]:
    """Ids of the conversations ``member_id`` is in (portable: the JSON list as text)."""
    needle = json.dumps(str(member_id))
    rows = connection.scalars(
        select(ConversationRecord.id).where(
            cast(ConversationRecord.members, Text).contains(needle, autoescape=True)
        )
    )
    return list(rows)


def save_conversation(connection: Connection, snapshot: ConversationSnapshot) -> None:
    values = {
        "id": snapshot.id,
        "subject": snapshot.subject,
        "created_by": snapshot.created_by,
        "members": list(snapshot.members),
        "patient": snapshot.patient,
        "last_seq": snapshot.last_seq,
        "updated_at": utcnow(),
    }
    statement = _insert(connection, ConversationRecord).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[ConversationRecord.id],
        set_={key: statement.excluded[key] for key in values if key != "id"},
    )
    connection.execute(statement)


async def count_conversations(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ConversationRecord)) or 0)


# --- professionals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfessionalRow:
    id: str
    civility: str | None
    first_name: str
    last_name: str
    profession: str | None
    mssante_address: str | None
    status: str | None
    has_account: bool
    #: The Matrix account the professional linked themselves (``bridge.core.linking``).
    linked_matrix_user: str | None = None
    #: Their own general mail preference (``bridge.store.preferences``): ``all`` or None.
    mail_preference: str | None = None

    @property
    def name(self) -> Name:
        return Name(self.civility, self.first_name, self.last_name, self.profession)


_PROFESSIONAL_FIELDS = (
    "civility",
    "first_name",
    "last_name",
    "profession",
    "mssante_address",
    "status",
    "has_account",
)


def save_professional(connection: Connection, row: ProfessionalRow) -> None:
    values = {"id": row.id, "updated_at": utcnow()}
    values.update({field: getattr(row, field) for field in _PROFESSIONAL_FIELDS})
    statement = _insert(connection, ProfessionalRecord).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[ProfessionalRecord.id],
        set_={key: statement.excluded[key] for key in values if key != "id"},
    )
    connection.execute(statement)


_PROFESSIONALS = (
    select(
        ProfessionalRecord.id,
        *(getattr(ProfessionalRecord, field) for field in _PROFESSIONAL_FIELDS),
        MatrixLink.matrix_user,
        MailPreference.choice,
    )
    .outerjoin(MatrixLink, MatrixLink.spico_id == ProfessionalRecord.id)
    .outerjoin(MailPreference, MailPreference.member_id == ProfessionalRecord.id)
    .where(ProfessionalRecord.id.in_(_ids("ids")))
)


def get_professionals(connection: Connection, ids: Iterable[str]) -> dict[str, ProfessionalRow]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = direct.execute(connection, _PROFESSIONALS, {"ids": list(wanted)})
    return {row.id: ProfessionalRow(*row) for row in rows}


def set_professional_status(connection: Connection, professional_id: str, status: str) -> bool:
    """Record a status change; False when the professional is not known to the bridge yet."""
    result = connection.execute(
        update(ProfessionalRecord)
        .where(ProfessionalRecord.id == professional_id)
        .values(status=status, updated_at=utcnow())
    )
    return bool(result.rowcount)


# --- deliveries (the outbox) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewDelivery:
    event_seq: int
    conversation_id: str
    world: str
    destination: str
    kind: str

    @property
    def queue(self) -> str:
        """Deliveries of one queue are handed over in order: conversation × destination."""
        return f"{self.conversation_id}|{self.world}:{self.destination}"


@dataclass(frozen=True, slots=True)
class _DeliveryRow:
    """A delivery as the outbox hands it out: its place (``queue``) and its attempts so far."""

    id: int
    event_seq: int
    conversation_id: str
    world: str
    destination: str
    kind: str
    attempts: int
    queue: str


@dataclass(frozen=True, slots=True)
class ClaimedDelivery(_DeliveryRow):
    """A delivery this worker holds (sending): ``attempts`` counts the one it is making."""


@dataclass(frozen=True, slots=True)
class FreshDelivery(_DeliveryRow):
    """A delivery as ``enqueue_fresh`` inserted it (pending, due at once, never attempted): what
    its claim returns, without reading it again (``claim_fresh``). A type of its own, so an
    unclaimed delivery never passes for a claimed one."""

    def claimed(self) -> ClaimedDelivery:
        """This delivery once claimed: its first attempt under way."""
        return ClaimedDelivery(
            self.id,
            self.event_seq,
            self.conversation_id,
            self.world,
            self.destination,
            self.kind,
            self.attempts + 1,
            self.queue,
        )


def enqueue(connection: Connection, deliveries: Iterable[NewDelivery]) -> int:
    """Add deliveries, ignoring any already there (same event, destination and kind); returns
    how many were added."""
    return len(_insert_deliveries(connection, deliveries))


def enqueue_fresh(connection: Connection, deliveries: Iterable[NewDelivery]) -> list[FreshDelivery]:
    """Add deliveries as ``enqueue`` does; returns those it inserted (not those already there),
    for a claim in the same transaction (``claim_fresh``)."""
    return [FreshDelivery(*row) for row in _insert_deliveries(connection, deliveries)]


def _insert_deliveries(connection: Connection, deliveries: Iterable[NewDelivery]) -> Sequence[Any]:
    """One multi-row INSERT ... ON CONFLICT DO NOTHING; the rows inserted (``_ENQUEUE``)."""
    now = utcnow()
    rows = [
        {
            "event_seq": d.event_seq,
            "conversation_id": d.conversation_id,
            "world": d.world,
            "destination": d.destination,
            "kind": d.kind,
            "queue": d.queue,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for d in deliveries
    ]
    if not rows:
        return []
    return direct.execute(connection, _ENQUEUE(connection), rows).all()


#: What a claimed delivery is made of (``ClaimedDelivery``, ``FreshDelivery``).
_CLAIMED_COLUMNS = (
    Delivery.id,
    Delivery.event_seq,
    Delivery.conversation_id,
    Delivery.world,
    Delivery.destination,
    Delivery.kind,
    Delivery.attempts,
    Delivery.queue,
)
_ENQUEUE = _prepared(
    lambda dialect: (
        _dialect_insert(dialect, Delivery)
        .on_conflict_do_nothing(index_elements=["event_seq", "destination", "kind"])
        .returning(*_CLAIMED_COLUMNS)
    )
)


#: What a claim reads of a delivery (``ClaimedDelivery`` and when it is due).
_CLAIMABLE = select(*_CLAIMED_COLUMNS, Delivery.next_attempt_at)
#: Pending or sending, with the constants written out (``LIVE_QUEUE_PREDICATE``): the condition
#: of the partial index on the live deliveries of each queue, so the planner reads it.
_HOLDS_ITS_QUEUE = Delivery.state.in_([literal_column(f"'{s}'") for s in LIVE_QUEUE_STATES])
_HEADS = select(func.min(Delivery.id)).where(_HOLDS_ITS_QUEUE).group_by(Delivery.queue)
#: The heads of the given queues only (a hand-off of fresh deliveries: ``claim_fresh``): the
#: same rule, read through the index of live deliveries on (queue, id) instead of every live
#: queue (and, like the claim, never through a queue's history).
_HEADS_OF_QUEUES = _HEADS.where(Delivery.queue.in_(_ids("queues")))
_DUE_HEADS = (
    _CLAIMABLE.where(
        Delivery.id.in_(_ids("heads")),
        Delivery.state == PENDING,
        Delivery.next_attempt_at <= bindparam("now"),
    )
    .order_by(Delivery.next_attempt_at, Delivery.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DUE_HEADS_OF_WORLDS = _DUE_HEADS.where(Delivery.world.in_(_ids("worlds")))
_FOLLOWERS = (
    _CLAIMABLE.where(
        Delivery.queue.in_(_ids("queues")),
        # Behind the first head, among the live deliveries (the partial index on (queue, id)):
        # never through a queue's history (its done deliveries).
        Delivery.id > bindparam("after"),
        _HOLDS_ITS_QUEUE,
        Delivery.state == PENDING,
        Delivery.id.not_in(_ids("heads")),
    )
    .order_by(Delivery.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(Delivery)
    .where(Delivery.id.in_(_ids("ids")))
    .values(
        state=SENDING,
        claimed_by=bindparam("worker"),
        lease_until=bindparam("lease_until"),
        attempts=Delivery.attempts + 1,
    )
)


def claim_due(
    connection: Connection,
    worker_id: str,
    *,
    limit: int = 10,
    lease: timedelta = timedelta(minutes=5),
    worlds: Sequence[str] | None = None,
    now: datetime | None = None,
    run: int = 1,
) -> list[ClaimedDelivery]:
    """Claim the due heads of their queues: pending, and nothing earlier pending or sending;
    with ``run`` > 1, each head with up to ``run - 1`` of the deliveries that follow it in its
    queue (a burst into one room or mailbox then costs one claim and one settle, not one each).
    Returned in queue order: a queue's deliveries must be attempted one after the other.

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so several workers (and
    several processes) share the outbox without taking the same delivery twice; the followers
    of a head are safe once the head is claimed, since nobody claims behind a queue's head.
    """
    # Two steps, not one query with a sub-select: PostgreSQL's planner, with stale statistics
    # on a freshly filled outbox, turned the sub-select into a nested loop (~0.5 s a claim).
    heads = direct.execute(connection, _HEADS).scalars().all()
    return _claim_heads(connection, worker_id, heads, limit, lease, worlds, now or utcnow(), run)


def claim_fresh(
    connection: Connection,
    worker_id: str,
    fresh: Collection[FreshDelivery],
    *,
    limit: int = 10,
    lease: timedelta = timedelta(minutes=5),
    worlds: Sequence[str] | None = None,
    now: datetime | None = None,
    run: int = 1,
) -> list[ClaimedDelivery]:
    """``claim_due`` restricted to the queues of ``fresh``: the deliveries this very
    transaction just enqueued (``enqueue_fresh``), claimed before it commits (the outbox's
    hand-off). Same rule, a cheaper read: only these queues' heads, which may be earlier
    deliveries (then claimed first, as ``claim_due`` would).

    The usual case, a lone message, takes a fast path of two statements instead of four: when
    each fresh delivery is the only fresh one of its queue, and the heads of these queues are
    exactly the fresh deliveries, they are claimed at once, without reading them again. The
    rules hold:

    - queue order: the heads are read as ``claim_due`` reads them (the least id pending or
      sending of each queue): a fresh delivery is claimed only when it is its queue's head,
      so nothing earlier of its queue is pending or sending;
    - the rest of ``claim_due``'s reading is known without reading: the rows are pending and
      due (inserted so by this transaction, due at once), and no other transaction can have
      locked, claimed or changed them (nor skipped them): they are invisible outside this
      transaction until it commits, and by then they are claimed. So no other worker or
      process (``SKIP LOCKED`` on PostgreSQL) can ever see them pending, let alone take one;
    - only followers are left out (with ``run`` > 1 the general path also takes the pending
      deliveries behind a head): behind a fresh head there can only be deliveries another
      process (PostgreSQL) committed since this transaction's INSERT; they wait behind the
      claimed head for a later claim, as any delivery enqueued after a claim does.

    Anything else (several fresh deliveries in a queue, an earlier delivery at a head, a world
    not in ``worlds``, more than ``limit``) takes ``claim_due``'s path, from the heads read."""
    if not fresh:
        return []
    now = now or utcnow()
    queues = {d.queue for d in fresh}
    heads = direct.execute(connection, _HEADS_OF_QUEUES, {"queues": list(queues)}).scalars().all()
    # One head a queue: the heads are the fresh deliveries only when each is alone in its queue.
    if (
        len(fresh) <= limit
        and (worlds is None or all(d.world in worlds for d in fresh))
        and set(heads) == {d.id for d in fresh}
    ):
        ordered = sorted(fresh, key=lambda d: d.id)
        ids = [d.id for d in ordered]
        claim = {"ids": ids, "worker": worker_id, "lease_until": now + lease}
        direct.execute(connection, _CLAIM, claim)
        return [d.claimed() for d in ordered]
    return _claim_heads(connection, worker_id, heads, limit, lease, worlds, now, run)


def _claim_heads(
    connection: Connection,
    worker_id: str,
    heads: Sequence[int],
    limit: int,
    lease: timedelta,
    worlds: Sequence[str] | None,
    now: datetime,
    run: int,
) -> list[ClaimedDelivery]:
    """``claim_due`` from the heads of the queues read: those due and not locked, with their
    followers (``run``), claimed."""
    if not heads:
        return []
    parameters: dict[str, Any] = {"heads": list(heads), "now": now, "limit": limit}
    if worlds is None:
        rows = list(direct.execute(connection, _DUE_HEADS, parameters).all())
    else:
        parameters["worlds"] = list(worlds)
        rows = list(direct.execute(connection, _DUE_HEADS_OF_WORLDS, parameters).all())
    if run > 1 and rows:
        rows = _with_followers(connection, rows, run, now)
    if not rows:
        return []
    direct.execute(
        connection,
        _CLAIM,
        {"ids": [row.id for row in rows], "worker": worker_id, "lease_until": now + lease},
    )
    return [ClaimedDelivery(*row[:6], row.attempts + 1, row.queue) for row in rows]


def _with_followers(connection: Connection, heads: list[Any], run: int, now: datetime) -> list[Any]:
    """Each head followed by the next pending deliveries of its queue (at most ``run`` in all,
    stopping at the first one not yet due)."""
    head_ids = {row.queue: row.id for row in heads}
    candidates = direct.execute(
        connection,
        _FOLLOWERS,
        {
            "queues": list(head_ids),
            "heads": list(head_ids.values()),
            "after": min(head_ids.values()),
            "limit": len(heads) * run,
        },
    ).all()
    followers: dict[str, list[Any]] = {queue: [] for queue in head_ids}
    blocked: set[str] = set()
    for row in candidates:
        queue = row.queue
        if queue in blocked or row.id < head_ids[queue] or len(followers[queue]) >= run - 1:
            continue
        if row.next_attempt_at > now:
            blocked.add(queue)
            continue
        followers[queue].append(row)
    return [row for head in heads for row in (head, *followers[head.queue])]


def _finish(connection: Connection, delivery_id: int, worker_id: str, **values: Any) -> bool:
    """Update a claimed delivery; False when the claim was lost (lease expired, taken over)."""
    result = connection.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.state == SENDING,
            Delivery.claimed_by == worker_id,
        )
        .values(claimed_by=None, lease_until=None, **values)
    )
    return bool(result.rowcount)


def mark_done(connection: Connection, delivery_id: int, worker_id: str) -> bool:
    return bool(mark_done_many(connection, [delivery_id], worker_id))


def mark_done_many(connection: Connection, delivery_ids: Sequence[int], worker_id: str) -> set[int]:
    """Settle several deliveries at once; returns those whose claim was still held."""
    if not delivery_ids:
        return set()
    result = direct.execute(
        connection, _MARK_DONE, {"ids": list(delivery_ids), "worker": worker_id, "now": utcnow()}
    )
    return set(result.scalars())


def _settle_claimed(which: Any) -> Any:
    """UPDATE: the deliveries ``which`` matches that ``:worker`` still holds (sending) are done
    at ``:now``."""
    return (
        update(Delivery)
        .where(which, Delivery.state == SENDING, Delivery.claimed_by == bindparam("worker"))
        .values(
            state=DONE,
            last_error=None,
            finished_at=bindparam("now"),
            claimed_by=None,
            lease_until=None,
        )
    )


_MARK_DONE = _settle_claimed(Delivery.id.in_(_ids("ids"))).returning(Delivery.id)


def mark_one_done(
    connection: Connection, delivery_id: int, worker_id: str, audit: AuditRecord
) -> bool:
    """Settle one delivery and write its audit row, only if this worker still holds its claim.

    The sinks' inline settle, once per delivered message: an equality instead of an expanding
    IN list and the row count instead of RETURNING, which halves what SQLAlchemy does around
    the two statements (measured 88 against 45 µs on SQLite)."""
    now = utcnow()
    params = {"delivery": delivery_id, "worker": worker_id, "now": now}
    if not direct.execute(connection, _MARK_ONE_DONE, params).rowcount:
        return False
    direct.execute(connection, _ADD_AUDITS, _audit_row(audit, now))
    return True


_MARK_ONE_DONE = _settle_claimed(Delivery.id == bindparam("delivery"))


def mark_retry(
    connection: Connection, delivery_id: int, worker_id: str, *, at: datetime, error: str
) -> bool:
    return _finish(
        connection, delivery_id, worker_id, state=PENDING, next_attempt_at=at, last_error=error
    )


def mark_failed(connection: Connection, delivery_id: int, worker_id: str, *, error: str) -> bool:
    return _finish(
        connection, delivery_id, worker_id, state=FAILED, last_error=error, finished_at=utcnow()
    )


def release_claims(
    connection: Connection,
    *,
    worker_id: str | None = None,
    expired_before: datetime | None = None,
    delivery_ids: Sequence[int] | None = None,
) -> int:
    """Put claimed deliveries back to pending: a worker's own on shutdown (or only
    ``delivery_ids`` of them), or expired leases."""
    statement = update(Delivery).where(Delivery.state == SENDING)
    if worker_id is not None:
        statement = statement.where(Delivery.claimed_by == worker_id)
    if delivery_ids is not None:
        statement = statement.where(Delivery.id.in_(tuple(delivery_ids)))
    if expired_before is not None:
        statement = statement.where(Delivery.lease_until < expired_before)
    result = connection.execute(statement.values(state=PENDING, claimed_by=None, lease_until=None))
    return int(result.rowcount or 0)


def release_unattempted(connection: Connection, delivery_ids: Sequence[int], worker_id: str) -> int:
    """Give back claimed deliveries that were not tried (their queue stopped at an earlier
    failure): pending again, and the claim's attempt does not count."""
    if not delivery_ids:
        return 0
    result = direct.execute(
        connection, _RELEASE_UNATTEMPTED, {"ids": list(delivery_ids), "worker": worker_id}
    )
    return int(result.rowcount or 0)


_RELEASE_UNATTEMPTED = (
    update(Delivery)
    .where(
        Delivery.id.in_(_ids("ids")),
        Delivery.state == SENDING,
        Delivery.claimed_by == bindparam("worker"),
    )
    .values(state=PENDING, claimed_by=None, lease_until=None, attempts=Delivery.attempts - 1)
)


def claim_holders(connection: Connection) -> set[str]:
    """The workers that hold claims right now."""
    rows = connection.scalars(
        select(Delivery.claimed_by).where(Delivery.state == SENDING).distinct()
    )
    return {row for row in rows if row}


def release_claims_of_process(connection: Connection, owner: str) -> int:
    """Put back every claim held by the workers of process ``owner`` (``owner:w<n>``)."""
    result = connection.execute(
        update(Delivery)
        .where(Delivery.state == SENDING, Delivery.claimed_by.startswith(f"{owner}:"))
        .values(state=PENDING, claimed_by=None, lease_until=None)
    )
    return int(result.rowcount or 0)


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    """Every delivery by state: a scan of the whole outbox (done rows are never purged), for
    tests and one-off checks; the readiness probe counts :func:`live_delivery_counts`."""
    rows = await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    counts.update({state: int(count) for state, count in rows.all()})
    return counts


#: The states the readiness probe counts: work still to do, and deliveries given up (few, and
#: what an operator must see, across restarts: the process counter starts again at 0). Done
#: deliveries only ever accumulate; they are ``spico_bridge_deliveries_total{outcome="done"}``.
LIVE_DELIVERY_STATES = (PENDING, SENDING, FAILED)

_LIVE_COUNTS = (
    select(Delivery.state, func.count())
    .where(Delivery.state.in_(LIVE_DELIVERY_STATES))
    .group_by(Delivery.state)
)


def live_delivery_counts(connection: Connection) -> dict[str, int]:
    """Pending, sending and failed deliveries by state, read on ``ix_deliveries_state_due``:
    the cost follows the live work and the failures, not every delivery ever made (probed
    every few seconds)."""
    counts = dict.fromkeys(LIVE_DELIVERY_STATES, 0)
    counts.update({state: int(count) for state, count in direct.execute(connection, _LIVE_COUNTS)})
    return counts


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery becomes due (lets idle workers sleep precisely)."""
    return await session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.state == PENDING)
    )


# --- inbound links ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundRecord:
    idempotency_key: str
    world: str
    origin: str
    conversation_id: str
    author_id: str
    spico_message_id: str | None
    state: str


_INBOUND_ROW = select(
    InboundLink.idempotency_key,
    InboundLink.world,
    InboundLink.origin,
    InboundLink.conversation_id,
    InboundLink.author_id,
    InboundLink.spico_message_id,
    InboundLink.state,
)
_INBOUND = _INBOUND_ROW.where(InboundLink.idempotency_key.in_(_ids("keys")))


def _inbound(row: Any) -> InboundRecord:
    return InboundRecord(
        row.idempotency_key,
        row.world,
        row.origin,
        row.conversation_id,
        row.author_id,
        row.spico_message_id,
        row.state,
    )


def record_inbound(
    connection: Connection,
    *,
    idempotency_key: str,
    world: str,
    origin: str,
    conversation_id: str,
    author_id: str,
) -> InboundRecord:
    """Record a spoke message before posting it; returns the existing record on a replay."""
    statement = (
        _insert(connection, InboundLink)
        .values(
            idempotency_key=idempotency_key,
            world=world,
            origin=origin,
            conversation_id=conversation_id,
            author_id=author_id,
            state=PENDING,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[InboundLink.idempotency_key])
    )
    connection.execute(statement)
    record = find_inbound(connection, idempotency_key)
    assert record is not None
    return record


def find_inbound(connection: Connection, idempotency_key: str) -> InboundRecord | None:
    return find_inbounds(connection, [idempotency_key]).get(idempotency_key)


def find_inbounds(connection: Connection, keys: Iterable[str]) -> dict[str, InboundRecord]:
    wanted = {key for key in keys if key}
    if not wanted:
        return {}
    rows = direct.execute(connection, _INBOUND, {"keys": list(wanted)})
    return {row.idempotency_key: _inbound(row) for row in rows}


def pending_inbound(connection: Connection, *, world: str, limit: int = 100) -> list[InboundRecord]:
    """Inbound records of ``world`` still waiting to be posted, oldest first."""
    rows = connection.execute(
        _INBOUND_ROW.where(InboundLink.world == world, InboundLink.state == PENDING)
        .order_by(InboundLink.created_at)
        .limit(limit)
    )
    return [_inbound(row) for row in rows]


def mark_inbound(
    connection: Connection, idempotency_key: str, *, state: str, spico_message_id: str | None
) -> None:
    connection.execute(
        update(InboundLink)
        .where(InboundLink.idempotency_key == idempotency_key)
        .values(state=state, spico_message_id=spico_message_id, posted_at=utcnow())
    )


# --- audit -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRecord:
    world: str
    action: str
    outcome: str
    actor_id: str | None = None
    conversation_id: str | None = None
    destination: str | None = None
    detail: str | None = None


def add_audits(connection: Connection, records: Iterable[AuditRecord]) -> None:
    """Write audit rows (one statement)."""
    now = utcnow()
    rows = [_audit_row(r, now) for r in records]
    if rows:
        direct.execute(connection, _ADD_AUDITS, rows)


def _audit_row(record: AuditRecord, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "world": record.world,
        "action": record.action,
        "outcome": record.outcome,
        "actor_id": record.actor_id,
        "conversation_id": record.conversation_id,
        "destination": record.destination,
        "detail": record.detail,
    }


_ADD_AUDITS = insert(AuditEntry)


async def add_audit(session: AsyncSession, **fields: str | None) -> None:
    """Write one audit row in the session's transaction (see ``AuditRecord`` for the fields)."""
    await in_session(session, add_audits, [AuditRecord(**fields)])  # type: ignore[arg-type]
