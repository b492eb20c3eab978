"""End-to-end encryption of the relay bot (``matrix.encryption: true``) against a real Synapse.

A member uses a real e2e client (matrix-nio with its own key store): what the bridge posts
reaches them Megolm-encrypted (the server only sees ``m.room.encrypted``) and decrypts to the
right text and files; what they send encrypted reaches SPICO exactly once; the bot keeps its
device and keys across a restart; a second process on the same key store is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomEncryptedFile,
    RoomGetStateResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendResponse,
    UploadResponse,
)
from nio.crypto.attachments import decrypt_attachment

from bridge.app import serve
from bridge.config import ConfigError, load_config
from bridge.matrix.client import DEVICE_ID
from bridge.matrix.crypto import (
    CryptoGuard,
    CryptoStoreBusy,
    feed_room_state,
    pickle_passphrase,
)
from bridge.matrix.inbound import Refuse, Relay, classify
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient
from bridge.spico.models import NewAttachment
from bridge.store.repositories import Store
from tests.config.cases import MINIMAL
from tests.fixtures.bridge import scenario_config, sqlite_url
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUser, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    InProcessBridge,
    join_when_invited,
    matrix_section,
)

BOT = "@bot:x"


# ---------------------------------------------------------------------------------- pure parts


def test_undecryptable_events_get_a_notice_and_encrypted_files_are_relayed() -> None:
    encrypted = {
        "type": "m.room.encrypted",
        "sender": "@a:x",
        "event_id": "$e",
        "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA"},
    }
    assert classify(encrypted, BOT) == Refuse("@a:x", "undecryptable")
    file_event = {
        "type": "m.room.message",
        "sender": "@a:x",
        "content": {
            "msgtype": "m.file",
            "body": "cr.pdf",
            "info": {"mimetype": "application/pdf"},
            "file": {
                "url": "mxc://h/m",
                "key": {"k": "KEY", "alg": "A256CTR"},
                "iv": "IV",
                "hashes": {"sha256": "HASH"},
                "v": "v2",
            },
        },
    }
    assert classify(file_event, BOT) == Relay(
        "@a:x",
        "",
        file_url="mxc://h/m",
        filename="cr.pdf",
        content_type="application/pdf",
        file_key="KEY",
        file_iv="IV",
        file_sha256="HASH",
    )


def test_room_state_is_fed_to_nio_with_invited_members(tmp_path: Path) -> None:
    config = AsyncClientConfig(encryption_enabled=True)
    nio = AsyncClient(
        "http://localhost", BOT, device_id="D", store_path=str(tmp_path), config=config
    )
    nio.restore_login(BOT, "D", "token")

    def member(user: str, membership: str) -> dict[str, Any]:
        return {
            "type": "m.room.member",
            "state_key": user,
            "sender": BOT,
            "event_id": f"$m{user}{membership}",
            "origin_server_ts": 1,
            "content": {"membership": membership},
        }

    encryption = {
        "type": "m.room.encryption",
        "state_key": "",
        "sender": BOT,
        "event_id": "$enc",
        "origin_server_ts": 1,
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
    state = [encryption, member(BOT, "join"), member("@a:x", "invite"), member("@b:x", "join")]
    assert feed_room_state(nio, "!r:x", state)
    room = nio.rooms["!r:x"]
    assert set(room.users) == {BOT, "@a:x", "@b:x"} and room.members_synced
    assert "!r:x" in nio.encrypted_rooms
    assert {"@a:x", "@b:x"} <= nio.users_for_key_query
    state[3] = member("@b:x", "leave")
    feed_room_state(nio, "!r:x", state)
    assert set(nio.rooms["!r:x"].users) == {BOT, "@a:x"}
    assert not feed_room_state(nio, "!clear:x", [member(BOT, "join")])


async def test_one_process_per_key_store(tmp_path: Path) -> None:
    first = CryptoGuard(tmp_path / "crypto", None, BOT, DEVICE_ID)
    second = CryptoGuard(tmp_path / "crypto", None, BOT, DEVICE_ID)
    await first.acquire()
    try:
        with pytest.raises(CryptoStoreBusy):
            await second.acquire()
    finally:
        await first.release()
    await second.acquire()  # free again once the owner let go
    await second.release()


@pytest.mark.postgres
async def test_one_process_per_bot_device_on_a_shared_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """Processes on other machines (own key store directories) sharing one database: the
    advisory lock keyed on the bot's device lets only one of them use it."""
    stores = [await Store.open(postgres_url, migrate=False) for _ in range(2)]
    try:
        first = CryptoGuard(tmp_path / "host1", stores[0], BOT, DEVICE_ID)
        second = CryptoGuard(tmp_path / "host2", stores[1], BOT, DEVICE_ID)
        other_bot = CryptoGuard(tmp_path / "host3", stores[1], "@other:x", DEVICE_ID)
        await first.acquire()
        with pytest.raises(CryptoStoreBusy):
            await second.acquire()
        await other_bot.acquire()  # another bot's device is another lock
        await other_bot.release()
        await first.release()
        await second.acquire()
        await second.release()
    finally:
        for store in stores:
            await store.close()


