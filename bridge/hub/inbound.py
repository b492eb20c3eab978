"""Inbound: what the worlds send back goes to SPICO, once, and is not echoed to its origin.

A spoke message is recorded (``inbound_links``) before it is posted, under an idempotency key
derived from the spoke's own id. A retry after a timeout, or a re-delivery after a crash, posts
the same key again and SPICO replays the original message instead of making a copy. The
``message.posted`` event that comes back carries the key, which the fan-out looks up to skip
the origin.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import partial

from sqlalchemy import Connection

from bridge.core.delivery import BRIDGE_WORLD, Attachment, InboundMessage, PostResult
from bridge.core.errors import TooLarge
from bridge.core.waiting import wait_any
from bridge.hub.composer import SpicoComposerAdapter
from bridge.hub.texts import failure_notice
from bridge.metrics import INBOUND
from bridge.spico.client import (
    SpicoClient,
    SpicoHTTPError,
    SpicoNotFound,
    SpicoTooLarge,
    SpicoUnavailable,
)
from bridge.spico.models import NewAttachment
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200
NOTICE_POLL_SECONDS = 5.0


def idempotency_key(world: str, source_id: str) -> str:
    """``world:source_id``, hashed when too long for SPICO's key column."""
    key = f"{world}:{source_id}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return f"{world}:sha256:{hashlib.sha256(source_id.encode()).hexdigest()}"


class SpicoPoster:
    """Posts authenticated spoke messages to SPICO as their author (an ``InboundPoster``)."""

    def __init__(self, store: Store, client: SpicoClient) -> None:
        self._store = store
        self._client = client
        #: The composer features (search, new conversation…) for the worlds' commands.
        self.composer = SpicoComposerAdapter(client)

    async def __call__(self, message: InboundMessage) -> PostResult:
        key = idempotency_key(message.world.value, message.source_id)
        link = await self._store.run(
            partial(
                repo.record_inbound,
                idempotency_key=key,
                world=message.world.value,
                origin=message.origin,
                conversation_id=message.conversation_id,
                author_id=message.author_id,
            )
        )
        if link.state == "posted":
            return PostResult(True, link.spico_message_id, replayed=True)
        if link.state == "refused":
            return PostResult(False, refusal="already refused", replayed=True)
        try:
            posted = await self._client.post_message(
                message.conversation_id,
                on_behalf_of=message.author_id,
                acting_as=message.acting_as,
                body=message.body,
                idempotency_key=key,
                attachments=[
                    NewAttachment(filename=a.filename, content_type=a.content_type, content=a.data)
                    for a in message.attachments
                ],
            )
        except SpicoHTTPError as refusal:
            await self._record_outcome(message, key, None, refusal.code)
            return PostResult(False, refusal=refusal.message, refusal_code=refusal.code)
        # SpicoUnavailable propagates: the spoke keeps its cursor and offers the message again.
        await self._record_outcome(message, key, posted.id, None)
        return PostResult(True, posted.id)

    async def fetch_attachment(
        self, attachment_id: str, filename: str, content_type: str
    ) -> Attachment:
        """The bytes of a SPICO attachment, for a world that forwards it (Matrix media, mail);
        one over the client's cap raises ``TooLarge`` (it stays in SPICO)."""
        try:
            content = await self._client.get_attachment(attachment_id)
        except SpicoTooLarge as too_large:
            raise TooLarge(too_large.limit) from None
        return Attachment(filename, content.content_type or content_type, content.content)

    async def _record_outcome(
        self,
        message: InboundMessage,
        key: str,
        spico_message_id: str | None,
        refusal_code: str | None,
    ) -> None:
        refused = spico_message_id is None
        INBOUND.labels(message.world.value, "refused" if refused else "done").inc()
        audit = repo.AuditRecord(
            world=message.world.value,
            action="inbound.post",
            outcome="refused" if refused else "done",
            actor_id=message.author_id,
            conversation_id=message.conversation_id,
            destination="spico",
            detail=refusal_code,
        )

        def record_outcome(connection: Connection) -> None:
            repo.mark_inbound(
                connection,
                key,
                state="refused" if refused else "posted",
                spico_message_id=spico_message_id,
            )
            repo.add_audits(connection, [audit])

        await self._store.run(record_outcome)


class NoticePoster:
    """Posts the queued failure notices to their conversations (at least once, one each).

    They are written in SPICO's language (French) unless told otherwise."""

    def __init__(self, store: Store, client: SpicoClient, language: str = "fr") -> None:
        self._store = store
        self._client = client
        self._language = language
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def post_pending(self) -> int:
        pending = await self._store.run(
            partial(repo.pending_inbound, world=BRIDGE_WORLD), heavy=True
        )
        posted = 0
        for link in pending:
            world, _, destination = link.origin.partition(":")
            body = failure_notice(world, destination, self._language)
            try:
                notice = await self._client.post_notice(
                    link.conversation_id,
                    body=body,
                    about=link.origin,
                    idempotency_key=link.idempotency_key,
                )
            except SpicoNotFound:
                await self._store.run(
                    partial(
                        repo.mark_inbound,
                        idempotency_key=link.idempotency_key,
                        state="refused",
                        spico_message_id=None,
                    )
                )
                continue
            except (SpicoUnavailable, SpicoHTTPError) as exc:
                log.warning("failure notice not posted yet (%s); will retry", type(exc).__name__)
                break
            await self._store.run(
                partial(
                    repo.mark_inbound,
                    idempotency_key=link.idempotency_key,
                    state="posted",
                    spico_message_id=notice.id,
                )
            )
            posted += 1
        return posted

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.post_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("failure notices: %s", type(exc).__name__)
            self._wakeup.clear()
            await wait_any(self._wakeup, stop, within=NOTICE_POLL_SECONDS)


__all__ = ["NoticePoster", "SpicoPoster", "idempotency_key"]
