"""The Matrix world against a real Synapse and the SPICO sandbox (bridge in-process): the
end-to-end proof that messages flow both ways, strangers are refused (also after downtime),
a kill mid-burst loses and duplicates nothing, status changes and older conversations reach
their rooms; and the doors of threat-model §2 that need the real server (a squatted alias,
capped files both ways, a SIGHUP remapping members). What each part does alone is unit-tested
against an in-memory homeserver (test_sink.py, test_source.py, test_executor.py).

Each test registers its own bot and users, so it only sees its own rooms. Assertions poll with
deadlines; nothing waits a fixed time.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import (
    AsyncClient,
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomMessagesResponse,
)

from bridge.matrix.localserver import Synapse
from bridge.matrix.portal_state import CONVERSATION_STATE, alias_localpart
from bridge.matrix.sink import PORTAL_ALIAS_PREFIX
from bridge.spico.client import SpicoClient
from bridge.spico.models import NewAttachment
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fixtures.bridge import BridgeProcess, scenario_config, sqlite_url
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUser, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    InProcessBridge,
    join_when_invited,
    matrix_section,
    membership,
    reply_in,
    timeline,
)


@dataclass
class Setup:
    """A bridge config on the sandbox and Synapse; its own bot and users."""

    config_path: Path
    database: str
    bot: MatrixUser
    alice: MatrixUser  # mapped to colleague a
    bob: MatrixUser  # mapped to colleague b
    stranger: MatrixUser  # mapped to nobody
    a: str
    b: str
    users: MatrixUsers


@dataclass
class World(Setup):
    """The setup with its bridge running in-process: start, stop, portal."""

    bridge: InProcessBridge

    @classmethod
    def of(cls, setup: Setup) -> World:
        cursors = (SPICO_CURSOR, MATRIX_CURSOR)
        return cls(**vars(setup), bridge=InProcessBridge(setup.config_path, cursors=cursors))

    @property
    def store(self) -> Store:
        return self.bridge.store

    async def start(self) -> None:
        await self.bridge.start()

    async def stop(self) -> None:
        await self.bridge.stop()

    async def portal(self, conversation_id: str) -> str:
        return await self.bridge.portal(conversation_id)


@pytest.fixture
def setup(
    synapse: Synapse,
    spico_sandbox: SandboxProcess,
    personas: Personas,
    matrix_users: MatrixUsers,
    tmp_path: Path,
) -> Setup:
    bot, alice, bob, stranger = (matrix_users.new(n) for n in ("bot", "alice", "bob", "eve"))
    a, b = personas.colleagues[10], personas.colleagues[11]
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [
            {"spico_id": a, "matrix_user": alice.user_id},
            {"spico_id": b, "matrix_user": bob.user_id},
        ],
        matrix=matrix_section(synapse, bot, tmp_path / "secrets", patient_spaces=True),
    )
    return Setup(path, sqlite_url(tmp_path), bot, alice, bob, stranger, a, b, matrix_users)


@pytest.fixture
async def world(setup: Setup) -> AsyncIterator[World]:
    running = World.of(setup)
    try:
        await running.start()
        yield running
    finally:
        await running.bridge.close()


async def state_of(client: AsyncClient, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = await client.room_get_state(room_id)
    assert isinstance(response, RoomGetStateResponse), response
    return {(e["type"], e.get("state_key", "")): e["content"] for e in response.events}


async def test_messages_flow_both_ways_without_echo(
    world: World, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor = personas.doctor
    created = await open_conversation(
        spico_client,
        doctor,
        [world.a, world.b],
        "Échanges",
        "Premier <b>message</b> & co",
        attachments=[
            NewAttachment(filename="cr.txt", content_type="text/plain", content=b"compte rendu")
        ],
    )
    conversation = created.conversation.id
    room_id = await world.portal(conversation)
    alice = await world.users.login(world.alice)

    async def joined() -> bool:
        await alice.join(room_id)
        return await membership(alice, room_id, world.alice.user_id) == "join"

    await eventually(joined, "alice joining")
    # Synapse made the room as the bridge asked: closed, not federated, the bot alone ranks.
    state = await state_of(alice, room_id)
    assert state[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert state[("m.room.create", "")].get("m.federate") is False
    levels = state[("m.room.power_levels", "")]
    assert levels["invite"] == 100 and levels["kick"] == 100 and levels["state_default"] == 100
    assert set(levels.get("users", {})) <= {world.bot.user_id}, "only the bot ranks above 0"
    # The room says what it bridges (MSC2346 and the twin Element reads).
    for kind in ("m.bridge", "uk.half-shot.bridge"):
        bridged = state[(kind, f"fr.spico.bridge://spico/{conversation}")]
        assert bridged["bridgebot"] == world.bot.user_id
        assert bridged["protocol"]["id"] == "spico"
        assert bridged["channel"]["id"] == conversation

    async def first_message() -> dict[str, Any] | None:
        for event in await timeline(alice, room_id):
            if "Premier" in event["content"].get("body", ""):
                return event
        return None

    event = await eventually(first_message, "the SPICO message in the room")
    assert event["sender"] == world.bot.user_id
    content = event["content"]
    header = content["body"].splitlines()[0]
    assert " — " in header and header.split(" — ")[0].split()[-1].isupper()
    # It came with the new room's history (back-filled from SPICO): the bot cannot date its
    # event, so the header gives the time the message was written.
    assert header.endswith("(UTC)") and " · " in header
    assert "&lt;b&gt;message&lt;/b&gt; &amp; co" in content["formatted_body"]

    async def attachment() -> dict[str, Any] | None:
        for event in await timeline(alice, room_id):
            if event["content"].get("msgtype") == "m.file":
                return event["content"]
        return None

    media = await eventually(attachment, "the attachment as Matrix media")
    assert media["body"] == "cr.txt"
    downloaded = await alice.download(mxc=media["url"])
    assert getattr(downloaded, "body", None) == b"compte rendu"

    sent = await alice.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "Réponse depuis Matrix"}
    )
    event_id = sent.event_id  # type: ignore[union-attr]

    async def in_spico() -> list[Any]:
        messages = await spico_client.list_messages(conversation)
        return [m for m in messages if m.body == "Réponse depuis Matrix"]

    posted = await eventually(in_spico, "alice's message in SPICO")
    assert len(posted) == 1 and posted[0].author_id == world.a
    assert posted[0].idempotency_key == f"matrix:{event_id}"

    later = await spico_client.post_message(
        conversation,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="Barrière",
        idempotency_key=f"barrier-{conversation}",
    )
    assert later.id

    async def barrier() -> list[dict[str, Any]] | None:
        events = await timeline(alice, room_id)
        return events if any("Barrière" in e["content"]["body"] for e in events) else None

    events = await eventually(barrier, "the later SPICO message")
    echoes = [e for e in events if "Réponse depuis Matrix" in e["content"]["body"]]
    assert [e["sender"] for e in echoes] == [world.alice.user_id], "no echo into the room"

    # Statuses are visible in Matrix: `!spico membres` answers, and is not relayed.
    await spico_client.set_status(world.b, "absent")

    async def status_known() -> bool:
        async with world.store.transaction() as session:
            rows = await repo.in_session(session, repo.get_professionals, [world.b])
        return world.b in rows and rows[world.b].status == "absent"

    await eventually(status_known, "the status change reaching the bridge")
    asked = await alice.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "!spico membres"}
    )

    answer = await reply_in(alice, room_id, asked.event_id, "the members list")  # type: ignore[union-attr]
    text = str(answer["content"]["body"])
    assert "absent" in text and world.bob.user_id in text
    assert not any("!spico" in m.body for m in await spico_client.list_messages(conversation))


async def test_stranger_is_removed_and_unmapped_message_refused(
    world: World, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [world.a], "Confidentiel", "Début")
    conversation = created.conversation.id
    room_id = await world.portal(conversation)
    observer = await world.users.login(world.bot, device_id="OBSERVER")
    await eventually(
        lambda: _is(membership(observer, room_id, world.alice.user_id), "invite"), "alice invited"
    )

    # While the bridge is down, a second session of the bot account lets a stranger in, and
    # the stranger speaks: the bridge must catch up on all of it when it is back.
    await world.stop()
    await observer.room_invite(room_id, world.stranger.user_id)
    stranger = await world.users.login(world.stranger)
    await stranger.join(room_id)
    said = await stranger.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "Je ne devrais pas être là"}
    )
    stranger_event = said.event_id  # type: ignore[union-attr]
    await world.start()

    await eventually(
        lambda: _is(membership(observer, room_id, world.stranger.user_id), "leave"),
        "the stranger kicked",
    )

    notice = await reply_in(observer, room_id, stranger_event, "a notice to the unmapped user")
    assert notice["content"]["msgtype"] == "m.notice" and "SPICO" in notice["content"]["body"]

    await spico_client.post_message(
        conversation,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="Après le départ",
        idempotency_key=f"after-{conversation}",
    )

    async def delivered() -> bool:
        return any(
            "Après le départ" in e["content"]["body"] for e in await timeline(observer, room_id)
        )

    await eventually(delivered, "the next message in the room")
    seen = await stranger.room_messages(room_id, start="", limit=200)
    if isinstance(seen, RoomMessagesResponse):
        bodies = [e.source.get("content", {}).get("body", "") for e in seen.chunk]
        assert not any("Après le départ" in b for b in bodies), "the stranger receives nothing"
    messages = await spico_client.list_messages(conversation)
    assert not any("pas être là" in m.body for m in messages), "nothing relayed from them"


async def test_a_status_change_in_spico_shows_in_the_topic(
    world: World, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [world.a], "Statuts", "Début")
    room_id = await world.portal(created.conversation.id)
    observer = await world.users.login(world.bot, device_id="OBSERVER")
    alice = await spico_client.get_professional(world.a)
    name = f"{alice.civility} {alice.first_name} {alice.last_name.upper()}"
    for status, label in (("absent", "absent"), ("online", "en ligne")):
        await spico_client.set_status(world.a, status)

        async def shown(label: str = label) -> bool:
            state = await state_of(observer, room_id)
            return f"{name} ({label})" in state.get(("m.room.topic", ""), {}).get("topic", "")

        await eventually(shown, f"the topic saying alice is {label}")


async def _is(value: Awaitable[str | None], expected: str) -> bool:
    return await value == expected


async def test_no_loss_no_duplicate_across_sigkill_mid_burst(
    setup: Setup,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    bridge = BridgeProcess(setup.config_path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [setup.a], "Rafale", "Début de rafale")
    conversation = created.conversation.id
    store = await Store.open(setup.database)
    try:

        async def portal() -> str | None:
            async with store.transaction() as session:
                row = await matrix_repo.get_portal(session, conversation)
            return row.room_id if row else None

        room_id = await eventually(portal, "the portal room")
    finally:
        await store.close()
    alice = await setup.users.login(setup.alice)

    async def joined() -> bool:
        await alice.join(room_id)
        return await membership(alice, room_id, setup.alice.user_id) == "join"

    await eventually(joined, "alice joining")

    count = 12
    for i in range(count):
        await spico_client.post_message(
            conversation,
            on_behalf_of=doctor,
            acting_as=doctor,
            body=f"spico-{i}",
            idempotency_key=f"burst-{conversation}-{i}",
        )
        await alice.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": f"matrix-{i}"}
        )
        if i == count // 2:
            bridge.kill()
    bridge.start()

    async def all_in_room() -> list[dict[str, Any]] | None:
        events = await timeline(alice, room_id)
        bodies = [e["content"]["body"] for e in events if e["sender"] == setup.bot.user_id]
        done = all(any(b.endswith(f"spico-{i}") for b in bodies) for i in range(count))
        return events if done else None

    async def all_in_spico() -> list[Any] | None:
        messages = await spico_client.list_messages(conversation, limit=500)
        bodies = [m.body for m in messages]
        return messages if all(f"matrix-{i}" in bodies for i in range(count)) else None

    events = await eventually(all_in_room, "every SPICO message in the room")
    messages = await eventually(all_in_spico, "every Matrix message in SPICO")
    from_bot = [e["content"]["body"] for e in events if e["sender"] == setup.bot.user_id]
    for i in range(count):
        assert sum(b.endswith(f"\nspico-{i}") for b in from_bot) == 1, f"spico-{i} once"
        assert [m.body for m in messages].count(f"matrix-{i}") == 1, f"matrix-{i} once"
    assert not any("matrix-" in b for b in from_bot), "no echo of Matrix messages"
    bridge.stop()


async def test_existing_conversations_get_portals_when_asked(
    setup: Setup, spico_client: SpicoClient, personas: Personas
) -> None:
    """``matrix.bridge_existing: all``: a conversation the bridge knew before Matrix was
    enabled gets its room at start."""
    doctor = personas.doctor
    created = await open_conversation(spico_client, doctor, [setup.a], "Antérieure", "Avant Matrix")
    conversation = created.conversation
    data = yaml.safe_load(setup.config_path.read_text(encoding="utf-8"))
    data["matrix"]["bridge_existing"] = "all"
    setup.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    store = await Store.open(setup.database)
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot(
                id=conversation.id,
                subject=conversation.subject,
                created_by=doctor,
                members=tuple(m.id for m in conversation.members),
                patient=None,
                last_seq=0,
            ),
        )
    running = World.of(setup)
    try:
        await running.start()
        room_id = await running.portal(conversation.id)
        observer = await setup.users.login(setup.bot, device_id="OBSERVER")
        await eventually(
            lambda: _is(membership(observer, room_id, setup.alice.user_id), "invite"),
            "the member invited",
        )
        name = (await state_of(observer, room_id))[("m.room.name", "")]["name"]
        assert name == "Antérieure"
    finally:
        await running.bridge.close()
        await store.close()


# --- doors of threat-model §2: alias squatting, caps, mapping changes ------------------------


async def _squat(
    client: AsyncClient, conversation_id: str, *, power: dict[str, int], invite: list[str]
) -> str:
    """A room with the bridge's alias for ``conversation_id`` and SPICO state naming it,
    readable by anyone (so the bot can read its state without joining)."""
    created = await client.room_create(
        alias=alias_localpart(PORTAL_ALIAS_PREFIX, conversation_id),
        name="Portail",
        invite=invite,
        initial_state=[
            {
                "type": CONVERSATION_STATE,
                "state_key": "",
                "content": {"conversation_id": conversation_id, "members": []},
            },
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "world_readable"},
            },
        ],
        power_level_override={"users": power},
    )
    assert isinstance(created, RoomCreateResponse), created
    return created.room_id


async def test_a_room_squatting_the_alias_is_never_adopted(
    setup: Setup, spico_client: SpicoClient, personas: Personas
) -> None:
    """A room found by its ``#spico_…`` alias was adopted when its ``fr.spico.*`` state named
    the id, whoever created it: now only a room the bot created and alone rules."""
    doctor = personas.doctor
    by_eve, by_bot = [
        (await open_conversation(spico_client, doctor, [setup.a], subject, "Début")).conversation.id
        for subject in ("Squat d'un inconnu", "Squat dans une salle du bot")
    ]
    eve = await setup.users.login(setup.stranger)
    bot = setup.bot.user_id
    squatted = await _squat(eve, by_eve, power={bot: 100}, invite=[bot])
    # A room the bot itself created (another device), in which someone else holds power too.
    bot_device = await setup.users.login(setup.bot, device_id="SQUAT")
    shared = await _squat(
        bot_device,
        by_bot,
        power={setup.stranger.user_id: 100},
        invite=[setup.stranger.user_id],
    )
    running = World.of(setup)
    try:
        await running.start()
        for conversation_id in (by_eve, by_bot):
            await spico_client.post_message(
                conversation_id,
                on_behalf_of=doctor,
                acting_as=doctor,
                body="Après le squat",
                idempotency_key=f"squat-{conversation_id}",
            )
        first, second = await running.portal(by_eve), await running.portal(by_bot)
        assert first != squatted and second != shared
        observer = await setup.users.login(setup.bot, device_id="OBSERVER")
        for room_id in (first, second):

            async def relayed(room_id: str = room_id) -> bool:
                bodies = [e["content"].get("body", "") for e in await timeline(observer, room_id)]
                return any(b.endswith("Après le squat") for b in bodies)

            await eventually(relayed, "the message in the bridge's own room")
        for room_id in (squatted, shared):
            bodies = [e["content"].get("body", "") for e in await timeline(eve, room_id)]
            assert not any("Après le squat" in b for b in bodies)
    finally:
        await running.bridge.close()


async def test_files_over_the_cap_are_refused_both_ways_with_a_notice(
    setup: Setup, spico_client: SpicoClient, personas: Personas
) -> None:
    """No cap on Matrix → SPICO downloads (nor SPICO → Matrix uploads): a file over
    ``matrix.max_file_bytes`` is now refused with a notice, never held in memory whole."""
    data = yaml.safe_load(setup.config_path.read_text(encoding="utf-8"))
    data["matrix"]["max_file_bytes"] = 2000
    setup.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    running = World.of(setup)
    try:
        await running.start()
        doctor = personas.doctor
        created = await open_conversation(
            spico_client,
            doctor,
            [setup.a],
            "Fichiers plafonnés",
            "Début",
            attachments=[
                NewAttachment(
                    filename="petit.pdf", content_type="application/pdf", content=b"%" * 100
                ),
                NewAttachment(
                    filename="gros.pdf", content_type="application/pdf", content=b"%" * 5000
                ),
            ],
        )
        conversation = created.conversation.id
        room_id = await running.portal(conversation)
        alice = await setup.users.login(setup.alice)
        await join_when_invited(alice, room_id, setup.alice.user_id)

        async def files() -> tuple[list[str], list[str]] | None:
            events = await timeline(alice, room_id)
            sent = [e["content"]["body"] for e in events if e["content"].get("msgtype") == "m.file"]
            kept = [
                e["content"]["body"]
                for e in events
                if "non relayée" in str(e["content"].get("body", ""))
            ]
            return (sent, kept) if sent and kept else None

        sent, kept = await eventually(files, "the small file and the notice of the large one")
        assert sent == ["petit.pdf"] and "gros.pdf" in kept[0] and "reste consultable" in kept[0]

        # Matrix → SPICO: the declared size is not trusted, the download is capped.
        for name, size, declared in (("gros.bin", 5000, None), ("annonce.bin", 10, 5000)):
            uploaded, _ = await alice.upload(
                lambda *_, n=size: b"x" * n, content_type="application/octet-stream", filesize=size
            )
            info = {"mimetype": "application/octet-stream"}
            if declared is not None:
                info["size"] = declared
            sent_event = await alice.room_send(
                room_id,
                "m.room.message",
                {"msgtype": "m.file", "body": name, "url": uploaded.content_uri, "info": info},
            )
            notice = await reply_in(alice, room_id, sent_event.event_id, f"the notice for {name}")
            assert "Fichier non transmis à SPICO" in notice["content"]["body"]
        small, _ = await alice.upload(
            lambda *_: b"y" * 50, content_type="application/octet-stream", filesize=50
        )
        await alice.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.file", "body": "petit.bin", "url": small.content_uri, "info": {}},
        )

        async def posted() -> list[Any]:
            messages = await spico_client.list_messages(conversation)
            return [m for m in messages if m.body == "petit.bin"]

        [small_message] = await eventually(posted, "the small file in SPICO")
        assert [a.filename for a in small_message.attachments] == ["petit.bin"]
        bodies = [m.body for m in await spico_client.list_messages(conversation)]
        assert "gros.bin" not in bodies and "annonce.bin" not in bodies
    finally:
        await running.bridge.close()


async def test_a_mapping_change_on_sighup_reconciles_every_portal_at_once(
    setup: Setup,
    spico_client: SpicoClient,
    personas: Personas,
    bridge_processes: list[BridgeProcess],
    tmp_path: Path,
) -> None:
    """A changed or removed ``matrix_user`` kicked nobody until the conversation's next
    message: now the reload invites the new account and kicks the old ones everywhere."""
    bridge = BridgeProcess(setup.config_path, tmp_path / "bridge.log")
    bridge_processes.append(bridge)
    bridge.start()
    doctor = personas.doctor
    conversations = [
        (
            await open_conversation(
                spico_client, doctor, [setup.a, setup.b], f"Correspondance {n}", "Début"
            )
        ).conversation.id
        for n in (1, 2)
    ]
    store = await Store.open(setup.database, migrate=False)
    try:

        async def portals() -> list[str] | None:
            async with store.transaction() as session:
                rows = [await matrix_repo.get_portal(session, c) for c in conversations]
            return [r.room_id for r in rows] if all(rows) else None

        rooms = await eventually(portals, "both portals")
    finally:
        await store.close()
    observer = await setup.users.login(setup.bot, device_id="OBSERVER")
    for room_id in rooms:
        for user in (setup.alice, setup.bob):
            await eventually(
                lambda r=room_id, u=user: _is(membership(observer, r, u.user_id), "invite"),
                "the mapped members invited",
            )
    # alice's colleague a is now eve's; b is mapped to nobody any more.
    data = yaml.safe_load(setup.config_path.read_text(encoding="utf-8"))
    data["participants"] = [{"spico_id": setup.a, "matrix_user": setup.stranger.user_id}]
    setup.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGHUP)
    for room_id in rooms:
        for user, state in (
            (setup.alice.user_id, "leave"),
            (setup.bob.user_id, "leave"),
            (setup.stranger.user_id, "invite"),
        ):
            await eventually(
                lambda r=room_id, u=user, s=state: _is(membership(observer, r, u), s),
                f"{user} {state} in {room_id} without a new message",
            )
    assert bridge.stop() == 0
