"""EventConsumer against the sandbox: order, at-least-once, restarts, outages, prompt stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from bridge.spico.client import SpicoClient
from bridge.spico.consumer import EventConsumer
from bridge.spico.models import SpicoEvent
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.spico.helpers import head_seq, start_conversation

SECRET_BODY = "Contenu médical à ne jamais journaliser"


class MemoryStore:
    """Stands in for the bridge journal: the batch and the cursor are committed together."""

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.events: list[SpicoEvent] = []
        self.fail_next = 0
        self.changed = asyncio.Event()

    async def load_cursor(self) -> int:
        return self.cursor

    async def handle_batch(self, batch: list[SpicoEvent]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError(f"journal write failed: {batch[0].data}")
        self.events.extend(batch)
        self.cursor = batch[-1].seq
        self.changed.set()

    def seqs(self) -> list[int]:
        return [event.seq for event in self.events]


async def wait_until(condition: Callable[[], bool], store: MemoryStore) -> None:
    """Wait (20 s at most) until ``condition`` holds after one of the store's commits."""
    async with asyncio.timeout(20):
        while not condition():
            store.changed.clear()
            await store.changed.wait()


async def test_poll_once_hands_ordered_batches(
    spico_client: SpicoClient, personas: Personas
) -> None:
    store = MemoryStore(await head_seq(spico_client))
    start = store.cursor
    consumer = EventConsumer(spico_client, store.load_cursor, store.handle_batch, wait=5)
    created = await start_conversation(spico_client, personas)
    assert await consumer.poll_once() == 2
    assert store.seqs() == [start + 1, start + 2]
    assert [e.type for e in store.events] == ["conversation.created", "message.posted"]
    assert store.events[0].conversation_id == created.conversation.id
    assert consumer.cursor == store.cursor == start + 2


async def test_failed_batch_is_delivered_again(
    spico_client: SpicoClient, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore(await head_seq(spico_client))
    start = store.cursor
    store.fail_next = 2
    await start_conversation(spico_client, personas, message=SECRET_BODY)
    consumer = EventConsumer(
        spico_client, store.load_cursor, store.handle_batch, wait=2, backoff_cap=0.2
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="bridge.spico.consumer"):
        task = asyncio.create_task(consumer.run(stop))
        await wait_until(lambda: len(store.events) >= 2, store)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert store.seqs() == [start + 1, start + 2]
    assert len([r for r in caplog.records if "RuntimeError" in r.getMessage()]) == 2
    assert SECRET_BODY not in caplog.text


async def test_stop_ends_a_pending_long_poll_promptly(spico_client: SpicoClient) -> None:
    store = MemoryStore(await head_seq(spico_client) + 10_000)
    consumer = EventConsumer(spico_client, store.load_cursor, store.handle_batch, wait=30)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(0.3)
    assert not task.done()
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 2


async def test_unreachable_spico_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore(0)
    async with SpicoClient(f"http://127.0.0.1:{free_port()}/api/v1", "t", max_attempts=1) as client:
        consumer = EventConsumer(
            client, store.load_cursor, store.handle_batch, wait=1, backoff_cap=0.1
        )
        stop = asyncio.Event()
        with caplog.at_level(logging.WARNING, logger="bridge.spico.consumer"):
            task = asyncio.create_task(consumer.run(stop))
            await asyncio.sleep(1.0)
            assert not task.done()
            stop.set()
            await asyncio.wait_for(task, 2)
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) >= 2
    assert store.events == []


async def test_resumes_across_a_sandbox_restart_without_loss_or_duplicate(
    spico_sandbox: SandboxProcess, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, max_attempts=2) as client:
        store = MemoryStore(await head_seq(client))
        start = store.cursor
        consumer = EventConsumer(
            client, store.load_cursor, store.handle_batch, wait=2, backoff_cap=0.3
        )
        stop = asyncio.Event()
        with caplog.at_level(logging.WARNING, logger="bridge.spico.consumer"):
            task = asyncio.create_task(consumer.run(stop))
            before = await start_conversation(client, personas, message=SECRET_BODY)
            await wait_until(lambda: len(store.events) >= 2, store)

            await asyncio.to_thread(spico_sandbox.restart)
            after = await start_conversation(client, personas, message=SECRET_BODY)
            await wait_until(lambda: len(store.events) >= 4, store)
            stop.set()
            await asyncio.wait_for(task, 5)

        assert store.seqs() == list(range(start + 1, start + 5))
        assert [e.conversation_id for e in store.events] == [before.conversation.id] * 2 + [
            after.conversation.id
        ] * 2
        assert SECRET_BODY not in caplog.text
        replayed = await client.get_events(start, limit=10)
        assert [e.seq for e in replayed.events] == store.seqs()

        # A new consumer (a restarted bridge) resumes from the stored cursor: nothing again.
        fresh = EventConsumer(client, store.load_cursor, store.handle_batch, wait=0.3)
        assert await fresh.poll_once() == 0
        assert (await client.get_events(0, limit=1)).head_seq == start + 4