#: The configuration tests' minimal config, its state folder in the working directory.
CONFIG = "state_dir: state\n" + MINIMAL


def test_crypto_config_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secrets").mkdir()
    for name in ("spico-token", "matrix-password", "crypto-key"):
        (tmp_path / "secrets" / name).write_text(f"{name}-value\n")
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG + "  encryption: true\n")
    config = load_config(path, environ={})
    assert config.matrix.crypto_store_dir(config.state_dir) == tmp_path / "state/matrix-crypto"
    assert config.matrix.crypto_pickle_key is None
    path.write_text(
        CONFIG
        + "  encryption: true\n  crypto_store: keys\n"
        + "  crypto_pickle_key_file: secrets/crypto-key\n"
    )
    config = load_config(path, environ={})
    assert config.matrix.crypto_store_dir(config.state_dir) == tmp_path / "keys"
    key = config.matrix.crypto_pickle_key
    assert key is not None and key.get() == "crypto-key-value"
    assert pickle_passphrase(tmp_path / "keys", key.get()) == "crypto-key-value"
    assert not (tmp_path / "keys" / "pickle-key").exists(), "no key generated when one is given"
    path.write_text(
        CONFIG
        + "  encryption: true\n  crypto_pickle_key_file: secrets/crypto-key\n"
        + "  crypto_pickle_key_env: KEY\n"
    )
    with pytest.raises(ConfigError, match="give only one of crypto_pickle_key_file"):
        load_config(path, environ={"KEY": "x"})
    path.write_text(CONFIG + "  crypto_store: keys\n")
    warnings = load_config(path, environ={}).warnings
    assert any("matrix.crypto_store: warning: ignored" in w for w in warnings), warnings


