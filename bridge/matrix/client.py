"""The bot's Matrix connection (matrix-nio), with errors mapped onto the core's retry contract.

nio's own retry loops are switched off (``max_limit_exceeded=0``, ``max_timeouts=0``): a 429 or
a dead homeserver comes back to the outbox as ``RetryLater`` (with the server's
``retry_after_ms``), so retries are durable and visible instead of hidden in a sleeping task.

The bot always logs in with the same device id: Synapse scopes transaction ids to the device,
so a message re-sent with the same ``txn_id`` after a bridge restart is recognised, not copied.

With ``matrix.encryption: true`` the client also carries the bot's end-to-end keys (see
``bridge.matrix.crypto``): the key store is opened at login, device keys are uploaded then,
and ``maintain_keys`` (run after each sync) uploads, queries and claims keys as nio asks.
``send`` is the one way to post into a room: in an encrypted room it first shows nio the
room's current state so the message is Megolm-encrypted for every joined or invited member.

TLS: ``ssl_context`` (built from ``matrix.ca_file`` by the world) verifies the homeserver; the
config refuses plain ``http://`` to anything but loopback. Errors keep the homeserver's errcode
and status, not its sentence (logs may show them). ``download`` streams media with a cap.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClientConfig,
    ErrorResponse,
    LocalProtocolError,
    MegolmEvent,
    RoomGetStateResponse,
    RoomSendResponse,
    WhoamiResponse,
)

from bridge.core.delivery import PermanentFailure, RetryLater
from bridge.core.errors import read_capped
from bridge.matrix.appservice.acting import AppserviceAsyncClient
from bridge.matrix.crypto import CryptoGuard, feed_room_state, pickle_passphrase, prepare_store_dir
from bridge.matrix.echoes import EchoAwareAsyncClient

log = logging.getLogger(__name__)
# nio logs every room event it parses at INFO, and a failed alias lookup (expected: that is how
# the sink checks a room does not exist yet) as a validation WARNING: keep the bridge's log clean.
logging.getLogger("nio").setLevel(logging.WARNING)
logging.getLogger("nio.responses").setLevel(logging.ERROR)

DEVICE_ID = "SPICOBRIDGE"
REQUEST_TIMEOUT_SECONDS = 60.0
#: ``mxc://<server name>/<media id>`` (the spec's grammar: nothing a path could resolve).
_MXC = re.compile(
    r"mxc://([A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)/([A-Za-z0-9_-]+)"
)

T = TypeVar("T")

#: Error codes meaning "this will never work" (room gone, bot not allowed, bad request).
_PERMANENT_CODES = frozenset(
    {"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE", "M_INVALID_PARAM"}
)


class MatrixError(Exception):
    """A Matrix request failed; ``code`` is the errcode (M_…), ``status`` the HTTP status."""

    def __init__(
        self,
        what: str,
        code: str | None,
        status: int | None,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        # The server's sentence stays out of the text (it may quote ids or content).
        super().__init__(f"{what}: {code or status}"[:300])
        self.code = code
        self.status = status
        self.message = message
        self.retry_after = retry_after


def delivery_error(error: MatrixError) -> RetryLater | PermanentFailure:
    """How a failed request weighs for the outbox (pure)."""
    if error.status == 429 or error.code == "M_LIMIT_EXCEEDED":
        return RetryLater(str(error), error.retry_after)
    if error.status is None or error.status >= 500 or error.code == "M_UNKNOWN_TOKEN":
        return RetryLater(str(error))
    if error.code in _PERMANENT_CODES or 400 <= error.status < 500:
        return PermanentFailure(str(error))
    return RetryLater(str(error))


@dataclass(frozen=True, slots=True)
class CryptoOptions:
    """End-to-end encryption of the bot: where its keys live and who guards them."""

    store_dir: Path
    pickle_key: str | None
    guard: CryptoGuard


class MatrixClient:
    """One logged-in bot session shared by the sink and the sync loop."""

    def __init__(
        self,
        homeserver: str,
        user_id: str,
        credential: str,
        *,
        uses_access_token: bool,
        device_id: str = DEVICE_ID,
        crypto: CryptoOptions | None = None,
        ssl_context: ssl.SSLContext | None = None,
        appservice: bool = False,
    ) -> None:
        """``appservice``: ``credential`` is the as_token, and requests made inside
        ``acting_as`` act as that ghost (``bridge.matrix.appservice.acting``)."""
        store_path = ""
        if crypto is None:
            # nio turns encryption on by itself when its e2e extra is installed: not here (its
            # store class stays set but is never opened: no key store, clear messages).
            encryption: dict[str, Any] = {"encryption_enabled": False}
        else:
            from nio.store import SqliteStore

            store_path = str(prepare_store_dir(crypto.store_dir))
            encryption = {
                "encryption_enabled": True,
                "store": SqliteStore,
                "pickle_key": pickle_passphrase(crypto.store_dir, crypto.pickle_key),
            }
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=REQUEST_TIMEOUT_SECONDS,
            store_sync_tokens=False,
            **encryption,
        )
        # Relay mode: the bot's sync loop, where a sync of only its own echoes skips nio's parse.
        client_class = AppserviceAsyncClient if appservice else EchoAwareAsyncClient
        self.nio = client_class(
            homeserver,
            user_id,
            device_id=device_id,
            store_path=store_path,
            config=config,
            ssl=ssl_context,  # type: ignore[arg-type]  # nio hands it to aiohttp as is
        )
        self.user_id = user_id
        self._credential = credential
        self._uses_token = uses_access_token
        self._logged_in = False
        self._lock = asyncio.Lock()
        self._guard = crypto.guard if crypto is not None else None
        self._keys_lock = asyncio.Lock()

    @property
    def encrypted(self) -> bool:
        """True when the bot carries end-to-end keys (``matrix.encryption``)."""
        return self._guard is not None

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    async def ensure_logged_in(self) -> None:
        """Log in once (password) or check the token (whoami); raises RetryLater on failure."""
        if self._logged_in:
            return
        async with self._lock:
            if self._logged_in:
                return
            if self._guard is not None:
                # Before the key store is opened: one process per bot device.
                await self._guard.acquire()
            try:
                if self._uses_token:
                    self.nio.access_token = self._credential
                    whoami = await self.call("whoami", self.nio.whoami())
                    assert isinstance(whoami, WhoamiResponse)
                    if whoami.user_id != self.user_id:
                        raise PermanentFailure(f"the access token is for {whoami.user_id}")
                    if whoami.device_id:
                        self.nio.device_id = whoami.device_id
                    if self._guard is not None:
                        # Opens the key store, as a password login does.
                        self.nio.restore_login(
                            self.user_id, self.nio.device_id or DEVICE_ID, self._credential
                        )
                else:
                    await self.call("login", self.nio.login(self._credential, device_name="SPICO"))
            except (RetryLater, PermanentFailure):
                raise
            except Exception as exc:
                if self._guard is None:
                    raise
                # Typically a store the pickle key does not open: say so, never the key.
                raise RetryLater(
                    f"the Matrix crypto store cannot be opened ({type(exc).__name__}); "
                    "check matrix.crypto_pickle_key_*"
                ) from None
            if self._guard is not None:
                if self.nio.olm is None:
                    raise PermanentFailure("end-to-end encryption is on but no key store opened")
                await self.maintain_keys()
            self._logged_in = True
            log.info("matrix: logged in as %s (device %s)", self.user_id, self.nio.device_id)

    async def maintain_keys(self) -> None:
        """Upload our one-time and device keys, query changed devices, claim one-time keys for
        devices lacking an Olm session, send queued to-device messages (what nio's
        ``sync_forever`` does between syncs). No-op without encryption."""
        nio = self.nio
        if nio.olm is None:
            return
        async with self._keys_lock:
            if nio.should_upload_keys:
                await self.call("keys upload", nio.keys_upload())
            if nio.should_query_keys:
                await self.call("keys query", nio.keys_query())
            if nio.should_claim_keys:
                users = nio.get_users_for_key_claiming()
                if users:
                    await self.call("keys claim", nio.keys_claim(users))
            if nio.outgoing_to_device_messages:
                for response in await nio.send_to_device_messages():
                    if isinstance(response, ErrorResponse):
                        log.warning("matrix: a to-device message failed: %s", response.status_code)

    async def send(
        self,
        what: str,
        room_id: str,
        content: Mapping[str, Any],
        txn_id: str,
        *,
        encrypted: bool | None = None,
    ) -> RoomSendResponse:
        """Send an ``m.room.message``: Megolm-encrypted in an encrypted room.

        ``encrypted`` is what a caller already learnt with ``prepare_room`` (skips a second
        ``/state``). The transaction id makes a retry return the first event, never a copy:
        a retried encrypted send gets new ciphertext but the server keeps the first event."""
        if encrypted is None:
            encrypted = await self.prepare_room(room_id)
        try:
            sent = await self.call(
                what,
                self.nio.room_send(
                    room_id,
                    "m.room.message",
                    dict(content),
                    tx_id=txn_id,
                    ignore_unverified_devices=True,
                ),
            )
        except LocalProtocolError:
            # nio could not encrypt (room unknown, sharing failed): try again later.
            raise RetryLater(f"{what}: not encrypted yet") from None
        assert isinstance(sent, RoomSendResponse)
        return sent

    async def prepare_room(self, room_id: str) -> bool:
        """Show nio the room's current state (encryption, joined and invited members) and
        fetch their devices' keys; True when the room is encrypted. No-op without encryption:
        then messages go out in clear, as nio knows no key store."""
        if self.nio.olm is None:
            return False
        got = await self.call("room state", self.nio.room_get_state(room_id))
        assert isinstance(got, RoomGetStateResponse)
        encrypted = feed_room_state(self.nio, room_id, got.events)
        if encrypted:
            await self.maintain_keys()
        return encrypted

    async def download(self, mxc: str, limit: int) -> bytes:
        """A media file's bytes, streamed and given up as soon as it is over ``limit`` bytes
        (``TooLarge``; the announced length is checked first). A URI that is not an
        ``mxc://server/media-id`` is refused before any request."""
        match = _MXC.fullmatch(mxc)
        if match is None:
            raise PermanentFailure("download: not a Matrix media URI")
        server, media_id = match.groups()
        path = (
            f"/_matrix/client/v1/media/download/{quote(server, safe='[]:')}/"
            f"{quote(media_id, safe='')}?allow_remote=true"
        )
        headers = {"Authorization": f"Bearer {self.nio.access_token}"}
        try:
            response = await self.nio.send("GET", path, headers=headers)
            async with response:
                if response.status == 429 or response.status >= 500:
                    raise RetryLater(f"download: {response.status}")
                if response.status >= 400:
                    raise PermanentFailure(f"download: {response.status}")
                return await read_capped(response, limit)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"download: homeserver unreachable ({type(exc).__name__})") from None

    async def request_key(self, event: MegolmEvent) -> None:
        """Ask the sender's device (and our other devices) for the Megolm key of an event we
        cannot decrypt; best effort, errors are only logged."""
        nio = self.nio
        if nio.olm is None or not event.session_id or not nio.device_id:
            return
        try:
            # nio accepts a forwarded key only for a request it recorded: record it first (it
            # goes to our own devices), then ask the sender's device too.
            if event.session_id not in nio.outgoing_key_requests:
                await nio.request_room_key(event)
            await nio.to_device(
                event.as_key_request(event.sender, nio.device_id, device_id=event.device_id)
            )
        except Exception as exc:
            log.info("matrix: room key request not sent (%s)", type(exc).__name__)

    async def call(self, what: str, request: Awaitable[T]) -> T:
        """Await a nio request; raise RetryLater / PermanentFailure when it failed."""
        try:
            response = await request
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"{what}: homeserver unreachable ({type(exc).__name__})") from None
        if isinstance(response, ErrorResponse):
            error = _matrix_error(what, response)
            if error.code == "M_UNKNOWN_TOKEN" and not self._uses_token:
                self._logged_in = False  # log in again on the next try
            raise delivery_error(error) from error
        return response

    async def request(self, what: str, request: Awaitable[T]) -> T | MatrixError:
        """Like ``call`` but hands back a client error (403, 404…) instead of raising it, for
        callers that tolerate it (inviting a user who does not exist, kicking one who left)."""
        try:
            return await self.call(what, request)
        except PermanentFailure as failure:
            cause = failure.__cause__
            if isinstance(cause, MatrixError):
                return cause
            raise

    async def close(self) -> None:
        await self.nio.close()
        if self._guard is not None:
            await self._guard.release()


def _matrix_error(what: str, response: ErrorResponse) -> MatrixError:
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", None)
    retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
    return MatrixError(what, response.status_code, status, response.message or "", retry_after)


def event_fields(event: Any) -> dict[str, Any]:
    """A nio event as the raw dict the server sent (pure functions work on these)."""
    source = getattr(event, "source", None)
    return dict(source) if isinstance(source, dict) else {}
