"""The hub in one process against the real sandbox: inbound posts without echo, failure notices.

The bridge runs in-process (``bridge.app.serve``) with the recording sink in place of Matrix and
mail, on SQLite and PostgreSQL; SPICO is the sandbox subprocess, over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.app import serve
from bridge.config import load_config
from bridge.core.delivery import InboundMessage
from bridge.core.model import World
from bridge.hub.inbound import SpicoPoster, idempotency_key
from bridge.spico.client import SpicoClient
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.waiting import eventually

TIMEOUT = 30.0


@dataclass
class RunningBridge:
    store: Store
    sink: Path
    poster: SpicoPoster

    def received(self) -> list[tuple[str, str, str, str | None]]:
        if not self.sink.exists():
            return []
        with sqlite3.connect(self.sink, timeout=30) as connection:
            return connection.execute(
                "SELECT world, destination, kind, message_id FROM received ORDER BY rowid"
            ).fetchall()


@pytest.fixture
async def running_bridge(
    database_url: str,
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    tmp_path: Path,
) -> AsyncIterator[RunningBridge]:
    by_mail, in_matrix = personas.colleagues[0], personas.colleagues[1]
    refused = personas.colleagues[2]
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=database_url,
        poll_wait_seconds=2,
        participants=[
            {"spico_id": by_mail, "mail": "lecteur@relay.mssante.fr", "delivery": "mail"},
            {"spico_id": in_matrix, "matrix_user": "@matrix:localhost", "delivery": "matrix"},
            {"spico_id": refused, "mail": "refuse@relay.mssante.fr", "delivery": "mail"},
        ],
        testing={"fail_permanently": [f"mail:{refused}"]},
        delivery={
            "workers": 2,
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.2,
            "max_attempts": 3,
        },
    )
    config = load_config(path)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    store = await Store.open(config.database_url)

    # The bridge is running once its first start has fixed the SPICO cursor.
    async def cursor_set() -> bool:
        async with store.transaction() as session:
            return await repo.in_session(session, repo.get_cursor, "spico:events") is not None

    deadline = time.monotonic() + TIMEOUT
    while not await cursor_set():
        assert time.monotonic() < deadline and not task.done(), "the bridge did not start"
        await asyncio.sleep(0.05)
    try:
        yield RunningBridge(
            store, Path(config.testing.recording_sink), SpicoPoster(store, spico_client)
        )
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
        await store.close()


async def test_spoke_message_is_posted_once_and_not_echoed_even_when_retried(
    running_bridge: RunningBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor, by_mail, in_matrix = personas.doctor, personas.colleagues[0], personas.colleagues[1]
    created = await open_conversation(spico_client, doctor, [by_mail, in_matrix], "Écho", "premier")
    conversation = created.conversation.id
    message = InboundMessage(
        world=World.MATRIX,
        source_id="$event-from-matrix:localhost",
        origin=conversation,
        conversation_id=conversation,
        author_id=in_matrix,
        acting_as=in_matrix,
        body="réponse depuis Matrix",
    )
    # SPICO commits the post, but its answer is lost: the client's retry must be replayed.
    await spico_client.inject_failures(1, 503, after_processing=True)
    first = await running_bridge.poster(message)
    again = await running_bridge.poster(message)  # the spoke offers it again after a restart
    assert first.accepted and again.accepted and again.replayed
    assert first.spico_message_id == again.spico_message_id

    messages = await spico_client.list_messages(conversation)
    keyed = [
        m for m in messages if m.idempotency_key == idempotency_key("matrix", message.source_id)
    ]
    assert len(keyed) == 1, "the message appears once in SPICO"
    posted = keyed[0].id

    # A later message from SPICO itself is the barrier: once the room has it, an echo would
    # have arrived before it (deliveries keep SPICO's order per destination).
    later = await spico_client.post_message(
        conversation,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="suite",
        idempotency_key=f"relay-later-{conversation}",
    )
    await eventually(
        lambda: ("matrix", conversation, "message", later.id) in running_bridge.received(),
        "the later message in the room",
    )
    # The mail reader's queue is another destination: not ordered with the room's, waited for.
    await eventually(
        lambda: ("mail", by_mail, "message", posted) in running_bridge.received(),
        "the message for the mail reader",
    )
    received = running_bridge.received()
    assert ("matrix", conversation, "message", posted) not in received, "no echo to Matrix"
    assert received.count(("mail", by_mail, "message", posted)) == 1, "mail readers get it"


async def test_permanent_failure_ends_failed_with_one_notice(
    running_bridge: RunningBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    doctor, by_mail, refused = personas.doctor, personas.colleagues[0], personas.colleagues[2]
    created = await open_conversation(
        spico_client,
        doctor,
        [by_mail, refused],
        "Échec de remise",
        "ce message ne peut pas être remis à l'un de vous",
    )
    conversation, first = created.conversation.id, created.message.id

    async def failed_deliveries() -> dict[str, int]:
        async with running_bridge.store.transaction() as session:
            return await repo.delivery_counts(session)

    deadline = time.monotonic() + TIMEOUT
    while (await failed_deliveries())["failed"] < 1:
        assert time.monotonic() < deadline, "the delivery never ended failed"
        await asyncio.sleep(0.1)

    async def posted_notices() -> list:
        return [m for m in await spico_client.list_messages(conversation) if m.kind == "notice"]

    deadline = time.monotonic() + TIMEOUT
    while not (found := await posted_notices()):
        assert time.monotonic() < deadline, "no failure notice in the conversation"
        await asyncio.sleep(0.1)
    notice = found[0]
    assert notice.about == f"mail:{refused}"
    # The notice reaches the others (the room, the other mail reader), never the failed one.
    await eventually(
        lambda: ("matrix", conversation, "message", notice.id) in running_bridge.received(),
        "the notice in the room",
    )
    await eventually(
        lambda: ("mail", by_mail, "message", notice.id) in running_bridge.received(),
        "the notice by mail",
    )
    received = running_bridge.received()
    assert ("mail", refused, "message", notice.id) not in received
    assert ("mail", by_mail, "message", first) in received
    assert ("mail", refused, "message", first) not in received
    # One notice only, even after the poster ran again.
    await asyncio.sleep(1)
    assert len(await posted_notices()) == 1
    counts = await failed_deliveries()
    assert counts["failed"] == 1 and counts["pending"] == counts["sending"] == 0


async def test_worlds_fetch_attachment_bytes_through_the_poster(
    running_bridge: RunningBridge, spico_client: SpicoClient, personas: Personas
) -> None:
    from bridge.spico.models import NewAttachment

    doctor, reader = personas.doctor, personas.colleagues[0]
    created = await open_conversation(
        spico_client, doctor, [reader], "Pièce jointe", "voir le compte rendu"
    )
    posted = await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="ci-joint",
        idempotency_key=f"attachment-{created.conversation.id}",
        attachments=[
            NewAttachment(
                filename="cr.pdf", content_type="application/pdf", content=b"%PDF-1.4 test"
            )
        ],
    )
    (meta,) = posted.attachments
    fetched = await running_bridge.poster.fetch_attachment(
        meta.id, meta.filename, meta.content_type
    )
    assert (fetched.filename, fetched.content_type, fetched.data) == (
        "cr.pdf",
        "application/pdf",
        b"%PDF-1.4 test",
    )