def test_generated_pickle_key_is_kept(tmp_path: Path) -> None:
    first = pickle_passphrase(tmp_path, None)
    assert len(first) >= 40 and pickle_passphrase(tmp_path, None) == first
    assert stat.S_IMODE((tmp_path / "pickle-key").stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------- real servers


@dataclass
class E2ESetup:
    config_path: Path
    database: str
    state_dir: Path
    bot: MatrixUser
    alice: MatrixUser
    a: str
    users: MatrixUsers


@pytest.fixture
def e2e_setup(
    synapse: Synapse,
    spico_sandbox: SandboxProcess,
    personas: Personas,
    matrix_users: MatrixUsers,
    tmp_path: Path,
) -> E2ESetup:
    bot, alice = matrix_users.new("bot"), matrix_users.new("alice")
    a = personas.colleagues[12]
    path = scenario_config(
        tmp_path,
        spico_sandbox,
        [{"spico_id": a, "matrix_user": alice.user_id}],
        matrix=matrix_section(synapse, bot, tmp_path / "secrets", encryption=True),
    )
    return E2ESetup(path, sqlite_url(tmp_path), tmp_path / "state", bot, alice, a, matrix_users)


@pytest.fixture
async def e2e_bridge(e2e_setup: E2ESetup) -> AsyncIterator[InProcessBridge]:
    bridge = InProcessBridge(e2e_setup.config_path, cursors=(SPICO_CURSOR, MATRIX_CURSOR))
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.close()


class Member:
    """A Matrix user on a real e2e client (own key store), as Element would be."""

    def __init__(self, synapse: Synapse, user: MatrixUser, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.client = AsyncClient(
            synapse.url,
            user.user_id,
            device_id="MEMBERDEV",
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, max_limit_exceeded=0, max_timeouts=0),
        )

    async def login(self) -> None:
        response = await self.client.login(self.user.password)
        assert isinstance(response, LoginResponse), response
        await self.keys()

    async def keys(self) -> None:
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def sync(self) -> None:
        """One sync (room keys arrive as to-device messages), then key upkeep."""
        await self.client.sync(timeout=0, full_state=not self.client.next_batch)
        await self.keys()

    async def events(self, room_id: str) -> list[Any]:
        """The room's events as this client sees them (decrypted when it can), oldest first."""
        await self.sync()
        events: list[Any] = []
        token = ""
        while True:
            page = await self.client.room_messages(room_id, start=token, limit=200)
            assert isinstance(page, RoomMessagesResponse), page
            events.extend(page.chunk)
            if not page.chunk or not page.end:
                break
            token = page.end
        events.reverse()
        return events

    async def close(self) -> None:
        await self.client.close()


async def raw_event(synapse: Synapse, token: str, room_id: str, event_id: str) -> dict[str, Any]:
    """The event as the homeserver stores it (no client-side decryption)."""
    url = f"{synapse.url}/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def test_encrypted_portal_both_ways_and_across_a_restart(
    e2e_bridge: InProcessBridge,
    e2e_setup: E2ESetup,
    synapse: Synapse,
    spico_client: SpicoClient,
    personas: Personas,
    tmp_path: Path,
) -> None:
    setup, bridge = e2e_setup, e2e_bridge
    member = Member(synapse, setup.alice, tmp_path / "alice-keys")
    await member.login()  # her device keys are on the server before the room exists
    alice = member.client
    try:
        doctor = personas.doctor
        created = await open_conversation(
            spico_client,
            doctor,
            [setup.a],
            "Chiffrée",
            "Premier message chiffré",
            attachments=[
                NewAttachment(filename="cr.txt", content_type="text/plain", content=b"secret cr")
            ],
        )
        conversation = created.conversation.id
        room_id = await bridge.portal(conversation)

        await join_when_invited(alice, room_id, setup.alice.user_id)
        state = await alice.room_get_state(room_id)
        assert isinstance(state, RoomGetStateResponse), state
        encryption = [e for e in state.events if e["type"] == "m.room.encryption"]
        assert [e["content"]["algorithm"] for e in encryption] == ["m.megolm.v1.aes-sha2"]

        # SPICO → Matrix: sent while alice was invited, decrypted by her device.
        async def decrypted(text: str) -> RoomMessageText | None:
            for event in await member.events(room_id):
                if isinstance(event, RoomMessageText) and text in event.body:
                    return event
            return None

        first = await eventually(lambda: decrypted("Premier message chiffré"), "the message")
        assert first.sender == setup.bot.user_id and first.decrypted
        assert first.body.splitlines()[-1] == "Premier message chiffré"
        raw = await raw_event(synapse, alice.access_token, room_id, first.event_id)
        assert raw["type"] == "m.room.encrypted"
        assert "chiffré" not in str(raw["content"]) and "body" not in raw["content"]

        # The SPICO attachment: an encrypted upload, its key only inside the Megolm event.
        async def attachment() -> RoomEncryptedFile | None:
            for event in await member.events(room_id):
                if isinstance(event, RoomEncryptedFile):
                    return event
            return None

        media = await eventually(attachment, "the encrypted attachment")
        assert media.body == "cr.txt" and "url" not in media.source["content"]
        downloaded = await alice.download(mxc=media.url)
        stored = getattr(downloaded, "body", b"")
        assert stored != b"secret cr", "the homeserver only holds ciphertext"
        plain = decrypt_attachment(stored, media.key["k"], media.hashes["sha256"], media.iv)
        assert plain == b"secret cr"

        # Matrix → SPICO: an encrypted message, relayed once.
        sent = await alice.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "Réponse chiffrée"},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent
        raw = await raw_event(synapse, alice.access_token, room_id, sent.event_id)
        assert raw["type"] == "m.room.encrypted"

        async def in_spico(text: str) -> list[Any]:
            messages = await spico_client.list_messages(conversation)
            return [m for m in messages if m.body == text]

        posted = await eventually(lambda: in_spico("Réponse chiffrée"), "alice's message in SPICO")
        assert len(posted) == 1 and posted[0].author_id == setup.a
        assert posted[0].idempotency_key == f"matrix:{sent.event_id}"

        # An encrypted file from Matrix reaches SPICO decrypted.
        data = b"ordonnance %PDF"
        uploaded, keys = await alice.upload(
            lambda _a, _b: data,
            content_type="application/octet-stream",
            filesize=len(data),
            encrypt=True,
        )
        assert isinstance(uploaded, UploadResponse) and keys
        await alice.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.file",
                "body": "ordo.pdf",
                "info": {"mimetype": "application/pdf", "size": len(data)},
                "file": {"url": uploaded.content_uri, **keys},
            },
            ignore_unverified_devices=True,
        )

        async def file_in_spico() -> Any:
            for message in await spico_client.list_messages(conversation):
                for item in message.attachments:
                    if item.filename == "ordo.pdf":
                        return item
            return None

        item = await eventually(file_in_spico, "alice's file in SPICO")
        content = await spico_client.get_attachment(item.id)
        assert content.content == data

        # Restart: same device, same identity key; old and new messages still decrypt.
        await member.keys()
        before = {
            d.id: d.ed25519 for d in alice.device_store.active_user_devices(setup.bot.user_id)
        }
        assert set(before) == {DEVICE_ID}
        await bridge.stop()
        store_dir = e2e_setup.state_dir / "matrix-crypto"
        assert any(store_dir.glob("*.db")), "the key store is on disk"
        key_mode = stat.S_IMODE((store_dir / "pickle-key").stat().st_mode)
        assert key_mode == 0o600
        await bridge.start()
        await spico_client.post_message(
            conversation,
            on_behalf_of=doctor,
            acting_as=doctor,
            body="Après redémarrage",
            idempotency_key=f"restart-{conversation}",
        )
        after_restart = await eventually(
            lambda: decrypted("Après redémarrage"), "a message after the restart"
        )
        assert after_restart.sender == setup.bot.user_id
        assert alice.olm is not None
        alice.olm.users_for_key_query.add(setup.bot.user_id)  # ask the server again
        await member.keys()
        after = {d.id: d.ed25519 for d in alice.device_store.active_user_devices(setup.bot.user_id)}
        assert after == before, "no new device, no new identity key"

        sent = await alice.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "Encore chiffré"},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent
        posted = await eventually(lambda: in_spico("Encore chiffré"), "a message after restart")
        assert len(posted) == 1
        await member.sync()
        assert await decrypted("Premier message chiffré"), "history still readable"
        assert len(await in_spico("Réponse chiffrée")) == 1, "nothing relayed twice"
    finally:
        await member.close()


