"""Fan-out: SPICO events → journal + conversation snapshots + one delivery per destination.

A batch is handled in two steps. First, outside any transaction, the directory entries and
conversations the batch needs but the bridge does not know yet are fetched from SPICO (I/O that
may be retried freely). Then one transaction journals each new event, updates the snapshots,
writes the deliveries chosen by ``core.routing.route`` and advances the SPICO cursor: the cursor
never moves past an event whose deliveries are not committed (durable before acknowledged).
When an outbox worker is idle, that transaction also claims the fresh deliveries for it
(``outbox.HandOff``), from what the fan-out read already: a lone message costs no second unit
of work for its claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection

from bridge.core.delivery import BRIDGE_WORLD
from bridge.core.model import (
    STATE_EVENTS,
    ConversationView,
    DeliveryKind,
    Destination,
    EventType,
    MailChoice,
    Origin,
    Participant,
    RoutedEvent,
    RoutingPolicy,
    World,
)
from bridge.core.routing import history_destinations, route, route_status_change
from bridge.hub.outbox import HandOff, Loaded
from bridge.hub.participants import merge
from bridge.hub.remembered import Remembered
from bridge.metrics import EVENTS
from bridge.spico.client import SpicoClient, SpicoNotFound
from bridge.spico.models import Conversation, Professional, SpicoEvent
from bridge.store import preferences
from bridge.store import repositories as repo
from bridge.store.repositories import ConversationSnapshot, Store

log = logging.getLogger(__name__)

SPICO_CURSOR = "spico:events"
#: The last SPICO seq that predates the first start with ``bridge_existing: all``.
HISTORY_CURSOR = "spico:history-head"
#: Batches of up to this many events are recorded inline on the event loop (SQLite), larger
#: ones on the database thread: measured ~0.4 ms for one event plus ~60 µs per further event
#: (6.3 ms for a page of 100), so a live batch holds the loop under ~1 ms.
INLINE_EVENTS = 10


def snapshot_from(conversation: Conversation, seq: int) -> ConversationSnapshot:
    return ConversationSnapshot(
        id=conversation.id,
        subject=conversation.subject,
        created_by=conversation.created_by,
        members=tuple(conversation.member_ids),
        patient=conversation.patient.model_dump(mode="json") if conversation.patient else None,
        last_seq=seq,
    )


def apply_event(
    snapshot: ConversationSnapshot | None, event: SpicoEvent
) -> ConversationSnapshot | None:
    """The conversation as it is after ``event`` (pure; None when it is still unknown)."""
    data = event.data
    if event.type == EventType.CONVERSATION_CREATED:
        created = event.conversation
        return snapshot_from(created, event.seq) if created else snapshot
    if snapshot is None or event.seq <= snapshot.last_seq or event.type not in STATE_EVENTS:
        # A message changes nothing of the conversation (``last_seq`` is its last change):
        # no snapshot write for each message.
        return snapshot
    changes: dict[str, Any] = {"last_seq": event.seq}
    if event.type == EventType.CONVERSATION_UPDATED and "subject" in data:
        changes["subject"] = data["subject"]
    elif event.type == EventType.MEMBER_ADDED and data.get("member_id") not in snapshot.members:
        changes["members"] = (*snapshot.members, data["member_id"])
    elif event.type == EventType.MEMBER_REMOVED:
        changes["members"] = tuple(m for m in snapshot.members if m != data.get("member_id"))
    elif event.type == EventType.PATIENT_LINKED:
        changes["patient"] = data.get("patient")
    elif event.type == EventType.PATIENT_UNLINKED:
        changes["patient"] = None
    return ConversationSnapshot(**{**_fields(snapshot), **changes})


def _fields(snapshot: ConversationSnapshot) -> dict[str, Any]:
    return {name: getattr(snapshot, name) for name in snapshot.__dataclass_fields__}


def parse_about(value: str | None) -> Destination | None:
    """A notice's ``about`` ("world:destination") as the destination it must not be sent to."""
    if not value or ":" not in value:
        return None
    world, destination = value.split(":", 1)
    try:
        return Destination(World(world), destination, DeliveryKind.MESSAGE)
    except ValueError:
        return None


def professional_row(professional: Professional) -> repo.ProfessionalRow:
    return repo.ProfessionalRow(
        id=professional.id,
        civility=professional.civility,
        first_name=professional.first_name,
        last_name=professional.last_name,
        profession=professional.profession,
        mssante_address=professional.mssante_address,
        status=professional.status,
        has_account=professional.has_account,
    )


