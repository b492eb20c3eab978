"""The Matrix sink: portal rooms, their state and members, messages and files.

Unit tests run the sink on a real SQLite store against an in-memory homeserver
(``tests.fakes.FakeHomeserver``) behind the bridge's real ``MatrixClient``. The last test runs
against the real Synapse: a delivery repeated after a restart posts nothing twice, even when the
bridge died between sending and recording (Synapse keeps the device's transaction ids, and the
bot always logs in with the same device)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from bridge.core.delivery import (
    Attachment,
    DeliveryJob,
    InboundMessage,
    PermanentFailure,
    PostResult,
    RetryLater,
    RetryPolicy,
)
from bridge.core.model import DeliveryKind, Name, Participant, Status, World
from bridge.core.views import message_view
from bridge.hub.outbox import OutboxWorkers
from bridge.matrix.client import MatrixClient
from bridge.matrix.localserver import Synapse
from bridge.matrix.portal_state import CONVERSATION_STATE
from bridge.matrix.sink import MatrixSink, PortalSettings
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.models import Delivery, MatrixEventLink, MatrixUnread
from bridge.store.repositories import Store
from tests.fakes import FakeComposer, FakeHomeserver, FakePoster, conversation_of, matrix_client
from tests.fixtures.sqlite import count_units, empty_store
from tests.fixtures.synapse import MatrixUsers
from tests.fixtures.worlds import timeline

BOT = "@bot:test"
DOCTOR, ALICE, BOB = "810000000009", "810000000017", "810000000025"
USERS = {ALICE: "@alice:test", BOB: "@bob:test"}
PATIENT = {"id": "pat-00001", "first_name": "Jeanne", "last_name": "Dupuis"}


def _settings(**changes: Any) -> PortalSettings:
    values: dict[str, Any] = {
        "bot_user_id": BOT,
        "server_name": "test",
        "federate": False,
        "encryption": False,
        "patient_spaces": False,
        "tag_policy": "initials",
        "language": "fr",
    }
    values.update(changes)
    return PortalSettings(**values)


def _conversation(
    members: tuple[str, ...] = (DOCTOR, ALICE), subject: str = "Suivi de plaie", **extra: Any
) -> dict[str, Any]:
    return {"id": "conv_1", "subject": subject, "members": list(members), **extra}


#: The directory of the ``portals`` fixture: (SPICO id, first name, last name, status).
DIRECTORY = (
    (DOCTOR, "Jean", "Dupont", "online"),
    (ALICE, "Alice", "Bernard", "active"),
    (BOB, "Bob", "Petit", "active"),
)


def _participant(spico_id: str) -> Participant:
    """A professional as the hub reads them with the job: mapping, status and name."""
    for known, first, last, status in DIRECTORY:
        if known == spico_id:
            name = Name("Dr", first, last, "Médecin généraliste")
            return Participant(spico_id, USERS.get(spico_id), status=Status(status), name=name)
    return Participant(spico_id, USERS.get(spico_id))


def _job(
    kind: DeliveryKind,
    seq: int,
    conversation: dict[str, Any] | None,
    message: dict[str, Any] | None = None,
) -> DeliveryJob:
    members = (conversation or {}).get("members") or []
    writers = (message or {}).get("author_id"), (message or {}).get("sent_by")
    return DeliveryJob(
        delivery_id=seq,
        world=World.MATRIX,
        destination="conv_1",
        kind=kind,
        attempt=1,
        event_seq=seq,
        event_type="message.posted" if message else "conversation.updated",
        conversation_id="conv_1",
        message=message_view(message),
        conversation=conversation_of(conversation),
        participants={m: _participant(m) for m in members},
        authors={w: _participant(w) for w in writers if w},
    )


def _message(seq: int, body: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"msg-{seq}", "author_id": DOCTOR, "body": body, "kind": "message", **fields}


@dataclass
class Portals:
    homeserver: FakeHomeserver
    client: MatrixClient
    store: Store
    poster: FakePoster
    sink: MatrixSink

    async def deliver(self, job: DeliveryJob) -> None:
        await self.sink.deliver(job)

    async def portal(self) -> str:
        async with self.store.transaction() as session:
            found = await matrix_repo.get_portal(session, "conv_1")
        assert found is not None, "no portal recorded"
        return found.room_id

    async def snapshot(self, conversation: dict[str, Any]) -> None:
        async with self.store.transaction() as session:
            await repo.in_session(
                session,
                repo.save_conversation,
                repo.ConversationSnapshot(
                    id=conversation["id"],
                    subject=conversation["subject"],
                    created_by=DOCTOR,
                    members=tuple(conversation["members"]),
                    patient=conversation.get("patient"),
                    last_seq=1,
                ),
            )

    def state(self, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        return self.homeserver.room(room_id).state


@pytest.fixture
async def portals(sqlite_store: Store) -> AsyncIterator[Portals]:
    homeserver = FakeHomeserver(BOT)
    client = matrix_client(homeserver)
    poster = FakePoster()
    sink = MatrixSink(client, sqlite_store, _settings(), poster, lambda: USERS)
    async with sqlite_store.transaction() as session:
        for spico_id, first, last, status in DIRECTORY:
            await repo.in_session(
                session,
                repo.save_professional,
                repo.ProfessionalRow(
                    id=spico_id,
                    civility="Dr",
                    first_name=first,
                    last_name=last,
                    profession="Médecin généraliste",
                    mssante_address=None,
                    status=status,
                    has_account=True,
                ),
            )
    yield Portals(homeserver, client, sqlite_store, poster, sink)
    await client.close()


# --- portal rooms ----------------------------------------------------------------------------


async def test_a_conversation_gets_one_closed_portal_room_with_its_members_invited(
    portals: Portals,
) -> None:
    job = _job(DeliveryKind.STATE, 1, _conversation(patient=PATIENT))
    await portals.deliver(job)
    room_id = await portals.portal()
    assert portals.homeserver.aliases["#spico_conv_1:test"] == room_id
    state = portals.state(room_id)
    assert state[("m.room.name", "")]["name"] == "[J.D.] Suivi de plaie"
    topic = state[("m.room.topic", "")]["topic"]
    assert "Suivi de plaie" in topic and "J.D." in topic and "Dr Alice BERNARD" in topic
    assert "Dupuis" not in topic, "initials only, by default"
    assert state[(CONVERSATION_STATE, "")] == {
        "conversation_id": "conv_1",
        "patient_id": "pat-00001",
        "members": [DOCTOR, ALICE],
    }
    assert state[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert state[("m.room.create", "")]["m.federate"] is False
    levels = state[("m.room.power_levels", "")]
    assert levels["invite"] == 100 and levels["kick"] == 100 and levels["state_default"] == 100
    room = portals.homeserver.room(room_id)
    assert room.membership("@alice:test") == "invite"
    assert room.membership(BOT) == "join"

    # Delivered again (a retry, a restart): nothing changes.
    events = len(room.events)
    await portals.deliver(job)
    await MatrixSink(portals.client, portals.store, _settings(), portals.poster).deliver(job)
    assert len(portals.homeserver.called("room_create")) == 1
    assert len(room.events) == events


async def test_a_room_made_before_a_crash_is_found_again_by_its_alias(
    portals: Portals, migrated_sqlite: Path, tmp_path: Path
) -> None:
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    # A bridge that lost its record of the room (it died between creating and recording it).
    store = await empty_store(migrated_sqlite, tmp_path / "lost.db")
    try:
        sink = MatrixSink(portals.client, store, _settings(), portals.poster)
        await sink.deliver(_job(DeliveryKind.STATE, 2, _conversation(subject="Plaie (J+3)")))
        async with store.transaction() as session:
            portal = await matrix_repo.get_portal(session, "conv_1")
    finally:
        await store.close()
    assert portal is not None and portal.room_id == room_id
    assert len(portals.homeserver.called("room_create")) == 1
    assert portals.state(room_id)[("m.room.name", "")]["name"] == "Plaie (J+3)"


async def test_a_room_made_concurrently_under_the_alias_is_the_one_used(
    portals: Portals, migrated_sqlite: Path, tmp_path: Path
) -> None:
    store = await empty_store(migrated_sqlite, tmp_path / "other.db")
    try:  # another process made the room meanwhile
        other = MatrixSink(portals.client, store, _settings(), portals.poster)
        await other.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    finally:
        await store.close()
    portals.homeserver.refuse("room_resolve_alias", errcode="M_NOT_FOUND", status=404, times=1)
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    assert await portals.portal() == portals.homeserver.aliases["#spico_conv_1:test"]
    assert [r["alias"] for r in portals.homeserver.called("room_create")] == ["spico_conv_1"] * 2


async def test_an_alias_held_by_a_room_that_is_not_ours_is_never_used(portals: Portals) -> None:
    squatted = portals.homeserver.create_room("@squatter:test")
    portals.homeserver.aliases["#spico_conv_1:test"] = squatted
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    assert room_id != squatted
    first, second = portals.homeserver.called("room_create")
    assert first["alias"] == "spico_conv_1" and second["alias"] is None


async def test_the_room_follows_the_conversation(portals: Portals) -> None:
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    room = portals.homeserver.room(room_id)
    portals.homeserver.joins(room_id, "@alice:test")
    portals.homeserver.joins(room_id, "@stranger:test")  # let in by someone else
    async with portals.store.transaction() as session:
        await repo.in_session(session, repo.set_professional_status, ALICE, "absent")

    changed = _conversation((DOCTOR, BOB), subject="Coordination", patient=PATIENT)
    await portals.deliver(_job(DeliveryKind.STATE, 2, changed))
    state = portals.state(room_id)
    assert state[("m.room.name", "")]["name"] == "[J.D.] Coordination"
    assert state[(CONVERSATION_STATE, "")]["patient_id"] == "pat-00001"
    assert room.membership("@bob:test") == "invite"
    assert (
        room.membership("@alice:test") == "leave" and room.membership("@stranger:test") == "leave"
    )
    assert "Dr Alice BERNARD" not in state[("m.room.topic", "")]["topic"]

    await portals.deliver(_job(DeliveryKind.STATE, 3, _conversation((DOCTOR, ALICE, BOB))))
    assert "Dr Alice BERNARD (absent)" in portals.state(room_id)[("m.room.topic", "")]["topic"]
    assert state[("m.room.name", "")]["name"] == "Suivi de plaie"


async def test_patient_spaces_gather_a_patients_rooms_and_their_members(portals: Portals) -> None:
    portals.sink.settings = _settings(patient_spaces=True)
    await portals.snapshot(_conversation(patient=PATIENT))  # what the hub keeps
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation(patient=PATIENT)))
    room_id = await portals.portal()
    async with portals.store.transaction() as session:
        space_id = await matrix_repo.get_space(session, "pat-00001")
    assert space_id is not None
    space = portals.homeserver.room(space_id)
    assert space.state[("m.room.create", "")]["type"] == "m.space"
    assert space.state[("m.space.child", room_id)] == {"via": ["test"]}
    assert space.membership("@alice:test") == "invite"
    assert space.state[("m.room.name", "")]["name"] == "Patient [J.D.]"

    await portals.snapshot(_conversation())
    await portals.deliver(_job(DeliveryKind.STATE, 2, _conversation()))  # unlinked
    assert space.state[("m.space.child", room_id)] == {}
    assert space.membership("@alice:test") == "leave", "no room of this patient left for her"
    assert len(portals.homeserver.called("room_create")) == 2, "one room, one space"


async def test_encryption_is_asked_at_creation_and_added_to_older_rooms(portals: Portals) -> None:
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    assert ("m.room.encryption", "") not in portals.state(room_id)
    portals.sink.settings = _settings(encryption=True)
    await portals.deliver(_job(DeliveryKind.STATE, 2, _conversation(subject="Chiffré")))
    assert portals.state(room_id)[("m.room.encryption", "")]["algorithm"] == (
        "m.megolm.v1.aes-sha2"
    )


# --- messages --------------------------------------------------------------------------------


async def test_a_spico_message_is_posted_once_under_its_authors_name(portals: Portals) -> None:
    job = _job(DeliveryKind.MESSAGE, 5, _conversation(), _message(5, "Premier <b>message</b> & co"))
    await portals.deliver(job)
    room_id = await portals.portal()
    [posted] = portals.homeserver.room(room_id).messages()
    content = posted["content"]
    assert content["body"].startswith("Dr Jean DUPONT — Médecin généraliste\n")
    assert "&lt;b&gt;message&lt;/b&gt; &amp; co" in content["formatted_body"]
    assert posted["sender"] == BOT
    sent = await portals.store.run(
        functools.partial(matrix_repo.find_out_link, spico_message_id="msg-5", room_id=room_id)
    )
    assert sent == posted["event_id"]
    await portals.deliver(job)
    assert len(portals.homeserver.room(room_id).messages()) == 1

    notice = _job(DeliveryKind.MESSAGE, 6, _conversation(), _message(6, "Avis", kind="notice"))
    await portals.deliver(notice)
    last = portals.homeserver.room(room_id).messages()[-1]["content"]
    assert last["msgtype"] == "m.notice" and "Dr Jean DUPONT" not in last["body"]


async def _queue_messages(store: Store, seqs: range, *, same: bool = False) -> None:
    """The doctor's messages ``seqs`` in conv_1, journaled and queued for its portal
    (``same``: every event carries the first one's message)."""
    async with store.transaction() as session:
        for seq in seqs:
            number = seqs[0] if same else seq
            payload = {"data": {"message": _message(number, f"message {number}")}}
            row = repo.JournalRow(seq, "message.posted", "conv_1", DOCTOR, "", payload)
            await repo.in_session(session, repo.record_event, row)
        await repo.in_session(
            session,
            repo.enqueue,
            [repo.NewDelivery(s, "conv_1", "matrix", "conv_1", "message") for s in seqs],
        )


async def _states(store: Store) -> list[tuple[int, str]]:
    async with store.transaction() as session:
        rows = await session.execute(select(Delivery.event_seq, Delivery.state))
    return sorted((seq, state) for seq, state in rows)


async def test_through_the_outbox_a_message_costs_one_unit_besides_the_claim(
    portals: Portals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim reads what the sink would read before sending ("sent already?"): a run of
    messages into a known portal costs the claim's unit and one per message (its event link
    with the delivery's settle); each is posted once, in order, under its author's name."""
    await portals.snapshot(_conversation())
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    await _queue_messages(portals.store, range(2, 5))
    units = count_units(portals.store, monkeypatch)
    workers = OutboxWorkers(portals.store, {World.MATRIX: portals.sink}, {}, RetryPolicy())
    assert await workers.deliver_batch("w") == 3
    assert len(units) == 1 + 3
    posted = [m["content"]["body"] for m in portals.homeserver.room(room_id).messages()]
    assert posted == [f"Dr Jean DUPONT — Médecin généraliste\nmessage {s}" for s in (2, 3, 4)]
    assert await _states(portals.store) == [(2, "done"), (3, "done"), (4, "done")]


async def test_through_the_outbox_a_message_posted_before_a_crash_is_not_posted_again(
    portals: Portals,
) -> None:
    """Posted and linked, its delivery not settled (the bridge died in between): claimed
    again, the claim's read finds the link, and nothing is posted twice."""
    await portals.snapshot(_conversation())
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    await portals.deliver(_job(DeliveryKind.MESSAGE, 2, _conversation(), _message(2, "message 2")))
    await _queue_messages(portals.store, range(2, 4))
    workers = OutboxWorkers(portals.store, {World.MATRIX: portals.sink}, {}, RetryPolicy())
    assert await workers.deliver_batch("w") == 2
    posted = [m["content"]["body"] for m in portals.homeserver.room(room_id).messages()]
    assert [body.rsplit("\n", 1)[-1] for body in posted] == ["message 2", "message 3"]
    assert await _states(portals.store) == [(2, "done"), (3, "done")]


async def test_through_the_outbox_a_message_two_events_carry_is_posted_once(
    portals: Portals,
) -> None:
    """Two deliveries of one SPICO message in one claimed run: the claim cannot know whether
    the first will post it, so the second looks for itself (and finds it posted)."""
    await portals.snapshot(_conversation())
    await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    room_id = await portals.portal()
    await _queue_messages(portals.store, range(2, 4), same=True)
    workers = OutboxWorkers(portals.store, {World.MATRIX: portals.sink}, {}, RetryPolicy())
    assert await workers.deliver_batch("w") == 2
    assert len(portals.homeserver.room(room_id).messages()) == 1
    assert await _states(portals.store) == [(2, "done"), (3, "done")]


async def test_through_the_outbox_each_message_of_a_run_is_unread_from_the_first(
    portals: Portals,
) -> None:
    """Missed messages on: Alice has the run's messages unread from the first one (the claim
    records it for the first; the later ones record theirs just before they are sent)."""
    sink = MatrixSink(
        portals.client, portals.store, _settings(track_unread=True), portals.poster, lambda: USERS
    )
    await portals.snapshot(_conversation())
    await sink.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    await _queue_messages(portals.store, range(2, 5))
    configured = {ALICE: Participant(ALICE, USERS[ALICE])}
    workers = OutboxWorkers(portals.store, {World.MATRIX: sink}, configured, RetryPolicy())
    assert await workers.deliver_batch("w") == 3
    async with portals.store.transaction() as session:
        rows = await session.execute(
            select(MatrixUnread.conversation_id, MatrixUnread.member_id, MatrixUnread.first_seq)
        )
        unread = [tuple(row) for row in rows]
    assert unread == [("conv_1", ALICE, 2)]
    room_id = await portals.portal()
    assert len(portals.homeserver.room(room_id).messages()) == 3


async def test_attachments_become_matrix_media(portals: Portals) -> None:
    portals.poster.files["att-1"] = Attachment("cr.txt", "text/plain", b"compte rendu")
    meta = {"id": "att-1", "filename": "cr.txt", "content_type": "text/plain", "size": 12}
    message = _message(7, "Compte rendu joint", attachments=[meta])
    await portals.deliver(_job(DeliveryKind.MESSAGE, 7, _conversation(), message))
    room_id = await portals.portal()
    text, media = portals.homeserver.room(room_id).messages()
    assert "Compte rendu joint" in text["content"]["body"]
    assert media["content"]["msgtype"] == "m.file" and media["content"]["body"] == "cr.txt"
    assert portals.homeserver.media[media["content"]["url"]][0] == b"compte rendu"


async def test_failures_say_whether_to_retry(portals: Portals) -> None:
    conversation = _conversation()
    await portals.deliver(_job(DeliveryKind.STATE, 1, conversation))
    room_id = await portals.portal()

    portals.homeserver.outage()
    with pytest.raises(RetryLater):
        await portals.deliver(_job(DeliveryKind.MESSAGE, 2, conversation, _message(2, "Un")))
    portals.homeserver.recover()
    portals.homeserver.refuse(
        "room_send", errcode="M_LIMIT_EXCEEDED", status=429, retry_after_ms=2000
    )
    with pytest.raises(RetryLater) as limited:
        await portals.deliver(_job(DeliveryKind.MESSAGE, 2, conversation, _message(2, "Un")))
    assert limited.value.retry_after == 2.0
    portals.homeserver.recover()
    await portals.deliver(_job(DeliveryKind.MESSAGE, 2, conversation, _message(2, "Un")))

    # SPICO down while the file is fetched: the message is tried again, and posted once.
    portals.poster.files["att-1"] = Attachment("cr.txt", "text/plain", b"x")
    meta = {"id": "att-1", "filename": "cr.txt", "content_type": "text/plain", "size": 1}
    job = _job(DeliveryKind.MESSAGE, 3, conversation, _message(3, "Deux", attachments=[meta]))
    portals.poster.outage()
    with pytest.raises(RetryLater):
        await portals.deliver(job)
    portals.poster.recover()
    await portals.deliver(job)
    bodies = [m["content"]["body"] for m in portals.homeserver.room(room_id).messages()]
    assert [b.rsplit("\n", 1)[-1] for b in bodies] == ["Un", "Deux", "cr.txt"]


async def test_a_room_the_homeserver_refuses_is_a_permanent_failure(portals: Portals) -> None:
    portals.homeserver.refuse("room_create")
    with pytest.raises(PermanentFailure):
        await portals.deliver(_job(DeliveryKind.STATE, 1, _conversation()))
    with pytest.raises(PermanentFailure):  # no snapshot: the bridge cannot make the room
        await portals.deliver(_job(DeliveryKind.STATE, 2, None))


async def test_notifications_are_not_for_matrix(portals: Portals) -> None:
    await portals.deliver(_job(DeliveryKind.NOTIFY, 1, _conversation(), _message(1, "x")))
    assert portals.homeserver.requests == []


# --- against Synapse -------------------------------------------------------------------------


class NoPoster:
    composer = FakeComposer()

    async def __call__(self, message: InboundMessage) -> PostResult:
        raise AssertionError("not used")

    async def fetch_attachment(
        self, attachment_id: str, filename: str, content_type: str
    ) -> Attachment:
        raise AssertionError("not used")


def _synapse_job(
    kind: DeliveryKind, seq: int, conversation: dict, member: str, user: str
) -> DeliveryJob:
    message = {"id": f"msg-{seq}", "author_id": member, "body": "une fois", "kind": "message"}
    return DeliveryJob(
        delivery_id=seq,
        world=World.MATRIX,
        destination=conversation["id"],
        kind=kind,
        attempt=1,
        event_seq=seq,
        event_type="message.posted",
        conversation_id=conversation["id"],
        message=message_view(message),
        conversation=conversation_of(conversation),
        participants={member: Participant(member, matrix_user=user)},
    )


async def test_repeated_delivery_after_restart_is_not_duplicated(
    synapse: Synapse, matrix_users: MatrixUsers, tmp_path: Path
) -> None:
    bot, alice = matrix_users.new("bot"), matrix_users.new("alice")
    store = await Store.open(f"sqlite:///{tmp_path / 'sink.db'}")
    settings = PortalSettings(
        bot_user_id=bot.user_id,
        server_name=synapse.server_name,
        federate=False,
        encryption=False,
        patient_spaces=False,
        tag_policy="initials",
        language="fr",
    )
    conversation = {"id": f"conv-sink-{alice.localpart}", "subject": "S", "members": ["81"]}
    job = _synapse_job(DeliveryKind.MESSAGE, 7, conversation, "81", alice.user_id)
    try:
        for _restart in range(2):
            client = MatrixClient(synapse.url, bot.user_id, bot.password, uses_access_token=False)
            try:
                await MatrixSink(client, store, settings, NoPoster()).deliver(job)
            finally:
                await client.close()
            # The bridge "died" before recording what it sent: only Synapse remembers.
            async with store.transaction() as session:
                await session.execute(delete(MatrixEventLink))
        async with store.transaction() as session:
            portal = await matrix_repo.get_portal(session, conversation["id"])
        assert portal is not None
        observer = await matrix_users.login(bot, device_id="OBSERVER")
        bodies = [e["content"]["body"] for e in await timeline(observer, portal.room_id)]
        assert sum("une fois" in b for b in bodies) == 1
    finally:
        await store.close()
