"""The Matrix sync loop: portal room events → SPICO posts, notices and kicks.

Sync discipline: a filter (lazy-loaded members, short timelines, no presence or account data)
keeps start-up fast with thousands of rooms; the first start records the current position
without replaying history; the ``next_batch`` token is stored only after its batch was
processed. When SPICO is unreachable the batch is processed again from the same token (events
already handled are skipped through ``matrix_event_links``; posts are idempotent anyway).

What a user may reach from a room is checked when it happens: the account a message is posted
as is checked against SPICO's delegations again (a withdrawn one is refused with a notice and
the user is back in their own name); a file over ``matrix.max_file_bytes`` is refused with a
notice, its download streamed with that cap. Invitations, management rooms and the sending of
every command's replies (patient identities only to a room private at that moment) are
``bridge.matrix.management_rooms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import aiohttp
from nio import (
    MegolmEvent,
    MessageDirection,
    RoomMessagesResponse,
    SyncResponse,
)
from nio.crypto.attachments import decrypt_attachment
from nio.exceptions import EncryptionError
from sqlalchemy import Connection

from bridge.core.composer import ComposerRefusal
from bridge.core.delivery import (
    POISON_ATTEMPTS,
    Attachment,
    InboundMessage,
    InboundPoster,
    PermanentFailure,
    PoisonGuard,
    PostResult,
    is_outage,
)
from bridge.core.errors import TooLarge
from bridge.core.model import World
from bridge.core.waiting import unless_stopped, wait_any
from bridge.matrix import texts
from bridge.matrix.client import MatrixClient, MatrixError, event_fields
from bridge.matrix.commands.executor import CommandExecutor, CommandSettings, Where
from bridge.matrix.commands.texts import REFUSALS, refusal_text
from bridge.matrix.echoes import EchoesOnly
from bridge.matrix.formatting import megabytes, notice_text
from bridge.matrix.inbound import CheckMember, Command, Refuse, Relay, classify, verdict
from bridge.matrix.management_rooms import ManagementRooms
from bridge.matrix.notices import notice
from bridge.matrix.sink import PortalSettings
from bridge.store import commands as commands_repo
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store import unread as unread_repo
from bridge.store.notifications import StoreNotificationRequests
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

SYNC_CURSOR = "matrix:sync"
SYNC_TIMEOUT_MS = 25_000
TIMELINE_LIMIT = 50
BACKFILL_PAGE = 100
#: How long the token of batches holding only the bot's own events may go unsaved.
QUIET_CURSOR_SECONDS = 5.0
#: After a sync that brought back only echoes of the bot's own messages (it is posting), the
#: next sync waits this long, so the echoes of a burst come back a few per sync rather than
#: one sync per message. Each sync an echo wakes costs the homeserver a full sync computation
#: (~2 ms of Synapse's CPU on the bench machine) besides its work for the message itself; in
#: relay mode that was what held a burst's throughput below a direct client's (``bench
#: --sections matrix``, median of three alternated pairs: 0.76–0.86 of direct in four runs
#: before, 1.04 in two after; the bot's syncs 1.0 → 0.12–0.13 per message). Nothing waits for
#: an echo; a member's message arriving meanwhile is relayed at most this much later, and only
#: right after the bot posted (a batch holding anything else is followed at once).
ECHO_PAUSE_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


def sync_filter(*, first: bool = False) -> dict[str, Any]:
    """What the bot's sync asks for (pure): its rooms' timelines, read receipts only, no
    presence or account data. The first sync only learns where "now" is: no history of any room.

    The bot's own events (the echo of each message it posts) are not filtered out with
    ``not_senders``: with that filter Synapse wakes the long-poll for every event, finds the
    filtered answer empty and computes it again from the same ``since`` on the next one, so a
    burst costs it more and more; measured (``bench --sections matrix``, back to back, twice):
    Synapse's CPU per bridged message ×1.55 of direct with the filter against ×1.05–1.24
    without, added latency p50 24–25 ms against 12–14, for 1.5–3 ms of bridge CPU saved. The
    source drops the echoes itself (``classify``), before any database access, and lets those
    of a burst gather between syncs (``ECHO_PAUSE_SECONDS``)."""
    timeline: dict[str, Any] = {"limit": 0 if first else TIMELINE_LIMIT}
    return {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": timeline,
            "state": {"types": []} if first else {"lazy_load_members": True},
            # Read receipts only: they cancel missed-message mails (``bridge.store.unread``).
            "ephemeral": {"types": ["m.receipt"]},
            "account_data": {"types": []},
        },
    }


#: Connection errors of the homeserver's client library that ``MatrixClient`` may let through
#: (it maps the rest onto ``RetryLater`` / ``PermanentFailure``).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError,)


class MatrixSource:
    """Consumes the bot's sync stream for the portal rooms."""

    def __init__(
        self,
        client: MatrixClient,
        store: Store,
        settings: PortalSettings,
        post: InboundPoster,
        spico_id_of: Callable[[], Mapping[str, str]],
        commands: CommandSettings | None = None,
        notifications: StoreNotificationRequests | None = None,
        is_ghost: Callable[[str], bool] = lambda _user: False,
        echo_pause: float = ECHO_PAUSE_SECONDS,
    ) -> None:
        self._client = client
        #: The wait after a sync of only the bot's own echoes (``ECHO_PAUSE_SECONDS``).
        self._echo_pause = echo_pause
        #: Appservice mode: whether a user is one of the bridge's ghosts (never relayed/kicked).
        self._is_ghost = is_ghost
        self._store = store
        self.settings = settings
        self._post = post
        self._spico_id_of = spico_id_of
        #: The ``!spico`` commands (portal rooms with the prefix, management rooms without).
        self.commands = CommandExecutor(
            post.composer,
            store,
            spico_id_of,
            commands
            or CommandSettings(
                language=settings.language,
                prefix=settings.command_prefix,
                bot_user_id=settings.bot_user_id,
            ),
            notifications,
        )
        #: Management rooms, and the senders of every command's replies.
        self.rooms = ManagementRooms(
            client, store, lambda: self.settings, spico_id_of, self.commands
        )
        self.synced = asyncio.Event()
        self._poison = PoisonGuard()
        #: Encrypted events nio could not decrypt in the batch at hand (for key requests).
        self._undecrypted: dict[str, MegolmEvent] = {}
        #: The live sync's filter: the id the homeserver gave it once uploaded, or (the upload
        #: failed) the filter itself, sent with every sync. None: not uploaded yet.
        self._live_filter: str | dict[str, Any] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        since: str | None = None
        loaded = False
        saved_at = 0.0
        while not stop.is_set():
            try:
                await self._client.ensure_logged_in()
                if not loaded:
                    since = await self._store.run(
                        functools.partial(repo.get_cursor, source=SYNC_CURSOR)
                    )
                    loaded = True
                response = await self._sync(since, stop)
                if response is None:
                    return
                # End-to-end keys: upload ours, query changed devices, claim one-time keys.
                await self._client.maintain_keys()
                quiet = since is not None and only_own_events(response, self.settings.bot_user_id)
                if since is not None and not quiet:
                    await self.process(response, since)
                elif since is None:
                    # The very first sync reads no history, but invites waiting from before
                    # the bridge ever ran would not come again: answer them now.
                    await self.rooms.invites(response)
                # The token is stored once its batch is handled. A batch of the bot's own
                # echoes (a burst it is posting) needs no handling: storing its token may wait
                # a little (after a crash those echoes are read again, and ignored again).
                if not quiet or time.monotonic() - saved_at > QUIET_CURSOR_SECONDS:
                    await self._store.run(
                        functools.partial(
                            repo.set_cursor, source=SYNC_CURSOR, value=response.next_batch
                        )
                    )
                    saved_at = time.monotonic()
                since = response.next_batch
                self.synced.set()
                backoff = 1.0
                if quiet and echoes_in(response):
                    await wait_any(stop, within=self._echo_pause)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "matrix sync failed (%s); retrying in %.0fs", type(exc).__name__, backoff
                )
                await wait_any(stop, within=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _filter(self, first: bool) -> str | dict[str, Any]:
        """The filter of a sync: the live one by the id the homeserver gave it, so neither
        side encodes, parses and validates the filter again with every sync of every message
        (Synapse checks an inline filter against its JSON schema each time). Uploaded once per
        run; if the upload fails, the filter goes inline as before."""
        if first:
            return sync_filter(first=True)
        if self._live_filter is None:
            try:
                uploaded = await self._client.call(
                    "upload filter", self._client.nio.upload_filter(**sync_filter())
                )
                self._live_filter = str(uploaded.filter_id)
            except Exception as exc:
                log.warning(
                    "matrix: sync filter not uploaded (%s); sent with each sync",
                    type(exc).__name__,
                )
                self._live_filter = sync_filter()
        return self._live_filter

    async def _sync(self, since: str | None, stop: asyncio.Event) -> SyncResponse | None:
        """One sync (long-poll), interrupted by ``stop`` (then None)."""
        live_filter = await self._filter(first=not since)
        response = await unless_stopped(
            self._client.call(
                "sync",
                self._client.nio.sync(
                    # The first sync of a run returns at once (ready without waiting for news).
                    timeout=SYNC_TIMEOUT_MS if since and self.synced.is_set() else 0,
                    sync_filter=live_filter,
                    since=since,
                    full_state=False,
                ),
            ),
            stop,
        )
        assert response is None or isinstance(response, SyncResponse)
        return response

    async def process(self, response: SyncResponse, since: str) -> None:
        self._undecrypted.clear()
        rooms = response.rooms.join
        await self.rooms.invites(response)
        portals, managed = await self._store.run(functools.partial(rooms_of, room_ids=rooms))
        for room_id, room in rooms.items():
            portal = portals.get(room_id)
            if portal is None:
                if room_id in managed:
                    await self.rooms.handle(
                        room_id,
                        managed[room_id],
                        room.timeline.events,
                        self._guarded,
                        self._remember,
                    )
                continue
            self._note_undecrypted(room.timeline.events)
            events = [event_fields(e) for e in room.state] + [
                event_fields(e) for e in room.timeline.events
            ]
            if room.timeline.limited and room.timeline.prev_batch:
                missed = await self._backfill(room_id, room.timeline.prev_batch, since)
                events = (
                    [event_fields(e) for e in room.state]
                    + missed
                    + [event_fields(e) for e in room.timeline.events]
                )
            await self._portal_events(portal.conversation_id, room_id, events)
            if self.settings.track_unread:
                receipts = {
                    str(receipt.user_id)
                    for event in room.ephemeral
                    for receipt in getattr(event, "receipts", None) or ()
                    if getattr(receipt, "receipt_type", "") in READ_RECEIPTS
                }
                timeline = [event_fields(e) for e in room.timeline.events]
                await self._read(portal.conversation_id, receipts | speakers(timeline))

    async def _read(self, conversation_id: str, users: set[str]) -> None:
        """Members who read the portal (a read receipt, or a message of theirs) have nothing
        missed there any more."""
        mapping = self._spico_id_of()
        members = sorted({mapping[u] for u in users if u in mapping})
        if members:
            await self._store.run(
                functools.partial(
                    unread_repo.read, conversation_id=conversation_id, members=members
                )
            )

    async def _portal_events(
        self, conversation_id: str, room_id: str, events: list[dict[str, Any]]
    ) -> None:
        for event in events:
            await self._guarded(
                conversation_id,
                room_id,
                event,
                functools.partial(self._handle, conversation_id, room_id, event),
            )

    def needs_nothing(self, event: dict[str, Any]) -> bool:
        """A pushed event this source would ignore whatever happens: a message or state the
        bridge itself sent (its bot or a ghost); membership changes are always looked at."""
        sender = str(event.get("sender") or "")
        if event.get("type") == "m.room.member":
            return False
        return sender == self.settings.bot_user_id or self._is_ghost(sender)

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        """Appservice mode: the events of one pushed transaction, room by room in their order
        (invitations of the bot first, as a sync hands them); the same handling as a sync's."""
        bot = self.settings.bot_user_id
        by_room: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            room_id = str(event.get("room_id") or "")
            if not room_id:
                continue
            content = event.get("content") or {}
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == bot
                and content.get("membership") == "invite"
            ):
                await self.rooms.invited(room_id, str(event.get("sender") or ""))
                continue
            by_room.setdefault(room_id, []).append(event)
        if not by_room:
            return
        portals, managed = await self._store.run(functools.partial(rooms_of, room_ids=by_room))
        for room_id, room_events in by_room.items():
            portal = portals.get(room_id)
            # Read receipts come as ephemeral events (``receive_ephemeral``), journaled with
            # the transaction's events: they only clear what a member missed.
            receipts = [e for e in room_events if e.get("type") == "m.receipt"]
            room_events = [e for e in room_events if e.get("type") != "m.receipt"]
            if portal is None:
                if room_id in managed and room_events:
                    timeline = [RawEvent(e) for e in room_events]
                    await self.rooms.handle(
                        room_id, managed[room_id], timeline, self._guarded, self._remember
                    )
                continue
            await self._portal_events(portal.conversation_id, room_id, room_events)
            if self.settings.track_unread:
                readers = {u for e in receipts for u in receipt_readers(e.get("content"))}
                await self._read(portal.conversation_id, readers | speakers(room_events))

    async def _guarded(
        self,
        conversation_id: str,
        room_id: str,
        event: dict[str, Any],
        work: Callable[[], Awaitable[None]],
    ) -> None:
        """Handle one event so that it cannot stall the sync.

        An outage (SPICO, the homeserver) propagates: the batch is offered again later, for as
        long as it lasts. An event the homeserver refuses to let us answer is remembered as
        handled at once; one that keeps failing otherwise (a bug, a malformed event) is set
        aside after a few tries with a notice, and the sync goes on. Logs carry no content."""
        event_id = str(event.get("event_id") or "")
        try:
            await work()
        except PermanentFailure:
            log.warning("matrix: event in %s refused by the homeserver; not handled", room_id)
            await self._remember(conversation_id, room_id, event)
        except Exception as error:
            outage = is_outage(error, TRANSPORT_ERRORS)
            if not event_id or outage or not self._poison.failed(event_id):
                raise
            log.error(
                "matrix: an event in %s failed %d times (%s); set aside",
                room_id,
                POISON_ATTEMPTS,
                type(error).__name__,
            )
            with contextlib.suppress(Exception):
                await notice(
                    self._client,
                    room_id,
                    event_id,
                    notice_text("not_handled", self.settings.language),
                )
            await self._remember(conversation_id, room_id, event)
        else:
            if event_id:
                self._poison.succeeded(event_id)

    async def _backfill(self, room_id: str, start: str, since: str) -> list[dict[str, Any]]:
        """Events of a gap in a limited timeline, oldest first (a burst while we were down)."""
        older: list[dict[str, Any]] = []
        token: str | None = start
        while token:
            page = await self._client.call(
                "messages",
                self._client.nio.room_messages(
                    room_id,
                    start=token,
                    end=since,
                    direction=MessageDirection.back,
                    limit=BACKFILL_PAGE,
                ),
            )
            assert isinstance(page, RoomMessagesResponse)
            self._note_undecrypted(page.chunk)
            older.extend(event_fields(e) for e in page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        older.reverse()
        return older

    async def _handle(self, conversation_id: str, room_id: str, event: dict[str, Any]) -> None:
        if self._is_ghost(str(event.get("sender") or "")) or (
            event.get("type") == "m.room.member"
            and self._is_ghost(str(event.get("state_key") or ""))
        ):
            return  # the bridge's own ghosts (appservice mode): their membership is the sink's
        action = classify(event, self.settings.bot_user_id, self.settings.command_prefix)
        if isinstance(action, CheckMember):
            await self._check_member(conversation_id, room_id, action.user_id)
            return
        if not isinstance(action, Relay | Refuse | Command):
            return
        event_id = str(event.get("event_id") or "")
        if not event_id:
            return
        members = await self._store.run(
            functools.partial(
                unhandled_event_members, event_id=event_id, conversation=conversation_id
            )
        )
        if members is None:
            return  # handled before a restart or a retried batch
        language = self.settings.language
        spico_message_id: str | None = None
        if isinstance(action, Refuse):
            undecrypted = self._undecrypted.pop(event_id, None)
            if undecrypted is not None:
                await self._client.request_key(undecrypted)
            await notice(self._client, room_id, event_id, notice_text(action.reason, language))
        elif isinstance(action, Command):
            await self._command(conversation_id, room_id, event_id, action, members)
            return  # the executor marked the event handled with the user's new state
        else:
            outcome, spico_id = verdict(action.sender, members, self._spico_id_of())
            if spico_id is None:
                await notice(self._client, room_id, event_id, notice_text(outcome, language))
                await self._check_member(conversation_id, room_id, action.sender)
            else:
                result = await self._relay(conversation_id, room_id, event_id, spico_id, action)
                if result.accepted:
                    spico_message_id = result.spico_message_id
                elif not result.replayed:
                    reason = result.refusal or "refus"
                    if result.refusal_code in REFUSALS:  # a sentence rather than SPICO's
                        reason = refusal_text(result.refusal_code, reason, language)
                    await notice(
                        self._client,
                        room_id,
                        event_id,
                        notice_text("refused", language, reason=reason),
                    )
        await self._mark_seen(conversation_id, room_id, event_id, spico_message_id)

    async def _remember(self, conversation_id: str, room_id: str, event: dict[str, Any]) -> None:
        if event_id := str(event.get("event_id") or ""):
            await self._mark_seen(conversation_id, room_id, event_id)

    async def _mark_seen(
        self,
        conversation_id: str,
        room_id: str,
        event_id: str,
        spico_message_id: str | None = None,
    ) -> None:
        """An inbound event is never handled again (after a restart or a retried batch)."""
        await self._store.run(
            functools.partial(
                matrix_repo.save_event_link,
                event_id=event_id,
                room_id=room_id,
                conversation_id=conversation_id,
                spico_message_id=spico_message_id,
                direction="in",
            )
        )

    async def _relay(
        self, conversation_id: str, room_id: str, event_id: str, spico_id: str, action: Relay
    ) -> PostResult:
        # "Agir en tant que": the account the user chose with ``as``, checked again now.
        acting = await self._acting_as(action.sender, spico_id)
        if acting is None:
            return await self._revoked(room_id, event_id, action.sender, spico_id)
        attachments: tuple[Attachment, ...] = ()
        if action.file_url:
            limit = self.settings.max_file_bytes
            try:
                if action.file_size is not None and action.file_size > limit:
                    raise TooLarge(limit)
                body = await self._client.download(action.file_url, limit)
            except TooLarge:
                text = notice_text(
                    "file_too_large",
                    self.settings.language,
                    limit=megabytes(limit, self.settings.language),
                )
                await notice(self._client, room_id, event_id, text)
                return PostResult(accepted=False, replayed=True)  # answered: no 2nd notice
            if action.file_key is not None:
                # A file from an encrypted room (EncryptedFile): check its hash, decrypt it.
                try:
                    body = decrypt_attachment(
                        bytes(body), action.file_key, action.file_sha256 or "", action.file_iv or ""
                    )
                except EncryptionError:
                    text = notice_text("undecryptable", self.settings.language)
                    await notice(self._client, room_id, event_id, text)
                    return PostResult(accepted=False, replayed=True)  # answered: no 2nd notice
            attachments = (
                Attachment(
                    action.filename or "fichier",
                    action.content_type or "application/octet-stream",
                    body if isinstance(body, bytes) else bytes(body),
                ),
            )
        # SpicoUnavailable (or any error) propagates: the batch is offered again.
        return await self._post(
            InboundMessage(
                world=World.MATRIX,
                source_id=event_id,
                origin=conversation_id,
                conversation_id=conversation_id,
                author_id=spico_id,
                acting_as=acting,
                # SPICO wants a text with every message: a file alone is sent under its name.
                body=action.body or action.filename or "",
                attachments=attachments,
            )
        )

    async def _acting_as(self, matrix_user: str, spico_id: str) -> str | None:
        """The account the user's messages go out as: their own, or the one they chose while
        SPICO still lists it among their delegations (None: that delegation was withdrawn)."""
        async with self._store.transaction() as session:
            chosen = await commands_repo.acting_as(session, matrix_user, spico_id)
        if not chosen or chosen == spico_id:
            return spico_id
        try:  # SPICO unavailable propagates: the batch is offered again
            accounts = await self._post.composer.delegations(spico_id)
        except ComposerRefusal:
            accounts = []
        return chosen if any(account.id == chosen for account in accounts) else None

    async def _revoked(
        self, room_id: str, event_id: str, matrix_user: str, spico_id: str
    ) -> PostResult:
        """A message typed while acting under a withdrawn delegation: not posted (it was meant
        to go out as the other account), the user is back in their own name, and told."""
        async with self._store.transaction() as session:
            state = await commands_repo.get_state(session, matrix_user)
            name = (state.acting_name or state.acting_as) if state else None
            if state is not None:
                await commands_repo.save_state(
                    session, dataclasses.replace(state, acting_as=None, acting_name=None)
                )
        log.info("matrix: a message under a withdrawn delegation was not relayed")
        text = notice_text("delegation_revoked", self.settings.language, name=name or "—")
        await notice(self._client, room_id, event_id, text)
        return PostResult(accepted=False, replayed=True)  # answered: no 2nd notice

    async def _command(
        self,
        conversation_id: str,
        room_id: str,
        event_id: str,
        command: Command,
        members: tuple[str, ...],
    ) -> None:
        """A ``!spico`` command in a portal room: only the conversation's mapped members get
        answers; the executor answers and marks the event handled."""
        outcome, _ = verdict(command.sender, members, self._spico_id_of())
        if outcome != "ok":
            await notice(
                self._client, room_id, event_id, notice_text(outcome, self.settings.language)
            )
            await self._remember(conversation_id, room_id, {"event_id": event_id})
            return
        line = command.text or " ".join((command.name, *command.args))
        where = Where(room_id, event_id, conversation_id, members)
        await self.commands.run(
            command.sender, where, line, self.rooms.replier(event_id, command.sender, room_id)
        )

    def _note_undecrypted(self, events: list[Any]) -> None:
        """Keep the encrypted events nio could not decrypt, to ask for their keys."""
        for event in events:
            if isinstance(event, MegolmEvent) and event.event_id:
                self._undecrypted[event.event_id] = event

    async def _check_member(self, conversation_id: str, room_id: str, user_id: str) -> None:
        """Membership mirrors SPICO: anyone who is not a mapped member goes."""
        members = await self._store.run(
            functools.partial(conversation_members, conversation=conversation_id)
        )
        spico_id = self._spico_id_of().get(user_id)
        if spico_id is not None and spico_id in members:
            return
        reason = texts.text(self.settings.language, "kick_reason")
        outcome = await self._client.request(
            "kick", self._client.nio.room_kick(room_id, user_id, reason)
        )
        if not isinstance(outcome, MatrixError):
            log.info("matrix: removed a non-member from portal %s", room_id)


def rooms_of(
    connection: Connection, room_ids: Collection[str]
) -> tuple[dict[str, matrix_repo.PortalRow], dict[str, str]]:
    """Unit of work: which of a batch's rooms are portals, and which of the others are
    management rooms (with their owner)."""
    portals = matrix_repo.portals_by_room(connection, room_ids)
    others = [r for r in room_ids if r not in portals]
    return portals, commands_repo.management_rooms(connection, others)


def conversation_members(connection: Connection, conversation: str) -> tuple[str, ...]:
    """Unit of work: the conversation's SPICO members (none when it is unknown)."""
    snapshot = repo.get_conversations(connection, [conversation]).get(conversation)
    return snapshot.members if snapshot else ()


def unhandled_event_members(
    connection: Connection, event_id: str, conversation: str
) -> tuple[str, ...] | None:
    """Unit of work: None when the event was handled already (before a restart, or in a batch
    offered again), else the conversation's members, who may speak there."""
    if matrix_repo.event_linked(connection, event_id):
        return None
    return conversation_members(connection, conversation)


@dataclasses.dataclass(frozen=True, slots=True)
class RawEvent:
    """A pushed event where nio events are expected (``event_fields`` reads ``source``)."""

    source: dict[str, Any]


def only_own_events(response: SyncResponse, bot_user_id: str) -> bool:
    """Whether a sync batch holds nothing but the bot's own events (no invite, no gap, no read
    receipt)."""
    if response.rooms.invite or response.rooms.leave:
        return False
    for room in response.rooms.join.values():
        if room.timeline.limited or room.ephemeral:
            return False
        for event in (*room.state, *room.timeline.events):
            if getattr(event, "sender", None) != bot_user_id:
                return False
    return True


def echoes_in(response: SyncResponse) -> int:
    """How many timeline events a sync brought back (of a quiet batch, ``only_own_events``: the
    bot's own echoes); a sync answered from its raw JSON (``EchoesOnly``) says how many."""
    if isinstance(response, EchoesOnly):
        return response.echoes
    return sum(len(room.timeline.events) for room in response.rooms.join.values())


#: The receipts that mean "read" (a private one too: it is the member's own reading).
READ_RECEIPTS = ("m.read", "m.read.private")


def receipt_readers(content: Any) -> set[str]:
    """The users an ``m.receipt`` event's content says have read (pure; malformed parts are
    skipped): ``{event_id: {"m.read": {user_id: {...}}}}``."""
    if not isinstance(content, dict):
        return set()
    return {
        str(user)
        for by_type in content.values()
        if isinstance(by_type, dict)
        for kind in READ_RECEIPTS
        if isinstance(by_type.get(kind), dict)
        for user in by_type[kind]
    }


def speakers(events: list[dict[str, Any]]) -> set[str]:
    """Who wrote a message among ``events`` (raw): writing in a room is reading it."""
    return {
        str(event.get("sender"))
        for event in events
        if event.get("type") in ("m.room.message", "m.room.encrypted")
    }
