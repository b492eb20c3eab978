"""Conversation snapshots follow SPICO events; the fan-out serves conversations it never saw
being created."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Engine, select
from sqlalchemy import event as sqla_event

from bridge.core.model import (
    DeliveryKind,
    DeliveryPreference,
    Destination,
    MailChoice,
    Participant,
    RoutingPolicy,
    World,
)
from bridge.hub import fanout as fanout_module
from bridge.hub.fanout import FanOut, apply_event, parse_about
from bridge.spico.client import SpicoClient
from bridge.spico.models import SpicoEvent
from bridge.store import preferences
from bridge.store import repositories as repo
from bridge.store.models import Delivery
from bridge.store.repositories import ConversationSnapshot, Store
from tests.fixtures.sandbox import Personas, open_conversation

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT = {
    "id": "p1",
    "ins": "185053112345678",
    "ins_oid": "1.2.250.1.213.1.4.10",
    "first_name": "Jeanne",
    "last_name": "Test",
    "birth_date": "1985-05-01",
    "sex": "F",
}


def _event(seq: int, type_: str, **data: object) -> SpicoEvent:
    return SpicoEvent(
        seq=seq, type=type_, occurred_at=NOW, conversation_id="c1", actor_id="81", data=data
    )


BASE = ConversationSnapshot("c1", "Sujet", "81", ("81", "82"), None, 1)


def test_creation_builds_the_snapshot() -> None:
    conversation = {
        "id": "c1",
        "subject": "Sujet",
        "created_at": NOW.isoformat(),
        "created_by": "81",
        "patient": PATIENT,
        "updated_at": NOW.isoformat(),
        "members": [
            {"id": "81", "added_at": NOW.isoformat()},
            {"id": "82", "added_at": NOW.isoformat()},
        ],
    }
    snapshot = apply_event(None, _event(1, "conversation.created", conversation=conversation))
    assert snapshot == ConversationSnapshot("c1", "Sujet", "81", ("81", "82"), PATIENT, 1)


def test_each_change_is_applied_once() -> None:
    added = apply_event(BASE, _event(2, "member.added", member_id="83"))
    assert added.members == ("81", "82", "83") and added.last_seq == 2
    assert apply_event(added, _event(2, "member.added", member_id="83")) == added
    removed = apply_event(added, _event(3, "member.removed", member_id="82"))
    assert removed.members == ("81", "83")
    renamed = apply_event(removed, _event(4, "conversation.updated", subject="Nouveau"))
    assert renamed.subject == "Nouveau"
    linked = apply_event(renamed, _event(5, "patient.linked", patient=PATIENT))
    assert linked.patient == PATIENT
    unlinked = apply_event(linked, _event(6, "patient.unlinked", patient_id="p1"))
    assert unlinked.patient is None and unlinked.last_seq == 6


def test_older_events_do_not_rewind_a_snapshot() -> None:
    newer = ConversationSnapshot("c1", "Sujet", "81", ("81",), None, 10)
    assert apply_event(newer, _event(5, "member.added", member_id="99")) == newer


def test_unknown_conversation_stays_unknown() -> None:
    assert apply_event(None, _event(3, "member.added", member_id="83")) is None


def test_notice_about_is_parsed_to_a_destination() -> None:
    assert parse_about("mail:810000000002") == Destination(
        World.MAIL, "810000000002", DeliveryKind.MESSAGE
    )
    assert parse_about("carrier-pigeon:x") is None
    assert parse_about(None) is None


def test_a_message_changes_nothing_of_the_snapshot() -> None:
    assert apply_event(BASE, _event(7, "message.posted", message={"id": "m1"})) is BASE


async def test_a_conversation_older_than_the_bridge_is_fetched_kept_and_served(
    store: Store, spico_client: SpicoClient, personas: Personas
) -> None:
    """Messages in a conversation created before the bridge watched: the first batch fetches
    the conversation from SPICO and stores it; later batches find it (no message is lost)."""
    doctor, reader = personas.doctor, personas.colleagues[3]
    head = (await spico_client.get_events(0, limit=1)).head_seq  # the shared sandbox's "now"
    created = await open_conversation(spico_client, doctor, [reader], "Ancienne", "1")
    conversation = created.conversation.id
    for body in ("2", "3"):
        await spico_client.post_message(
            conversation, on_behalf_of=doctor, acting_as=doctor, body=body, idempotency_key=body
        )
    page = await spico_client.get_events(head, limit=1000)
    posted = [
        e for e in page.events if e.conversation_id == conversation and e.type == "message.posted"
    ]
    assert len(posted) == 3
    fanout = FanOut(store, spico_client, {}, RoutingPolicy(frozenset({World.MATRIX})))
    for event in posted[1:]:  # the bridge started after the creation and the first message
        await fanout.handle_batch([event])
    async with store.transaction() as session:
        snapshot = await repo.get_conversation(session, conversation)
        counts = await repo.delivery_counts(session)
    assert snapshot is not None and set(snapshot.members) == {doctor, reader}
    assert counts["pending"] == 2, "one room delivery for each message"


async def _known_conversation(store: Store) -> None:
    """c1 (81 writes, 82 follows it by mail), with its members in the directory."""
    async with store.transaction() as session:
        await repo.in_session(session, repo.save_conversation, BASE)
        for spico_id in ("81", "82"):
            row = repo.ProfessionalRow(spico_id, "Dr", "A", "B", None, None, "active", True)
            await repo.in_session(session, repo.save_professional, row)


def _posted(seq: int, **message: object) -> SpicoEvent:
    return _event(seq, "message.posted", message={"id": f"m{seq}", "author_id": "81", **message})


async def _deliveries(store: Store) -> list[tuple[int, str, str]]:
    async with store.transaction() as session:
        rows = await session.execute(select(Delivery.event_seq, Delivery.world, Delivery.kind))
    return sorted((seq, world, kind) for seq, world, kind in rows)


BY_MAIL = {
    "82": Participant("82", mail="anne@sandbox.mssante.fr", delivery=DeliveryPreference.MAIL)
}
BOTH = RoutingPolicy(frozenset({World.MATRIX, World.MAIL}))


async def test_a_batch_handed_again_is_recorded_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor the fan-out committed is carried in memory: a batch handed again (the
    consumer retried it), a batch whose commit was followed by a failure, and a restart
    (the cursor read from the store) record and route each event once."""
    await _known_conversation(store)
    client = cast(SpicoClient, None)  # every conversation and member is known: never called
    fanout = FanOut(store, client, BY_MAIL, BOTH)
    await fanout.handle_batch([_posted(2), _posted(3)])
    await fanout.handle_batch([_posted(2), _posted(3)])
    run = store.run

    async def committed_then_failed(work: Any, **options: Any) -> Any:
        monkeypatch.setattr(store, "run", run)
        await run(work, **options)
        raise ConnectionError("the answer was lost")

    monkeypatch.setattr(store, "run", committed_then_failed)
    with pytest.raises(ConnectionError):
        await fanout.handle_batch([_posted(4)])
    assert await FanOut(store, client, BY_MAIL, BOTH).load_cursor() == 4, "committed"
    await fanout.handle_batch([_posted(4), _posted(5)])
    restarted = FanOut(store, client, BY_MAIL, BOTH)
    assert await restarted.load_cursor() == 5
    await restarted.handle_batch([_posted(5), _posted(6)])
    expected = [(seq, world, "message") for seq in range(2, 7) for world in ("mail", "matrix")]
    assert await _deliveries(store) == expected