@dataclass
class _BatchState:
    """What a batch's events need from the store, read in four queries up front."""

    snapshots: dict[str, ConversationSnapshot]
    people: dict[str, repo.ProfessionalRow]
    links: dict[str, repo.InboundRecord]
    #: Snapshots fetched from SPICO in this batch, not in the store yet (saved on first use).
    unsaved: set[str]
    #: The members' own mail choices for these conversations {(conversation, member): …}.
    choices: dict[tuple[str, str], MailChoice]
    #: The ids ``people`` was read for (those missing from it are not in the directory).
    looked_up: set[str]

    @classmethod
    def load(
        cls,
        connection: Connection,
        events: list[SpicoEvent],
        fetched: Mapping[str, Conversation],
        remembered: Remembered,
        *,
        mail: bool = True,
    ) -> _BatchState:
        """The batch's state, read from the store where the fan-out does not remember it;
        ``mail``: whether mail is routed at all (the members' own mail choices matter to nothing
        else: not read otherwise)."""
        ids = {e.conversation_id for e in events if e.conversation_id}
        snapshots, unread = remembered.snapshots(ids)
        snapshots.update(repo.get_conversations(connection, unread))
        unsaved = set()
        for conversation_id, conversation in fetched.items():
            if conversation_id not in snapshots:
                first_seq = min(e.seq for e in events if e.conversation_id == conversation_id)
                snapshots[conversation_id] = snapshot_from(conversation, first_seq - 1)
                unsaved.add(conversation_id)
        members = {m for snapshot in snapshots.values() for m in snapshot.members}
        for event in events:
            if event.type == EventType.CONVERSATION_CREATED and event.conversation:
                members.update(event.conversation.member_ids)
            elif event.type == EventType.MEMBER_ADDED:
                members.add(str(event.data.get("member_id")))
        # Only a message posted with an idempotency key can be one the bridge posted (a
        # message without one costs no look-up).
        keys = {
            str(key)
            for e in events
            if e.type == EventType.MESSAGE_POSTED and e.data.get("message")
            if (key := e.data["message"].get("idempotency_key"))
        }
        return cls(
            snapshots,
            repo.get_professionals(connection, members),
            repo.find_inbounds(connection, keys),
            unsaved,
            preferences.conversation_choices(connection, snapshots) if mail else {},
            members,
        )

    def loaded(self, events: list[SpicoEvent], journaled: Iterable[repo.JournalRow]) -> Loaded:
        """What the outbox's hand-off may take from this batch instead of reading it again:
        the journaled rows, the saved snapshots (as they are now), and the directory rows
        read, except those of professionals whose status an event of the batch changed."""
        restated = {
            str(e.data.get("professional_id")) for e in events if e.type == EventType.STATUS_CHANGED
        }
        return Loaded(
            {row.seq: row for row in journaled},
            self.saved(),
            {i: self.people.get(i) for i in self.looked_up - restated},
        )

    def saved(self) -> dict[str, ConversationSnapshot]:
        """The snapshots as the store has them once the unit commits."""
        return {i: s for i, s in self.snapshots.items() if i not in self.unsaved}


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What a batch's unit of work committed, for the fan-out to remember."""

    #: The snapshots as stored now.
    snapshots: dict[str, ConversationSnapshot]
    #: How many deliveries were enqueued, and whether the hand-off claimed them all.
    enqueued: int
    handed: bool


def _journal_row(event: SpicoEvent) -> repo.JournalRow:
    return repo.JournalRow(
        seq=event.seq,
        type=event.type,
        conversation_id=event.conversation_id,
        actor_id=event.actor_id,
        occurred_at=event.occurred_at.isoformat(),
        payload=event.model_dump(mode="json"),
    )


