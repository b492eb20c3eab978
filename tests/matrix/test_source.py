"""The sync loop: its pure decisions, and what it does with a batch of events (on a real
SQLite store, against an in-memory homeserver behind the bridge's real ``MatrixClient``, with a
fake hub poster). The full path (Synapse, the sandbox) is in test_portals.py."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from nio import SyncResponse

from bridge.core.delivery import POISON_ATTEMPTS, is_outage
from bridge.core.errors import ServiceUnavailable
from bridge.core.model import World
from bridge.matrix.client import MatrixClient, MatrixError, delivery_error
from bridge.matrix.sink import PortalSettings
from bridge.matrix.source import (
    TRANSPORT_ERRORS,
    MatrixSource,
    only_own_events,
    sync_filter,
)
from bridge.store import commands as commands_repo
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fakes import FakeHomeserver, FakePoster, matrix_client, professional
from tests.fixtures.waiting import eventually

BOT = "@bot:x"


def _sync(senders: list[str], *, limited: bool = False, invite: bool = False) -> SyncResponse:
    events: list[dict[str, Any]] = [
        {
            "type": "m.room.message",
            "sender": sender,
            "event_id": f"$e{number}",
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "x"},
        }
        for number, sender in enumerate(senders)
    ]
    invites = {"!i:x": {"invite_state": {"events": []}}} if invite else {}
    response = SyncResponse.from_dict(
        {
            "next_batch": "s2",
            "rooms": {
                "join": {
                    "!r:x": {
                        "timeline": {"events": events, "limited": limited, "prev_batch": "p"},
                        "state": {"events": []},
                    }
                },
                "invite": invites,
                "leave": {},
            },
        }
    )
    assert isinstance(response, SyncResponse)
    return response


def test_a_batch_of_the_bots_own_echoes_needs_no_handling() -> None:
    assert only_own_events(_sync([BOT, BOT]), BOT)
    assert only_own_events(_sync([]), BOT)


def test_anything_else_is_handled() -> None:
    assert not only_own_events(_sync([BOT, "@alice:x"]), BOT), "someone else spoke"
    assert not only_own_events(_sync([BOT], limited=True), BOT), "a gap to back-fill"
    assert not only_own_events(_sync([], invite=True), BOT), "an invite"


def test_outages_are_told_from_failures_of_the_event() -> None:
    def outage(error: Exception) -> bool:
        return is_outage(error, TRANSPORT_ERRORS)

    assert outage(ServiceUnavailable("SPICO"))
    assert outage(TimeoutError())
    assert outage(aiohttp.ClientConnectionError())
    # What the client raises for a homeserver's error answer.
    assert outage(delivery_error(MatrixError("send", "M_UNKNOWN", 502, "bad gateway")))
    assert outage(delivery_error(MatrixError("send", "M_LIMIT_EXCEEDED", 429, "slow down")))
    assert not outage(delivery_error(MatrixError("send", "M_FORBIDDEN", 403, "no")))
    assert not outage(KeyError("body"))


# --- a batch of events ----------------------------------------------------------------------

DOCTOR, ALICE, OUTSIDER = "810000000009", "810000000017", "810000000025"
USERS = {"@alice:x": ALICE, "@doctor:x": DOCTOR, "@outsider:x": OUTSIDER}
SETTINGS = PortalSettings(
    bot_user_id=BOT,
    server_name="x",
    federate=False,
    encryption=False,
    patient_spaces=False,
    tag_policy="initials",
    language="fr",
)


@dataclass
class Sync:
    """A source on the store, a homeserver with one portal room (members: doctor, alice)."""

    homeserver: FakeHomeserver
    client: MatrixClient
    store: Store
    poster: FakePoster
    source: MatrixSource
    room: str
    since: str = "s0"

    async def batch(self) -> SyncResponse:
        """What happened since the last batch."""
        response = await self.client.call("sync", self.homeserver.sync(since=self.since))
        assert isinstance(response, SyncResponse)
        return response

    async def process(self, response: SyncResponse | None = None) -> None:
        """Handle the next batch (or ``response`` again: a batch offered a second time)."""
        response = response or await self.batch()
        await self.source.process(response, self.since)
        self.since = response.next_batch

    def notices(self, event_id: str) -> list[str]:
        return [e["content"]["body"] for e in self.homeserver.replies_to(self.room, event_id)]

    async def handled(self, event_id: str) -> bool:
        return await self.store.run(functools.partial(matrix_repo.event_linked, event_id=event_id))


async def managed(store: Store, room: str) -> dict[str, str]:
    return await store.run(functools.partial(commands_repo.management_rooms, room_ids=[room]))


@pytest.fixture
async def sync(sqlite_store: Store) -> AsyncIterator[Sync]:
    homeserver = FakeHomeserver(BOT, "x")
    client = matrix_client(homeserver)
    room = homeserver.create_room(BOT)
    for user in ("@alice:x", "@doctor:x"):
        homeserver.invites(room, BOT, user)
        homeserver.joins(room, user)
    async with sqlite_store.transaction() as session:
        await matrix_repo.save_portal(session, "conv_1", room)
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("conv_1", "Suivi", DOCTOR, (DOCTOR, ALICE), None, 1),
        )
    poster = FakePoster()
    source = MatrixSource(client, sqlite_store, SETTINGS, poster, lambda: USERS)
    setup = Sync(homeserver, client, sqlite_store, poster, source, room)
    setup.since = (await setup.batch()).next_batch  # from now on
    yield setup
    await client.close()


async def test_a_members_message_is_posted_once_as_its_author(sync: Sync) -> None:
    event_id = sync.homeserver.say(sync.room, "@alice:x", "Réponse depuis Matrix")
    sync.homeserver.say(sync.room, BOT, "Dr Jean DUPONT — Médecin\nUn message de SPICO")
    batch = await sync.batch()
    await sync.process(batch)
    await sync.process(batch)  # offered again (a restart before the token was stored)
    [posted] = sync.poster.posted
    assert posted.world is World.MATRIX and posted.source_id == event_id
    assert (posted.conversation_id, posted.origin) == ("conv_1", "conv_1")
    assert (posted.author_id, posted.acting_as, posted.body) == (
        ALICE,
        ALICE,
        "Réponse depuis Matrix",
    )
    assert len(sync.poster.attempts) == 1, "the bot's own messages are never relayed"
    assert await sync.handled(event_id)
    assert sync.notices(event_id) == []


async def test_a_message_goes_out_as_the_account_the_user_acts_as(sync: Sync) -> None:
    sync.poster.composer.add(
        professional(ALICE, "Mme Alice MARTIN"), professional(DOCTOR, "Dr Jean DUPONT")
    )
    sync.poster.composer.delegations_of[ALICE] = [DOCTOR]
    async with sync.store.transaction() as session:
        await commands_repo.save_state(
            session, commands_repo.CommandStateRow("@alice:x", ALICE, DOCTOR, "Dr Jean DUPONT")
        )
    sync.homeserver.say(sync.room, "@alice:x", "Au nom du docteur")
    await sync.process()
    [posted] = sync.poster.posted
    assert (posted.author_id, posted.acting_as) == (ALICE, DOCTOR)

    # The delegation is withdrawn in SPICO: the next message is not posted (it was meant to
    # go out as the doctor), alice is told and is back in her own name.
    sync.poster.composer.delegations_of[ALICE] = []
    event_id = sync.homeserver.say(sync.room, "@alice:x", "Encore au nom du docteur")
    await sync.process()
    assert len(sync.poster.posted) == 1
    [notice] = sync.notices(event_id)
    assert "Message non transmis" in notice and "Dr Jean DUPONT" in notice
    async with sync.store.transaction() as session:
        assert await commands_repo.acting_as(session, "@alice:x", ALICE) is None


async def test_a_file_is_posted_with_its_bytes(sync: Sync) -> None:
    url = sync.homeserver.upload_media(b"%PDF-1.4", "application/pdf", "cr.pdf")
    sync.homeserver.say(
        sync.room,
        "@alice:x",
        "cr.pdf",
        msgtype="m.file",
        url=url,
        info={"mimetype": "application/pdf", "size": 8},
    )
    await sync.process()
    [posted] = sync.poster.posted
    assert posted.body == "cr.pdf"
    assert [(a.filename, a.content_type, a.data) for a in posted.attachments] == [
        ("cr.pdf", "application/pdf", b"%PDF-1.4")
    ]


async def test_a_spico_refusal_is_answered_in_the_room(sync: Sync) -> None:
    sync.poster.refuse("not_a_member", "You are not a member of this conversation.")
    event_id = sync.homeserver.say(sync.room, "@alice:x", "Refusé")
    await sync.process()
    [notice] = sync.notices(event_id)
    assert "refusé par SPICO" in notice and "ne participe pas" in notice
    assert sync.poster.posted == [] and await sync.handled(event_id)


async def test_strangers_are_removed_and_their_messages_never_relayed(sync: Sync) -> None:
    sync.homeserver.joins(sync.room, "@stranger:x")  # let in by someone else
    said = sync.homeserver.say(sync.room, "@stranger:x", "Je ne devrais pas être là")
    sync.homeserver.joins(sync.room, "@outsider:x")  # mapped, but not a member
    outsider = sync.homeserver.say(sync.room, "@outsider:x", "Moi non plus")
    edited = sync.homeserver.say(
        sync.room,
        "@alice:x",
        "* corrigé",
        **{"m.new_content": {"msgtype": "m.text", "body": "corrigé"}},
        **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}},
    )
    await sync.process()
    room = sync.homeserver.room(sync.room)
    assert room.membership("@stranger:x") == "leave" and room.membership("@outsider:x") == "leave"
    assert room.membership("@alice:x") == "join"
    [unmapped] = sync.notices(said)
    assert "aucun professionnel SPICO" in unmapped
    [not_member] = sync.notices(outsider)
    assert "pas participant de cette conversation" in not_member
    [edit] = sync.notices(edited)
    assert "Modification non transmise" in edit
    assert sync.poster.posted == []


async def test_spico_down_leaves_the_batch_to_be_offered_again(sync: Sync) -> None:
    event_id = sync.homeserver.say(sync.room, "@alice:x", "Pendant la panne")
    batch = await sync.batch()
    sync.poster.outage()
    for _ in range(POISON_ATTEMPTS + 1):  # an outage is never set aside, however long
        with pytest.raises(ServiceUnavailable):
            await sync.source.process(batch, sync.since)
    assert not await sync.handled(event_id)
    sync.poster.recover()
    await sync.process(batch)
    assert [m.body for m in sync.poster.posted] == ["Pendant la panne"]
    assert sync.notices(event_id) == []


async def test_an_event_that_keeps_failing_is_set_aside_and_the_room_goes_on(sync: Sync) -> None:
    sync.poster.fail(KeyError("a bug"), lambda message: message.body == "Poison")
    poison = sync.homeserver.say(sync.room, "@alice:x", "Poison")
    sync.homeserver.say(sync.room, "@alice:x", "Après")
    batch = await sync.batch()
    for _ in range(POISON_ATTEMPTS - 1):
        with pytest.raises(KeyError):
            await sync.source.process(batch, sync.since)
    await sync.process(batch)
    assert [m.body for m in sync.poster.posted] == ["Après"]
    [notice] = sync.notices(poison)
    assert "n'a pas pu traiter" in notice
    assert await sync.handled(poison)


async def test_a_command_in_a_portal_room_is_answered_not_relayed(sync: Sync) -> None:
    sync.poster.composer.add_conversation("conv_1", DOCTOR, ALICE)
    asked = sync.homeserver.say(sync.room, "@alice:x", "!spico membres")
    stranger = sync.homeserver.say(sync.room, "@outsider:x", "!spico membres")
    await sync.process()
    [answer] = sync.notices(asked)
    assert answer.startswith("Agir en tant que : ") and "@doctor:x" in answer
    [refused] = sync.notices(stranger)
    assert "pas participant" in refused
    assert sync.poster.posted == []


# --- management rooms ------------------------------------------------------------------------


async def test_a_mapped_users_invitation_makes_a_management_room(sync: Sync) -> None:
    room = sync.homeserver.create_room("@alice:x", invite=[BOT])
    await sync.process()
    assert sync.homeserver.room(room).membership(BOT) == "join"
    [welcome] = [e["content"]["body"] for e in sync.homeserver.room(room).messages()]
    assert "Je suis le pont SPICO" in welcome
    assert await managed(sync.store, room) == {room: "@alice:x"}

    asked = sync.homeserver.say(room, "@alice:x", "aide")
    await sync.process()
    [answer] = [e["content"]["body"] for e in sync.homeserver.replies_to(room, asked)]
    assert answer.startswith("Agir en tant que : ") and "recherche" in answer

    # Someone else comes in: the room is no longer private, the bot gives it up.
    sync.homeserver.invites(room, "@alice:x", "@doctor:x")
    await sync.process()
    assert "n'est plus privé" in sync.homeserver.room(room).messages()[-1]["content"]["body"]
    assert sync.homeserver.room(room).membership(BOT) == "leave"
    assert await managed(sync.store, room) == {}


async def test_an_unmapped_users_invitation_is_rejected_without_a_word(sync: Sync) -> None:
    room = sync.homeserver.create_room("@eve:x", invite=[BOT])
    await sync.process()
    assert sync.homeserver.room(room).membership(BOT) == "leave"
    assert sync.homeserver.room(room).messages() == []
    assert await managed(sync.store, room) == {}


# --- the loop --------------------------------------------------------------------------------


async def test_the_first_start_reads_no_history_and_a_restart_resumes_where_it_stopped(
    sync: Sync,
) -> None:
    sync.homeserver.say(sync.room, "@alice:x", "Avant le pont")
    management = sync.homeserver.create_room("@alice:x", invite=[BOT])  # waiting from before

    async def running() -> tuple[asyncio.Event, asyncio.Task[None]]:
        source = MatrixSource(sync.client, sync.store, SETTINGS, sync.poster, lambda: USERS)
        stop = asyncio.Event()
        task = asyncio.create_task(source.run(stop))
        await eventually(source.synced.is_set, "the first sync")
        return stop, task

    stop, task = await running()
    await eventually(lambda: sync.homeserver.room(management).messages(), "the welcome")
    sync.homeserver.say(sync.room, "@alice:x", "Après")
    await eventually(lambda: sync.poster.posted, "the message posted")
    stop.set()
    await asyncio.wait_for(task, 5)
    async with sync.store.transaction() as session:
        assert await repo.in_session(session, repo.get_cursor, "matrix:sync") is not None

    sync.homeserver.say(sync.room, "@alice:x", "Pendant l'arrêt")
    stop, task = await running()
    await eventually(lambda: len(sync.poster.posted) == 2, "the message said while stopped")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [m.body for m in sync.poster.posted] == ["Après", "Pendant l'arrêt"]
    assert len(sync.homeserver.room(management).messages()) == 1, "welcomed once"


async def _live_sync_filters(sync: Sync) -> list[object]:
    """The filters of the syncs a running source makes until a message is relayed."""
    source = MatrixSource(sync.client, sync.store, SETTINGS, sync.poster, lambda: USERS)
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    await eventually(source.synced.is_set, "the first sync")
    sync.homeserver.say(sync.room, "@alice:x", "Après")
    await eventually(lambda: sync.poster.posted, "the message posted")
    stop.set()
    await asyncio.wait_for(task, 5)
    return [call["sync_filter"] for call in sync.homeserver.called("sync")]


async def test_live_syncs_name_the_filter_uploaded_once(sync: Sync) -> None:
    filters = await _live_sync_filters(sync)
    [filter_id] = sync.homeserver.filters
    assert sync.homeserver.filters[filter_id] == sync_filter()
    first, *live = filters[1:]  # the fixture's own sync, then the source's
    assert first == sync_filter(first=True)
    assert live and all(f == filter_id for f in live)
    assert [m.body for m in sync.poster.posted] == ["Après"]


async def test_a_filter_the_homeserver_refuses_goes_inline_with_each_sync(sync: Sync) -> None:
    sync.homeserver.refuse("upload_filter", errcode="M_UNKNOWN", status=500)
    filters = await _live_sync_filters(sync)
    assert not sync.homeserver.filters
    assert len(sync.homeserver.called("upload_filter")) == 1, "tried once per run"
    live = filters[2:]
    assert live and all(f == sync_filter() for f in live)
    assert [m.body for m in sync.poster.posted] == ["Après"]


async def _running(sync: Sync, echo_pause: float) -> tuple[asyncio.Event, asyncio.Task[None]]:
    source = MatrixSource(
        sync.client, sync.store, SETTINGS, sync.poster, lambda: USERS, echo_pause=echo_pause
    )
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    await eventually(source.synced.is_set, "the first sync")
    return stop, task


async def test_after_a_batch_of_its_own_echoes_the_bot_lets_the_next_ones_gather(
    sync: Sync,
) -> None:
    """A batch holding only the bot's own messages (it is posting) is followed by a pause before
    the next sync; a member's message said meanwhile waits for it, and stopping cuts it short."""
    stop, task = await _running(sync, echo_pause=60)
    sync.homeserver.say(sync.room, BOT, "Dr Jean DUPONT — Médecin\nUn message de SPICO")
    echoed = len(sync.homeserver.called("sync"))
    await asyncio.sleep(0.5)  # the echo's sync (the fake's long poll: 0.05 s), then the pause
    syncs = len(sync.homeserver.called("sync"))
    assert echoed <= syncs <= echoed + 2
    sync.homeserver.say(sync.room, "@alice:x", "Pendant la pause")
    await asyncio.sleep(0.5)
    assert len(sync.homeserver.called("sync")) == syncs, "no sync during the pause"
    assert sync.poster.posted == []
    stop.set()
    await asyncio.wait_for(task, 5)  # the pause ends with the stop, not after 60 s