async def test_a_live_batch_is_recorded_inline_and_a_page_of_backlog_off_the_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _known_conversation(store)
    fanout = FanOut(store, cast(SpicoClient, None), BY_MAIL, BOTH)
    heavy: list[bool] = []
    run = store.run

    async def recorded(work: Any, **options: Any) -> Any:
        if getattr(work, "func", None) == fanout._record_batch:
            heavy.append(options.get("heavy", False))
        return await run(work, **options)

    monkeypatch.setattr(store, "run", recorded)
    await fanout.handle_batch([_posted(2)])
    await fanout.handle_batch([_posted(seq) for seq in range(3, 4 + fanout_module.INLINE_EVENTS)])
    assert heavy == [False, True]
    assert len(await _deliveries(store)) == 2 * (2 + fanout_module.INLINE_EVENTS)


async def test_a_members_stop_choice_applies_when_mail_is_routed(store: Store) -> None:
    """The members' own mail choices are read when mail is routed (and only then: they
    matter to nothing else); without an idempotency key a message is SPICO's own."""
    await _known_conversation(store)
    async with store.transaction() as session:
        await preferences.set_conversation_choice(session, "c1", "82", MailChoice.STOP)
    client = cast(SpicoClient, None)
    await FanOut(store, client, BY_MAIL, BOTH).handle_batch([_posted(2, idempotency_key=None)])
    matrix_only = RoutingPolicy(frozenset({World.MATRIX}))
    await FanOut(store, client, BY_MAIL, matrix_only).handle_batch([_posted(3)])
    assert await _deliveries(store) == [(2, "matrix", "message"), (3, "matrix", "message")]


