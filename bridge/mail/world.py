"""The mail world: the sink (threads, notifications) and the sources (IMAP reader, digests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from bridge.config import BridgeConfig
from bridge.core.delivery import InboundPoster
from bridge.core.model import Participant, World
from bridge.mail.inbound import MailInbox
from bridge.mail.outbound import MailSink
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

#: How often due notification digests are looked for.
DIGEST_POLL_SECONDS = 15.0


class MailWorld:
    """A ``WorldAdapter`` for MSSanté-style secure mail."""

    world = World.MAIL

    def __init__(
        self,
        config: BridgeConfig,
        store: Store,
        post: InboundPoster,
        configured: Mapping[str, Participant],
    ) -> None:
        self.sink = MailSink(config, store, fetch_attachment=post.fetch_attachment)
        self.inbox = MailInbox(config, store, post, configured, self.sink)
        self._config = config

    @property
    def ready(self) -> bool:
        """Ready while the IMAP side follows the mailbox (SMTP connects on demand)."""
        return self.inbox.connected

    async def start(self, stop: asyncio.Event) -> None:
        """Nothing to prepare: SMTP connects on demand."""

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.inbox.run(stop), self._digests(stop))

    async def _digests(self, stop: asyncio.Event) -> None:
        if not (self._config.notifications.enabled and self._config.notifications.digest):
            return
        while not stop.is_set():
            try:
                await self.sink.send_due_digests()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("notification digests: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DIGEST_POLL_SECONDS)

    async def close(self) -> None:
        await self.sink.close()


def build_world(
    config: BridgeConfig,
    store: Store,
    post: InboundPoster,
    configured: Mapping[str, Participant],
) -> MailWorld:
    return MailWorld(config, store, post, configured)
