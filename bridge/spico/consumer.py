"""The SPICO event consumer: long-polls the feed and hands ordered batches to the bridge.

At-least-once: the consumer never stores a cursor itself. ``handle_batch`` must commit the events
it received together with the new cursor (the last event's seq); the consumer then continues
from that seq. After any failure it re-reads the cursor from ``load_cursor``, so a batch whose
handling failed is fetched again, and a batch that was committed is not.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from bridge.core.waiting import unless_stopped, wait_any
from bridge.spico.client import SpicoClient, SpicoHTTPError, SpicoUnavailable
from bridge.spico.models import EventPage, SpicoEvent

log = logging.getLogger(__name__)

#: Backoff after failures: full jitter over base * 2**failures, capped.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


class EventConsumer:
    """Feeds SPICO events, in seq order, to ``handle_batch`` until stopped."""

    def __init__(
        self,
        client: SpicoClient,
        load_cursor: Callable[[], Awaitable[int]],
        handle_batch: Callable[[list[SpicoEvent]], Awaitable[None]],
        *,
        wait: float = 25,
        limit: int = 100,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self._client = client
        self._load_cursor = load_cursor
        self._handle_batch = handle_batch
        self._wait = wait
        self._limit = limit
        self._backoff_cap = backoff_cap
        self._cursor: int | None = None

    @property
    def cursor(self) -> int | None:
        """The seq after which the next poll reads (None until loaded)."""
        return self._cursor

    async def _fetch(self) -> EventPage:
        if self._cursor is None:
            self._cursor = await self._load_cursor()
        return await self._client.long_poll_events(self._cursor, self._wait, self._limit)

    async def _deliver(self, page: EventPage) -> int:
        if not page.events:
            return 0
        try:
            await self._handle_batch(page.events)
        except BaseException:
            # The handler may have committed nothing: start again from what it stored.
            self._cursor = None
            raise
        self._cursor = page.events[-1].seq
        return len(page.events)

    async def poll_once(self) -> int:
        """One long-poll and the handling of its batch; returns the number of events handled."""
        return await self._deliver(await self._fetch())

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; failures are logged and retried, never raised.

        A pending long-poll is abandoned as soon as ``stop`` is set; a batch being handled is
        allowed to finish, so the handler's commit is never cut in the middle.
        """
        failures = 0
        while not stop.is_set():
            try:
                page = await unless_stopped(self._fetch(), stop)
                if page is None:
                    return
                await self._deliver(page)
                failures = 0
            except asyncio.CancelledError:
                raise
            except SpicoUnavailable as exc:
                failures += 1
                # The message names the request and the failure's type, never a body.
                log.warning("SPICO event feed unreachable (%s); retrying", exc)
            except SpicoHTTPError as exc:
                failures += 1
                log.warning("SPICO event feed refused a poll (%s %s)", exc.status, exc.code)
                self._cursor = None
            except Exception as exc:
                failures += 1
                # The exception text may quote event content: only its type is logged.
                log.warning(
                    "SPICO event batch handling failed (%s); will retry from the stored cursor",
                    type(exc).__name__,
                )
            if failures:
                delay = random.uniform(0, min(self._backoff_cap, BACKOFF_BASE * 2**failures))
                await wait_any(stop, within=delay)