@contextlib.contextmanager
def _reads_of(tables: tuple[str, ...]) -> Iterator[list[str]]:
    """The SELECTs from ``tables`` that run meanwhile, on any engine."""
    reads: list[str] = []

    def capture(_c: object, _cursor: object, statement: str, *_: object) -> None:
        head = statement.split("WHERE")[0]
        if head.lstrip().upper().startswith("SELECT") and any(
            f"FROM {table}" in head for table in tables
        ):
            reads.append(statement)

    sqla_event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield reads
    finally:
        sqla_event.remove(Engine, "before_cursor_execute", capture)


async def test_a_live_conversation_is_read_from_the_store_once(store: Store) -> None:
    """The fan-out remembers the snapshots it committed or read (it is their only writer): the
    messages after the first do not read their conversation again, and route the same."""
    await _known_conversation(store)
    fanout = FanOut(store, cast(SpicoClient, None), BY_MAIL, BOTH)
    with _reads_of(("conversations",)) as reads:
        await fanout.handle_batch([_posted(2)])
        first = len(reads)
        await fanout.handle_batch([_posted(3)])
        await fanout.handle_batch([_posted(4), _posted(5)])
    # The first batch: is the conversation known (before the unit), then its snapshot.
    assert first == 2, "\n".join(reads)
    assert len(reads) == first, "read once"
    expected = [(seq, world, "message") for seq in range(2, 6) for world in ("mail", "matrix")]
    assert await _deliveries(store) == expected


async def test_the_members_own_choices_are_read_for_every_batch(store: Store) -> None:
    """Directory rows are not remembered: they carry the member's own link and mail preference,
    which a command changes from any process; the next message routes on the new choice."""
    async with store.transaction() as session:
        await repo.in_session(session, repo.save_conversation, BASE)
        for spico_id in ("81", "82"):
            address = f"dr{spico_id}@sandbox.mssante.fr"
            row = repo.ProfessionalRow(spico_id, "Dr", "A", "B", None, address, "active", True)
            await repo.in_session(session, repo.save_professional, row)
    fanout = FanOut(store, cast(SpicoClient, None), {}, BOTH)
    await fanout.handle_batch([_posted(2)])
    async with store.transaction() as session:  # as another process would
        await preferences.set_member_preference(session, "82", preferences.ALL)
    await fanout.handle_batch([_posted(3)])
    assert await _deliveries(store) == [
        (2, "matrix", "message"),
        (3, "mail", "message"),
        (3, "matrix", "message"),
    ]


async def test_what_the_fanout_remembers_follows_its_own_writes(store: Store) -> None:
    """A member added, a subject changed: the snapshot the fan-out remembers is the one it
    stored."""
    await _known_conversation(store)
    async with store.transaction() as session:
        row = repo.ProfessionalRow("83", "Dr", "C", "D", None, None, "active", True)
        await repo.in_session(session, repo.save_professional, row)
    fanout = FanOut(store, cast(SpicoClient, None), {}, RoutingPolicy(frozenset({World.MATRIX})))
    await fanout.handle_batch([_posted(2)])
    await fanout.handle_batch([_event(3, "member.added", member_id="83")])
    await fanout.handle_batch([_event(4, "conversation.updated", subject="Nouveau")])
    async with store.transaction() as session:
        snapshot = await repo.get_conversation(session, "c1")
    assert snapshot is not None and snapshot.members == ("81", "82", "83")
    assert snapshot.subject == "Nouveau" and snapshot.last_seq == 4
    assert fanout._remembered.snapshots(["c1"])[0] == {"c1": snapshot}


async def test_a_failed_unit_of_work_forgets_everything_remembered(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit that failed may have committed or not: what the fan-out remembers goes, and the
    next batch reads the store again."""
    await _known_conversation(store)
    fanout = FanOut(store, cast(SpicoClient, None), BY_MAIL, BOTH)
    await fanout.handle_batch([_posted(2)])
    run = store.run

    async def failing(work: Any, **options: Any) -> Any:
        monkeypatch.setattr(store, "run", run)
        raise ConnectionError("the database went away")

    monkeypatch.setattr(store, "run", failing)
    with pytest.raises(ConnectionError):
        await fanout.handle_batch([_posted(3)])
    with _reads_of(("conversations", "professionals")) as reads:
        await fanout.handle_batch([_posted(3)])
    assert len(reads) == 2, reads
    assert len(await _deliveries(store)) == 4
