"""The mail world: the sink (threads, notifications) and the sources (IMAP reader, digests).

A reload (SIGHUP) applies the re-read ``mail:`` settings at once: the trust space (trusted
domains, whitelist), the notification template, the participants' addresses, the caps; SMTP
and IMAP reconnect when their settings changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bridge.config import BridgeConfig
from bridge.core.delivery import InboundPoster
from bridge.core.model import Participant, World
from bridge.core.waiting import wait_any
from bridge.mail.inbound import MailInbox
from bridge.mail.outbound import MailSink
from bridge.mail.receiver import Receiver
from bridge.mail.settings import MailSettings, settings_from
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

#: How often due notification digests are looked for.
DIGEST_POLL_SECONDS = 15.0
#: How often one-time link codes waiting to be mailed are looked for (a user waits for them).
LINK_CODE_POLL_SECONDS = 2.0


@dataclass(slots=True)
class MailWorld:
    """A ``WorldAdapter`` for MSSanté-style secure mail (wired by ``build_world``)."""

    world = World.MAIL

    settings: MailSettings
    sink: MailSink
    inbox: MailInbox
    #: The mail world never refuses to run.
    refusal: str | None = None

    @property
    def ready(self) -> bool:
        """Ready while the IMAP side follows the mailbox (SMTP connects on demand)."""
        return self.inbox.connected

    async def start(self, stop: asyncio.Event) -> None:
        """Nothing to prepare: SMTP connects on demand."""

    async def reload(self, config: BridgeConfig, configured: Mapping[str, Participant]) -> None:
        """SIGHUP: the new settings and participants apply to the next mail in and out."""
        settings = settings_from(config)
        self.settings = settings
        await self.sink.reload(settings, configured)
        self.inbox.reload(settings, configured)
        log.info("mail: settings reloaded (trust space, templates, addresses)")

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.inbox.run(stop), self._digests(stop), self._link_codes(stop))

    async def _digests(self, stop: asyncio.Event) -> None:
        if not (self.settings.notifications_enabled and self.settings.notification_digests):
            return
        await self._every(stop, DIGEST_POLL_SECONDS, self.sink.send_due_digests, "digests")

    async def _link_codes(self, stop: asyncio.Event) -> None:
        """The one-time codes of the Matrix ``lier`` command, queued in the store."""
        await self._every(stop, LINK_CODE_POLL_SECONDS, self.sink.send_link_codes, "link codes")

    @staticmethod
    async def _every(
        stop: asyncio.Event, seconds: float, work: Callable[[], Awaitable[int]], what: str
    ) -> None:
        """Run ``work`` every ``seconds`` until stopped; its trouble is logged by type."""
        while not stop.is_set():
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("%s: %s", what, type(exc).__name__)
            await wait_any(stop, within=seconds)

    async def close(self) -> None:
        await self.inbox.close()
        await self.sink.close()


def build_world(
    config: BridgeConfig,
    store: Store,
    post: InboundPoster,
    configured: Mapping[str, Participant],
) -> MailWorld:
    settings = settings_from(config)
    sink = MailSink(settings, store, fetch_attachment=post.fetch_attachment, configured=configured)
    inbox = MailInbox(settings, store, Receiver(settings, store, post, configured, sink))
    return MailWorld(settings, sink, inbox)