async def test_undecryptable_message_gets_a_notice(
    e2e_bridge: InProcessBridge,
    e2e_setup: E2ESetup,
    synapse: Synapse,
    spico_client: SpicoClient,
    personas: Personas,
    tmp_path: Path,
) -> None:
    setup, bridge = e2e_setup, e2e_bridge
    member = Member(synapse, setup.alice, tmp_path / "alice-keys")
    await member.login()
    try:
        doctor = personas.doctor
        created = await open_conversation(spico_client, doctor, [setup.a], "Illisible", "Début")
        conversation = created.conversation.id
        room_id = await bridge.portal(conversation)

        await join_when_invited(member.client, room_id, setup.alice.user_id)
        # A client without keys posts an encrypted event no one can decrypt.
        plain = await setup.users.login(setup.alice, device_id="NOKEYS")
        sent = await plain.room_send(
            room_id,
            "m.room.encrypted",
            {
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": "AwgAEhAAAA",
                "sender_key": "c2VuZGVyLWtleS1ub3QtcmVhbA",
                "session_id": "c2Vzc2lvbi1ub3QtcmVhbA",
                "device_id": "NOKEYS",
            },
        )
        assert isinstance(sent, RoomSendResponse), sent

        async def notice() -> Any:
            for event in await member.events(room_id):
                if isinstance(event, MegolmEvent):
                    continue
                content = event.source.get("content", {})
                reply = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                if reply == sent.event_id:
                    return event
            return None

        answer = await eventually(notice, "the bridge's notice")
        assert "illisible" in answer.source["content"]["body"]
        assert answer.decrypted, "the notice itself is encrypted"
        messages = await spico_client.list_messages(conversation)
        assert [m.body for m in messages if m.author_id == setup.a] == []
    finally:
        await member.close()


async def test_second_process_on_the_same_key_store_is_refused(
    e2e_bridge: InProcessBridge,
    e2e_setup: E2ESetup,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two processes on one bot device would corrupt its Olm/Megolm sessions: the second one
    (here with its own database but the same key store) stops instead of running."""
    data = e2e_setup.config_path.read_text(encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text(
        data.replace(str(tmp_path / "bridge.db"), str(tmp_path / "other.db")), encoding="utf-8"
    )
    config = load_config(other)
    assert config.matrix.crypto_store_dir(config.state_dir) == e2e_setup.state_dir / (
        "matrix-crypto"
    )
    stop = asyncio.Event()
    second = asyncio.create_task(serve(config, stop))
    try:
        await eventually(second.done, "the second process stopping on its own")
        assert second.exception() is None
        assert second.result() == 1, "a refusal is a failure for the service manager"
        assert "refusing to run" in caplog.text
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(second, 30)
    assert e2e_bridge.task is not None and not e2e_bridge.task.done(), "the first one runs on"
