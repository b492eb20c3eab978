"""Observers that timestamp each marked message when it shows up where a user would see it,
and the two ways the bench sends: a burst (throughput) and one at a time (latency). Every
bridged message starts as a SPICO post (``spico_sender``).

- ``RoomWatcher``: another Matrix user's syncing client (matrix-nio long-poll ``/sync``).
- ``MaildirWatcher``: the recipient's mailbox as Dovecot stores it (its Maildir, scanned every
  few milliseconds: an IMAP IDLE client would only add Dovecot's fixed ~0.5 s notification delay,
  the same on both sides of the comparison).
- ``SpicoWatcher``: SPICO's event feed (long-poll), for replies that reach SPICO.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from nio import AsyncClient, SyncResponse

from bridge.bench.stats import (
    Latency,
    Row,
    at_least,
    latencies,
    marker,
    markers_in,
    ratio,
    throughput,
)
from bridge.spico.client import SpicoClient

Send = Callable[[str], Awaitable[None]]


def spico_sender(client: SpicoClient, conversation: str, author: str, run: str) -> Send:
    """Posts a text to a SPICO conversation as ``author`` (what the bridge then relays)."""

    async def send(text: str) -> None:
        await client.post_message(
            conversation,
            on_behalf_of=author,
            acting_as=author,
            body=text,
            idempotency_key=f"{run}-{text.replace(' ', '-')}",
        )

    return send


async def open_conversation(
    client: SpicoClient, author: str, members: list[str], subject: str, tag: str, run: str
) -> str:
    """The id of a new conversation ``author`` opens with ``members``; its first message is
    the marker ``<tag>-first 0``, which the bench waits for where the members read."""
    created = await client.create_conversation(
        on_behalf_of=author,
        acting_as=author,
        members=members,
        subject=subject,
        message=marker(f"{tag}-first", 0),
        idempotency_key=f"{run}-{tag}-conversation",
    )
    return created.conversation.id


class Watcher:
    """Records when each marked message is first seen; the measuring code waits on it."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._news = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _saw(self, texts: Iterable[str], at: float) -> None:
        for text in texts:
            for key in markers_in(text):
                self.seen.setdefault(key, at)
        self._news.set()

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def wait_for(self, keys: Iterable[str], within: float) -> None:
        """Until every key is seen; fails (with the count missing) after ``within`` seconds."""
        wanted = list(keys)
        deadline = time.monotonic() + within
        while missing := [key for key in wanted if key not in self.seen]:
            if self._task is not None and self._task.done():
                self._task.result()  # the observer failed: raise its error
                raise RuntimeError("the observer stopped")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(missing)} of {len(wanted)} messages never seen")
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 1.0))


class RoomWatcher(Watcher):
    """A Matrix member's client syncing some of its rooms (one sync for them all)."""

    def __init__(self, client: AsyncClient, *room_ids: str) -> None:
        super().__init__()
        self._client = client
        self._room_ids = room_ids
        self._filter = {
            "room": {
                "rooms": list(room_ids),
                "timeline": {"limit": 1000},
                "state": {"lazy_load_members": True},
                "ephemeral": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
            },
            "presence": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
        }

    async def catch_up(self) -> None:
        """One immediate sync: what is already in the room is not news."""
        await self._sync(0)

    async def _sync(self, timeout_ms: int) -> None:
        response = await self._client.sync(timeout=timeout_ms, sync_filter=self._filter)
        at = time.perf_counter()
        if not isinstance(response, SyncResponse):
            raise RuntimeError(f"sync failed: {response}")
        for room_id in self._room_ids:
            room = response.rooms.join.get(room_id)
            if room is not None:
                events = room.timeline.events
                self._saw((str(e.source.get("content", {}).get("body", "")) for e in events), at)

    async def _run(self) -> None:
        while True:
            await self._sync(30_000)


class MaildirWatcher(Watcher):
    """A mailbox's Maildir (``new/`` and ``cur/``), scanned every ``every`` seconds."""

    def __init__(self, maildir: Path, every: float = 0.005) -> None:
        super().__init__()
        self._maildir = maildir
        self._every = every
        self._known = set(self._names())
        #: The last mail seen that can be answered (has a Reply-To): the reply section's.
        self.last_thread_mail: EmailMessage | None = None

    def _names(self) -> Iterable[tuple[str, Path]]:
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(self._maildir / sub):
                    yield name.split(":", 1)[0], self._maildir / sub / name

    async def _run(self) -> None:
        while True:
            for unique, path in list(self._names()):
                if unique in self._known:
                    continue
                try:
                    raw = path.read_bytes()
                except FileNotFoundError:
                    continue  # moved from new/ to cur/ meanwhile: found there next scan
                at = time.perf_counter()
                self._known.add(unique)
                mail = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(mail, EmailMessage)
                if mail["Reply-To"]:
                    self.last_thread_mail = mail
                body = mail.get_body(("plain",))
                text = str(body.get_content()) if body is not None else ""
                self._saw([str(mail["Subject"] or ""), text], at)
            await asyncio.sleep(self._every)