class FanOut:
    """Turns SPICO event batches into journaled events and deliveries (the consumer's handler)."""

    def __init__(
        self,
        store: Store,
        client: SpicoClient,
        configured: Mapping[str, Participant],
        policy: RoutingPolicy,
        *,
        on_enqueued: Callable[[], None] = lambda: None,
        hand_off: Callable[[], HandOff | None] = lambda: None,
    ) -> None:
        """``on_enqueued``: deliveries were committed (wake the outbox); ``hand_off``: an idle
        outbox worker to claim a live batch's deliveries for, in the batch's own unit of work
        (``OutboxWorkers.hand_off``; None: none idle)."""
        self._store = store
        self._client = client
        self._configured = configured
        self._policy = policy
        self._on_enqueued = on_enqueued
        self._hand_off = hand_off
        #: False after a unit of work that handed off failed: the next one does not, so a
        #: failure of the hand-off itself can never hold the feed up.
        self._handing_off = True
        #: Conversations the store has (committed): no need to look them up again.
        self._known_conversations: set[str] = set()
        #: Snapshots as last committed (the fan-out is their only writer).
        self._remembered = Remembered()
        #: Events up to this seq predate the first start (``bridge_existing: all``).
        self._history_head: int | None = None
        #: The SPICO cursor as this process last read or committed it (None: read it with the
        #: next batch). One consumer per process, and per database (the source's lock on
        #: PostgreSQL), writes it: no batch needs to read it again. After a failed batch it is
        #: read again (the failure may have come after the commit).
        self._cursor: int | None = None

    def set_participants(self, configured: Mapping[str, Participant]) -> None:
        """A reloaded config's participant mappings apply from the next event on."""
        self._configured = configured

    async def load_cursor(self) -> int:
        value = await self._store.run(partial(repo.get_cursor, source=SPICO_CURSOR))
        self._cursor = int(value) if value is not None else 0
        return self._cursor

    async def start_at_head(self) -> None:
        """First start with ``bridge_existing: new``: skip the history that came before us."""
        await self._mark_head(SPICO_CURSOR, "first start: bridging SPICO events after seq %d")

    async def start_with_history(self) -> None:
        """First start with ``bridge_existing: all``: read the feed from its start, but only
        for the rooms' state: what came before now is history (``history_destinations``)."""
        await self._mark_head(HISTORY_CURSOR, "first start: SPICO events up to seq %d are history")

    async def _mark_head(self, cursor: str, said: str) -> None:
        """On the very first start only (no SPICO cursor yet), ``cursor`` := the feed's head."""
        self._cursor = None

        def started(connection: Connection) -> bool:
            names = {SPICO_CURSOR, cursor}
            return any(repo.get_cursor(connection, name) is not None for name in names)

        if await self._store.run(started):
            return
        page = await self._client.get_events(0, limit=1)

        def mark_head(connection: Connection) -> bool:
            if repo.get_cursor(connection, cursor) is not None:
                return False
            repo.set_cursor(connection, cursor, str(page.head_seq))
            return True

        if await self._store.run(mark_head):
            log.info(said, page.head_seq)

    def _history_until(self, connection: Connection) -> int:
        """The last seq that is history (0: none); read once, it never changes."""
        if self._history_head is None:
            value = repo.get_cursor(connection, HISTORY_CURSOR)
            self._history_head = int(value) if value is not None else 0
        return self._history_head

    async def handle_batch(self, events: list[SpicoEvent]) -> None:
        conversations = await self._fetch_missing_conversations(events)
        await self._fetch_missing_professionals(events, conversations)
        heavy = len(events) > INLINE_EVENTS
        # A page of backlog is claimed as usual (by woken workers, off the loop).
        handoff = self._hand_off() if self._handing_off and not heavy else None
        work = partial(self._record_batch, events, conversations, self._cursor, handoff)
        try:
            cursor, recorded = await self._store.run(work, heavy=heavy)
        except BaseException:
            self._cursor = None  # it may have committed all the same: read it again
            self._remembered.clear()  # likewise
            if handoff is not None:
                handoff.abandon()
                self._handing_off = False
            raise
        self._handing_off = True
        self._cursor = cursor
        if handoff is not None:
            handoff.dispatch()
        if recorded is None:
            return
        self._remembered.keep(recorded.snapshots)
        self._known_conversations.update(recorded.snapshots)
        if recorded.enqueued and not recorded.handed:
            self._on_enqueued()

    def _record_batch(
        self,
        events: list[SpicoEvent],
        conversations: Mapping[str, Conversation],
        cursor: int | None,
        handoff: HandOff | None,
        connection: Connection,
    ) -> tuple[int, _Recorded | None]:
        """Unit of work: journal the batch's new events, update the snapshots, enqueue the
        deliveries, claim them for ``handoff``'s idle worker (if any) and advance the cursor
        (durable before acknowledged); ``cursor``: as this process knows it (None: read
        here). Returns the cursor now, with what was recorded (None when the whole batch was
        already recorded)."""
        if cursor is None:
            cursor = int(repo.get_cursor(connection, SPICO_CURSOR) or 0)
        fresh = [event for event in events if event.seq > cursor]
        if not fresh:
            return cursor, None
        batch = _BatchState.load(
            connection,
            fresh,
            conversations,
            self._remembered,
            mail=World.MAIL in self._policy.worlds,
        )
        # One statement per table for the whole batch: the journal, then the deliveries.
        rows = [_journal_row(e) for e in fresh]
        recorded = repo.record_events(connection, rows)
        deliveries: list[repo.NewDelivery] = []
        for event in fresh:
            if event.seq in recorded:
                EVENTS.labels(event.type).inc()
                deliveries += self._route(connection, event, batch)
        queued = repo.enqueue_fresh(connection, deliveries)
        enqueued = len(queued)
        handed = False
        if handoff is not None and enqueued:
            journaled = (row for row in rows if row.seq in recorded)
            handed = handoff.claim(connection, queued, batch.loaded(fresh, journaled))
        repo.set_cursor(connection, SPICO_CURSOR, str(fresh[-1].seq))
        return fresh[-1].seq, _Recorded(batch.saved(), enqueued, handed)

    def _route(
        self, connection: Connection, event: SpicoEvent, batch: _BatchState
    ) -> list[repo.NewDelivery]:
        """The deliveries of one journaled event (its snapshot updated in the batch)."""
        if event.type == EventType.STATUS_CHANGED:
            professional_id = str(event.data.get("professional_id"))
            repo.set_professional_status(connection, professional_id, str(event.data.get("status")))
            refresh = route_status_change(
                repo.conversations_with_member(connection, professional_id), self._policy
            )
            return [
                repo.NewDelivery(
                    event.seq, d.destination, d.world.value, d.destination, d.kind.value
                )
                for d in refresh
            ]
        if event.conversation_id is None:
            return []
        snapshot = batch.snapshots.get(event.conversation_id)
        updated = apply_event(snapshot, event)
        if updated is None:
            log.warning("event %d: conversation unknown to SPICO; nothing to deliver", event.seq)
            return []
        if updated != snapshot or updated.id in batch.unsaved:
            repo.save_conversation(connection, updated)
            batch.snapshots[updated.id] = updated
            batch.unsaved.discard(updated.id)
        participants = {
            m: merge(
                self._configured.get(m),
                batch.people.get(m),
                m,
                batch.choices.get((updated.id, m)),
            )
            for m in updated.members
        }
        destinations = route(
            self._routed_event(event, batch.links),
            ConversationView(updated.id, updated.members),
            participants,
            self._policy,
        )
        if event.seq <= self._history_until(connection):
            destinations = history_destinations(destinations)
        return [
            repo.NewDelivery(event.seq, updated.id, d.world.value, d.destination, d.kind.value)
            for d in destinations
        ]

    @staticmethod
    def _routed_event(event: SpicoEvent, links: Mapping[str, repo.InboundRecord]) -> RoutedEvent:
        message = event.data.get("message") if event.type == EventType.MESSAGE_POSTED else None
        if not message:
            return RoutedEvent(event.type, event.actor_id)
        origin = None
        link = links.get(message.get("idempotency_key") or "")
        if link is not None and link.world != BRIDGE_WORLD:
            origin = Origin(World(link.world), link.origin)
        return RoutedEvent(
            event.type,
            author_id=message.get("author_id"),
            about=parse_about(message.get("about")),
            origin=origin,
        )

    async def _fetch_missing_conversations(
        self, events: Iterable[SpicoEvent]
    ) -> dict[str, Conversation]:
        """Conversations this batch talks about that were created before the bridge watched."""
        created = {e.conversation_id for e in events if e.type == EventType.CONVERSATION_CREATED}
        wanted = {e.conversation_id for e in events if e.conversation_id} - created
        wanted -= self._known_conversations
        if not wanted:
            return {}
        known = set(await self._store.run(partial(repo.get_conversations, ids=wanted)))
        self._known_conversations.update(known)
        fetched: dict[str, Conversation] = {}
        for conversation_id in sorted(wanted - known):
            try:
                fetched[conversation_id] = await self._client.get_conversation(conversation_id)
            except SpicoNotFound:
                log.warning("conversation %s is gone from SPICO", conversation_id)
        return fetched

    async def _fetch_missing_professionals(
        self, events: Iterable[SpicoEvent], fetched: Mapping[str, Conversation]
    ) -> None:
        """Directory entries of every member the batch involves, fetched once and cached."""
        wanted: set[str] = set()
        for event in events:
            if event.type == EventType.CONVERSATION_CREATED and event.conversation:
                wanted.update(event.conversation.member_ids)
            elif event.type == EventType.MEMBER_ADDED:
                wanted.add(str(event.data.get("member_id")))
        for conversation in fetched.values():
            wanted.update(conversation.member_ids)
        if not wanted:
            return
        missing = wanted - set(await self._store.run(partial(repo.get_professionals, ids=wanted)))
        for professional_id in sorted(missing):
            try:
                professional = await self._client.get_professional(professional_id)
            except SpicoNotFound:
                log.warning("professional %s is not in the SPICO directory", professional_id)
                continue
            await self._store.run(
                partial(repo.save_professional, row=professional_row(professional))
            )
