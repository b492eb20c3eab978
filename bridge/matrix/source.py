"""The Matrix sync loop: portal room events → SPICO posts, notices and kicks.

Sync discipline: a filter (lazy-loaded members, short timelines, no presence or account data)
keeps start-up fast with thousands of rooms; the first start records the current position
without replaying history; the ``next_batch`` token is stored only after its batch was
processed. When SPICO is unreachable the batch is processed again from the same token (events
already handled are skipped through ``matrix_event_links``; posts are idempotent anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from nio import MessageDirection, RoomMessagesResponse, SyncResponse

from bridge.core.delivery import (
    Attachment,
    InboundMessage,
    InboundPoster,
    PermanentFailure,
    PostResult,
)
from bridge.core.model import World
from bridge.matrix.client import MatrixClient, MatrixError, event_fields
from bridge.matrix.formatting import members_text, notice_content, notice_text
from bridge.matrix.inbound import CheckMember, Command, Refuse, Relay, classify, verdict
from bridge.matrix.portal_state import KICK_REASON
from bridge.matrix.sink import PortalSettings, person_of
from bridge.store import matrix as mrepo
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

SYNC_CURSOR = "matrix:sync"
SYNC_TIMEOUT_MS = 25_000
TIMELINE_LIMIT = 50
BACKFILL_PAGE = 100
MAX_BACKOFF_SECONDS = 30.0

SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": TIMELINE_LIMIT},
        "state": {"lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}
#: The first sync only learns where "now" is: no history of any room.
FIRST_SYNC_FILTER: dict[str, Any] = {
    **SYNC_FILTER,
    "room": {**SYNC_FILTER["room"], "timeline": {"limit": 0}, "state": {"types": []}},
}


def _txn(kind: str, event_id: str) -> str:
    """A deterministic transaction id for what the bridge says about an event."""
    return f"{kind}-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


class MatrixSource:
    """Consumes the bot's sync stream for the portal rooms."""

    def __init__(
        self,
        client: MatrixClient,
        store: Store,
        settings: PortalSettings,
        post: InboundPoster,
        spico_id_of: Callable[[], Mapping[str, str]],
    ) -> None:
        self._client = client
        self._store = store
        self.settings = settings
        self._post = post
        self._spico_id_of = spico_id_of
        self.synced = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                await self._client.ensure_logged_in()
                async with self._store.transaction() as session:
                    since = await repo.get_cursor(session, SYNC_CURSOR)
                response = await self._sync(since, stop)
                if response is None:
                    return
                if since is not None:
                    await self.process(response, since)
                async with self._store.transaction() as session:
                    await repo.set_cursor(session, SYNC_CURSOR, response.next_batch)
                self.synced.set()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("matrix sync: %s; retrying in %.0fs", _describe(exc), backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _sync(self, since: str | None, stop: asyncio.Event) -> SyncResponse | None:
        """One sync (long-poll), interrupted by ``stop`` (then None)."""
        request = asyncio.ensure_future(
            self._client.call(
                "sync",
                self._client.nio.sync(
                    timeout=SYNC_TIMEOUT_MS if since else 0,
                    sync_filter=SYNC_FILTER if since else FIRST_SYNC_FILTER,
                    since=since,
                    full_state=False,
                ),
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({request, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not request.done():
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            return None
        response = request.result()
        assert isinstance(response, SyncResponse)
        return response

    async def process(self, response: SyncResponse, since: str) -> None:
        rooms = response.rooms.join
        async with self._store.transaction() as session:
            portals = await mrepo.portals_by_room(session, rooms)
        for room_id, room in rooms.items():
            portal = portals.get(room_id)
            if portal is None:
                continue
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
            for event in events:
                try:
                    await self._handle(portal.conversation_id, room_id, event)
                except PermanentFailure as failure:
                    # One event the homeserver refuses to let us answer must not stall the
                    # sync: log it (no content), remember it as handled, go on.
                    log.warning("matrix: event in portal %s not handled: %s", room_id, failure)
                    await self._remember(portal.conversation_id, room_id, event)

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
            older.extend(event_fields(e) for e in page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        older.reverse()
        return older

    async def _handle(self, conversation_id: str, room_id: str, event: dict[str, Any]) -> None:
        action = classify(event, self.settings.bot_user_id, self.settings.command_prefix)
        if isinstance(action, CheckMember):
            await self._check_member(conversation_id, room_id, action.user_id)
            return
        if not isinstance(action, Relay | Refuse | Command):
            return
        event_id = str(event.get("event_id") or "")
        if not event_id:
            return
        async with self._store.transaction() as session:
            if await mrepo.get_event_link(session, event_id) is not None:
                return  # handled before a restart or a retried batch
            snapshot = await repo.get_conversation(session, conversation_id)
        members = snapshot.members if snapshot else ()
        language = self.settings.language
        spico_message_id: str | None = None
        if isinstance(action, Refuse):
            await self._notice(room_id, event_id, notice_text(action.reason, language))
        elif isinstance(action, Command):
            await self._command(room_id, event_id, action, members)
        else:
            outcome, spico_id = verdict(action.sender, members, self._spico_id_of())
            if spico_id is None:
                await self._notice(room_id, event_id, notice_text(outcome, language))
                await self._check_member(conversation_id, room_id, action.sender)
            else:
                result = await self._relay(conversation_id, room_id, event_id, spico_id, action)
                if result.accepted:
                    spico_message_id = result.spico_message_id
                elif not result.replayed:
                    reason = result.refusal or "refus"
                    await self._notice(
                        room_id, event_id, notice_text("refused", language, reason=reason)
                    )
        async with self._store.transaction() as session:
            await mrepo.save_event_link(
                session,
                event_id=event_id,
                room_id=room_id,
                conversation_id=conversation_id,
                spico_message_id=spico_message_id,
                direction="in",
            )

    async def _remember(self, conversation_id: str, room_id: str, event: dict[str, Any]) -> None:
        event_id = str(event.get("event_id") or "")
        if not event_id:
            return
        async with self._store.transaction() as session:
            await mrepo.save_event_link(
                session,
                event_id=event_id,
                room_id=room_id,
                conversation_id=conversation_id,
                spico_message_id=None,
                direction="in",
            )

    async def _relay(
        self, conversation_id: str, room_id: str, event_id: str, spico_id: str, action: Relay
    ) -> PostResult:
        attachments: tuple[Attachment, ...] = ()
        if action.file_url:
            downloaded = await self._client.call(
                "download", self._client.nio.download(mxc=action.file_url)
            )
            body = getattr(downloaded, "body", b"")
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
                acting_as=spico_id,
                body=action.body,
                attachments=attachments,
            )
        )

    async def _command(
        self, room_id: str, event_id: str, command: Command, members: tuple[str, ...]
    ) -> None:
        """Answer a command in the room. Only the conversation's mapped members get answers."""
        language = self.settings.language
        prefix = self.settings.command_prefix
        outcome, _ = verdict(command.sender, members, self._spico_id_of())
        if outcome != "ok":
            await self._notice(room_id, event_id, notice_text(outcome, language))
            return
        if command.name in ("members", "membres"):
            async with self._store.transaction() as session:
                rows = await repo.get_professionals(session, members)
            matrix_users = {spico: user for user, spico in self._spico_id_of().items()}
            people = [person_of(m, rows.get(m)) for m in members]
            text = members_text(people, matrix_users, language)
        elif command.name in ("help", "aide"):
            text = notice_text("help", language, prefix=prefix)
        else:
            text = notice_text("unknown", language, name=command.name[:40], prefix=prefix)
        await self._notice(room_id, event_id, text)

    async def _notice(self, room_id: str, event_id: str, text: str) -> None:
        content = notice_content(text)
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": event_id}}
        await self._client.call(
            "notice",
            self._client.nio.room_send(
                room_id,
                "m.room.message",
                content,
                tx_id=_txn("notice", event_id),
                ignore_unverified_devices=True,
            ),
        )

    async def _check_member(self, conversation_id: str, room_id: str, user_id: str) -> None:
        """Membership mirrors SPICO: anyone who is not a mapped member goes."""
        async with self._store.transaction() as session:
            snapshot = await repo.get_conversation(session, conversation_id)
        members = set(snapshot.members) if snapshot else set()
        spico_id = self._spico_id_of().get(user_id)
        if spico_id is not None and spico_id in members:
            return
        outcome = await self._client.request(
            "kick", self._client.nio.room_kick(room_id, user_id, KICK_REASON)
        )
        if not isinstance(outcome, MatrixError):
            log.info("matrix: removed a non-member from portal %s", room_id)


def _describe(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