async def test_any_other_batch_is_followed_at_once(sync: Sync) -> None:
    """Empty long polls and members' messages are not echoes: no pause after them."""
    stop, task = await _running(sync, echo_pause=60)
    await asyncio.sleep(0.3)  # a few empty long polls
    sync.homeserver.say(sync.room, "@alice:x", "Un")
    await eventually(lambda: len(sync.poster.posted) == 1, "the first message posted")
    sync.homeserver.say(sync.room, "@alice:x", "Deux")
    sync.homeserver.say(sync.room, BOT, "Un message de SPICO")  # with a member's: not quiet
    await eventually(lambda: len(sync.poster.posted) == 2, "the second message posted")
    sync.homeserver.say(sync.room, "@alice:x", "Trois")
    await eventually(lambda: len(sync.poster.posted) == 3, "the third message posted")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [m.body for m in sync.poster.posted] == ["Un", "Deux", "Trois"]


async def test_a_failing_sync_is_tried_again_after_a_back_off_that_stopping_cuts_short(
    sync: Sync,
) -> None:
    stop, task = await _running(sync, echo_pause=60)
    sync.homeserver.refuse("sync", errcode="M_UNKNOWN", status=500)
    before = len(sync.homeserver.called("sync"))
    await asyncio.sleep(1.5)  # back-offs of 1 s, then 2 s: a few tries, not one per long poll
    assert 1 <= len(sync.homeserver.called("sync")) - before <= 3
    stop.set()
    await asyncio.wait_for(task, 0.9)  # within the 2 s back-off under way
    sync.homeserver.recover()


def test_receipt_readers_are_the_users_of_read_receipts_only() -> None:
    from bridge.matrix.source import receipt_readers

    content = {
        "$a": {"m.read": {"@x:s": {"ts": 1}}, "m.read.private": {"@y:s": {"ts": 2}}},
        "$b": {"m.fully_read": {"@z:s": {}}, "m.read": "not a mapping"},
        "$c": "not a mapping",
    }
    assert receipt_readers(content) == {"@x:s", "@y:s"}
    assert receipt_readers(None) == set() and receipt_readers([]) == set()
