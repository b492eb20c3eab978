"""Appservice mode against a real Synapse that loads the bridge's registration: each SPICO
professional speaks as their own ghost (named from the directory, present as their status
says), the bot alone rules the room, and the homeserver's transactions are journaled before
they are acknowledged (a replay is handled once; a bridge killed before journaling loses
nothing: the homeserver sends the transaction again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from nio import AsyncClient, PresenceGetResponse, RoomGetStateResponse
from sqlalchemy import func, select

from bridge.matrix.formatting import ghost_display_name
from bridge.matrix.sink import person_of
from bridge.spico.client import SpicoClient
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.models import AppserviceTransaction
from bridge.store.repositories import Store
from tests.fixtures.bridge import BridgeProcess, scenario_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import AppserviceSynapse, MatrixUser, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    SPICO_CURSOR,
    InProcessBridge,
    join_when_invited,
    timeline,
)


@dataclass
class Setup:
    config_path: Path
    alice: MatrixUser  # mapped to a
    a: str
    b: str
    server: AppserviceSynapse
    #: Starts the conversations.
    doctor: str

    def ghost(self, spico_id: str) -> str:
        return f"@spico_{spico_id.lower()}:{self.server.synapse.server_name}"


@pytest.fixture
async def as_matrix_users(appservice_synapse: AppserviceSynapse) -> AsyncIterator[MatrixUsers]:
    users = MatrixUsers(appservice_synapse.synapse)
    try:
        yield users
    finally:
        for client in users.clients:
            await client.close()


@pytest.fixture
def setup(
    appservice_synapse: AppserviceSynapse,
    spico_sandbox: SandboxProcess,
    personas: Personas,
    as_matrix_users: MatrixUsers,
    tmp_path: Path,
) -> Setup:
    alice = as_matrix_users.new("alice")
    a, b = personas.colleagues[20], personas.colleagues[21]
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [{"spico_id": a, "matrix_user": alice.user_id}],
        matrix=appservice_synapse.matrix_section(),
    )
    return Setup(path, alice, a, b, appservice_synapse, personas.doctor)


@pytest.fixture
async def bridge(setup: Setup) -> AsyncIterator[InProcessBridge]:
    running = InProcessBridge(setup.config_path, cursors=(SPICO_CURSOR,))
    try:
        await running.start()
        yield running
    finally:
        await running.close()


#: (members, subject, first message) → (conversation, room, alice's client).
PortalWithAlice = Callable[[list[str], str, str], Awaitable[tuple[str, str, AsyncClient]]]


@pytest.fixture
def portal_with_alice(
    setup: Setup,
    bridge: InProcessBridge,
    spico_client: SpicoClient,
    as_matrix_users: MatrixUsers,
) -> PortalWithAlice:
    """A conversation the doctor starts, its portal, and alice in it."""
    doctor = setup.doctor

    async def portal(
        members: list[str], subject: str, message: str
    ) -> tuple[str, str, AsyncClient]:
        created = await open_conversation(spico_client, doctor, members, subject, message)
        room_id = await bridge.portal(created.conversation.id)
        alice = await as_matrix_users.login(setup.alice)
        await join_when_invited(alice, room_id, setup.alice.user_id)
        return created.conversation.id, room_id, alice

    return portal


async def _state(client: Any, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = await client.room_get_state(room_id)
    assert isinstance(response, RoomGetStateResponse), response
    return {(e["type"], e.get("state_key", "")): e["content"] for e in response.events}


async def test_each_professional_speaks_as_their_ghost(
    setup: Setup,
    bridge: InProcessBridge,
    spico_client: SpicoClient,
    portal_with_alice: PortalWithAlice,
) -> None:
    doctor = setup.doctor
    conversation, room_id, alice = await portal_with_alice(
        [setup.a, setup.b], "Fantômes", "Bonjour de la part du médecin"
    )
    await spico_client.post_message(
        conversation,
        on_behalf_of=setup.b,
        acting_as=setup.b,
        body="Réponse de B",
        idempotency_key=f"as-b-{conversation}",
    )

    async def both() -> list[dict[str, Any]] | None:
        events = await timeline(alice, room_id)
        bodies = [e["content"]["body"] for e in events]
        return events if "Réponse de B" in bodies and any("médecin" in x for x in bodies) else None

    events = await eventually(both, "both SPICO messages in the room")
    senders = {e["content"]["body"]: e["sender"] for e in events}
    # One Matrix user per sender, and no header: the sender says who wrote it.
    assert senders["Bonjour de la part du médecin"] == setup.ghost(doctor)
    assert senders["Réponse de B"] == setup.ghost(setup.b)
    state = await _state(alice, room_id)
    async with bridge.store.transaction() as session:
        rows = await repo.in_session(session, repo.get_professionals, [doctor, setup.b])
    for spico_id in (doctor, setup.b):
        member = state[("m.room.member", setup.ghost(spico_id))]
        assert member["membership"] == "join"
        name = ghost_display_name(person_of(spico_id, rows.get(spico_id)))
        assert member["displayname"] == name and name.endswith(")"), name
    # The bot alone ranks; the ghosts are plain members.
    levels = state[("m.room.power_levels", "")]
    assert set(levels.get("users", {})) <= {setup.server.bot_user_id}
    assert state[("m.bridge", f"fr.spico.bridge://spico/{conversation}")]["protocol"]["id"] == (
        "spico"
    )

    # Alice writes from Matrix: posted as A in SPICO, not echoed back by A's ghost.
    sent = await alice.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "Depuis Matrix"}
    )
    assert sent.event_id  # type: ignore[union-attr]

    async def in_spico() -> list[Any]:
        return [
            m for m in await spico_client.list_messages(conversation) if m.body == "Depuis Matrix"
        ]

    posted = await eventually(in_spico, "alice's message in SPICO")
    assert len(posted) == 1 and posted[0].author_id == setup.a

    # Presence follows SPICO statuses.
    await spico_client.set_status(setup.b, "absent")

    async def offline() -> bool:
        got = await alice.get_presence(setup.ghost(setup.b))
        return (
            isinstance(got, PresenceGetResponse)
            and got.presence == "offline"
            and (got.status_msg == "absent")
        )

    await eventually(offline, "B's ghost offline with the status")
    await spico_client.set_status(setup.b, "online")

    async def online() -> bool:
        got = await alice.get_presence(setup.ghost(setup.b))
        return isinstance(got, PresenceGetResponse) and got.presence == "online"

    await eventually(online, "B's ghost online again")
    echoes = [e for e in await timeline(alice, room_id) if e["content"]["body"] == "Depuis Matrix"]
    assert [e["sender"] for e in echoes] == [setup.alice.user_id]


async def test_a_replayed_transaction_is_handled_once(
    setup: Setup,
    bridge: InProcessBridge,
    spico_client: SpicoClient,
    portal_with_alice: PortalWithAlice,
) -> None:
    conversation, room_id, _ = await portal_with_alice([setup.a], "Rejeu", "x")
    hs_token = (setup.server.secrets / "hs-token").read_text()
    url = f"http://127.0.0.1:{setup.server.listen_port}/_matrix/app/v1/transactions/replay-1"

    def pushed(event_id: str, body: str) -> dict[str, Any]:
        return {
            "events": [
                {
                    "type": "m.room.message",
                    "room_id": room_id,
                    "sender": setup.alice.user_id,
                    "event_id": event_id,
                    "origin_server_ts": 1,
                    "content": {"msgtype": "m.text", "body": body},
                }
            ]
        }

    async with aiohttp.ClientSession() as http:
        wrong = await http.put(url, json=pushed("$w", "x"), headers={"Authorization": "Bearer no"})
        assert wrong.status == 403
        missing = await http.put(url, json=pushed("$w", "x"))
        assert missing.status == 401
        headers = {"Authorization": f"Bearer {hs_token}"}
        first = await http.put(url, json=pushed("$replay-1", "Une fois"), headers=headers)
        assert first.status == 200 and await first.json() == {}
        # The homeserver sends the same transaction again (it never saw the answer).
        again = await http.put(url, json=pushed("$replay-2", "Deux fois"), headers=headers)
        assert again.status == 200

    async def handled() -> list[Any]:
        return [m for m in await spico_client.list_messages(conversation) if m.body == "Une fois"]

    assert len(await eventually(handled, "the pushed message in SPICO")) == 1
    async with bridge.store.transaction() as session:
        count = await session.scalar(
            select(func.count()).where(AppserviceTransaction.txn_id == "replay-1")
        )
    assert count == 1
    bodies = [m.body for m in await spico_client.list_messages(conversation)]
    assert "Deux fois" not in bodies and bodies.count("Une fois") == 1


async def test_a_kill_between_receiving_and_journaling_loses_nothing(
    setup: Setup,
    spico_client: SpicoClient,
    as_matrix_users: MatrixUsers,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    """The bridge holds a pushed transaction before journaling it (a test-only switch) and is
    killed right there: it never answered, so the homeserver sends the transaction again to
    the restarted bridge, and the message reaches SPICO exactly once."""
    hold = tmp_path / "hold"
    config = yaml.safe_load(setup.config_path.read_text())
    config["testing"] = {"appservice_hold_file": str(hold)}
    setup.config_path.write_text(yaml.safe_dump(config))
    bridge = BridgeProcess(setup.config_path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    created = await open_conversation(
        spico_client, setup.doctor, [setup.a], "Coupure", "Avant la coupure"
    )
    conversation = created.conversation.id
    alice = await as_matrix_users.login(setup.alice)

    async def invited_room() -> str | None:
        store = await Store.open(f"sqlite:///{tmp_path / 'bridge.db'}")
        try:
            async with store.transaction() as session:
                row = await matrix_repo.get_portal(session, conversation)
        finally:
            await store.close()
        return row.room_id if row else None

    room_id = await eventually(invited_room, "the portal room")
    await join_when_invited(alice, room_id, setup.alice.user_id)
    hold.touch()
    holding = "holding a transaction before journaling it"
    before = bridge.tail(10_000).count(holding)
    await alice.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "Pendant la coupure"}
    )

    async def held() -> bool:
        return bridge.tail(10_000).count(holding) > before

    await eventually(held, "the bridge holding the pushed transaction")
    bridge.kill()
    hold.unlink()
    bridge.start()

    async def once() -> list[Any] | None:
        found = [
            m
            for m in await spico_client.list_messages(conversation)
            if m.body == "Pendant la coupure"
        ]
        return found or None

    posted = await eventually(once, "the message sent again by the homeserver", 90)
    assert len(posted) == 1 and posted[0].author_id == setup.a
    # Later traffic still flows and the message is still there once.
    await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "Après"})

    async def after() -> bool:
        return any(m.body == "Après" for m in await spico_client.list_messages(conversation))

    await eventually(after, "a later message")
    bodies = [m.body for m in await spico_client.list_messages(conversation)]
    assert bodies.count("Pendant la coupure") == 1


async def test_a_new_portal_is_back_filled_in_order_by_each_author_at_their_time(
    setup: Setup,
    spico_client: SpicoClient,
    as_matrix_users: MatrixUsers,
) -> None:
    """The conversation and its messages exist before the bridge hears of them (it was
    stopped): the portal it then makes carries the whole history, oldest first, each message
    by its author's ghost at the time SPICO gave it, and none twice."""
    bridge = InProcessBridge(setup.config_path, cursors=(SPICO_CURSOR,))
    try:
        await bridge.start()
        await bridge.stop()
        doctor = setup.doctor
        created = await open_conversation(
            spico_client, doctor, [setup.a, setup.b], "Historique", "Historique 1"
        )
        conversation = created.conversation.id
        for index, author in ((2, setup.b), (3, doctor), (4, setup.b)):
            await spico_client.post_message(
                conversation,
                on_behalf_of=author,
                acting_as=author,
                body=f"Historique {index}",
                idempotency_key=f"hist-{index}-{conversation}",
            )
        await bridge.start()
        room_id = await bridge.portal(conversation)
        alice = await as_matrix_users.login(setup.alice)
        await join_when_invited(alice, room_id, setup.alice.user_id)
        spico = {m.body: m for m in await spico_client.list_messages(conversation)}

        async def all_four() -> list[dict[str, Any]] | None:
            events = [
                e
                for e in await timeline(alice, room_id)
                if e["content"]["body"].startswith("Historique ")
            ]
            return events if len(events) >= 4 else None

        events = await eventually(all_four, "the back-filled history")
        assert [e["content"]["body"] for e in events] == [f"Historique {i}" for i in range(1, 5)]
        for event in events:
            message = spico[event["content"]["body"]]
            assert event["sender"] == setup.ghost(str(message.author_id))
            assert event["origin_server_ts"] == int(message.created_at.timestamp() * 1000)
    finally:
        await bridge.close()


async def test_ghosts_join_and_leave_with_spico_membership(
    setup: Setup,
    spico_client: SpicoClient,
    personas: Personas,
    portal_with_alice: PortalWithAlice,
) -> None:
    doctor = setup.doctor
    conversation, room_id, alice = await portal_with_alice([setup.a], "Entrées", "x")
    other = personas.colleagues[22]

    async def membership_of(user: str) -> str | None:
        member = (await _state(alice, room_id)).get(("m.room.member", user))
        return member.get("membership") if member else None

    await spico_client.add_member(conversation, other, on_behalf_of=doctor, acting_as=doctor)

    async def joined() -> bool:
        return await membership_of(setup.ghost(other)) == "join"

    await eventually(joined, "the new member's ghost in the room")
    await spico_client.remove_member(conversation, other, on_behalf_of=doctor, acting_as=doctor)

    async def left() -> bool:
        return await membership_of(setup.ghost(other)) == "leave"

    await eventually(left, "the removed member's ghost gone")
    assert await membership_of(setup.ghost(doctor)) == "join"
    levels = (await _state(alice, room_id))[("m.room.power_levels", "")]
    assert set(levels.get("users", {})) <= {setup.server.bot_user_id}