class SpicoWatcher(Watcher):
    """SPICO's event feed from its current head: the messages posted from now on."""

    def __init__(self, client: SpicoClient) -> None:
        super().__init__()
        self._client = client
        self._after = 0

    async def catch_up(self) -> None:
        self._after = (await self._client.get_events(0, limit=1)).head_seq

    async def _run(self) -> None:
        while True:
            page = await self._client.long_poll_events(self._after, 20, limit=1000)
            at = time.perf_counter()
            bodies = [
                str((event.data.get("message") or {}).get("body") or "")
                for event in page.events
                if event.type == "message.posted"
            ]
            self._saw(bodies, at)
            self._after = page.last_seq


@dataclass
class Phase:
    """When each message of a phase was sent, and when it was seen."""

    sent: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)

    def latency(self) -> Latency:
        return Latency.of(latencies(self.sent, self.seen))


#: The same phase sent direct and bridged: two bursts one after the other, or the messages of
#: two ways taking turns (``one_by_one_alternated``).
Pair = tuple[Phase, Phase]


@dataclass(frozen=True, slots=True)
class Throughputs:
    """Messages per second over alternated pairs of bursts (this machine's speed drifts within
    seconds: a pair's two bursts see the same machine): the medians, each pair's share."""

    direct: float
    bridged: float
    shares: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[Pair]) -> Throughputs:
        rates = [
            (throughput(direct.sent, direct.seen), throughput(bridged.sent, bridged.seen))
            for direct, bridged in pairs
        ]
        return cls(
            statistics.median(direct for direct, _ in rates),
            statistics.median(bridged for _, bridged in rates),
            tuple(ratio(bridged, direct) for direct, bridged in rates),
        )

    @property
    def share(self) -> float:
        """The median of the pairs' bridged ÷ direct."""
        return statistics.median(self.shares)

    def each(self, world: str) -> list[Row]:
        """A row of each pair's share, when there are several."""
        if len(self.shares) < 2:
            return []
        return [
            Row(
                f"{world}: throughput bridged ÷ direct, each of {len(self.shares)} alternated "
                "bursts",
                " / ".join(f"{share:.2f}" for share in self.shares),
            )
        ]


def throughput_rows(heading: str, world: str, pairs: Sequence[Pair], target: float) -> list[Row]:
    """A section's first rows: how many a second arrive direct and bridged (``heading``), the
    bridged share of the direct rate (at least ``target``), then each pair's share (medians
    over several pairs)."""
    rates = Throughputs.of(pairs)
    return [
        Row(heading, f"{rates.direct:.1f} / {rates.bridged:.1f}"),
        Row(
            f"{world}: throughput bridged ÷ direct",
            f"{rates.share:.2f}",
            at_least(rates.share, target, f"≥ {target}"),
        ),
        *rates.each(world),
    ]


def _within(count: int) -> float:
    return 60.0 + count * 0.5


async def burst(send: Send, watcher: Watcher, tag: str, count: int) -> Phase:
    """Send ``count`` messages back to back (each send awaited), then wait for all of them."""
    phase = Phase()
    for number in range(count):
        key = marker(tag, number)
        phase.sent[key] = time.perf_counter()
        await send(key)
    await watcher.wait_for(phase.sent, _within(count))
    phase.seen = {key: watcher.seen[key] for key in phase.sent}
    return phase


async def one_by_one(
    send: Send, watcher: Watcher, tag: str, count: int, pause: float = 0.05
) -> Phase:
    """Send a message, wait until it is seen, pause, send the next: the latency of a message
    that finds the system idle (the pause lets the bridge finish its bookkeeping first)."""
    phase = Phase()
    for number in range(count):
        if number:
            await asyncio.sleep(pause)
        await _send_and_see(send, watcher, phase, marker(tag, number))
    return phase


async def _send_and_see(send: Send, watcher: Watcher, phase: Phase, key: str) -> None:
    """Send one message and wait until it is seen, timing both in ``phase``."""
    phase.sent[key] = time.perf_counter()
    await send(key)
    await watcher.wait_for([key], _within(1))
    phase.seen[key] = watcher.seen[key]


async def one_by_one_alternated(
    sends: tuple[Send, Send],
    watcher: Watcher,
    tags: tuple[str, str],
    count: int,
    pause: float = 0.05,
) -> Pair:
    """``count`` messages each way (direct, bridged), one at a time as ``one_by_one`` sends
    them, the two ways taking turns message by message: both see the same machine, which two
    phases a minute apart do not. ``watcher`` sees both rooms."""
    phases = (Phase(), Phase())
    for number in range(count):
        for send, tag, phase in zip(sends, tags, phases, strict=True):
            if number or phase is phases[1]:
                await asyncio.sleep(pause)
            await _send_and_see(send, watcher, phase, marker(tag, number))
    return phases
