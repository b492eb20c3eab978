"""Small helpers shared by the SPICO tests (each test makes its own conversations)."""

from __future__ import annotations

import uuid

from bridge.spico.client import SpicoClient
from bridge.spico.models import CreatedConversation, SpicoEvent
from tests.fixtures.sandbox import Personas


async def head_seq(client: SpicoClient) -> int:
    return (await client.get_events(0, limit=1)).head_seq


async def events_after(client: SpicoClient, after: int) -> list[SpicoEvent]:
    """Every event after ``after``, reading page after page."""
    events: list[SpicoEvent] = []
    while True:
        page = await client.get_events(after, limit=1000)
        events.extend(page.events)
        if not page.events:
            return events
        after = page.last_seq


async def start_conversation(
    client: SpicoClient, personas: Personas, *, member_count: int = 2, **overrides: object
) -> CreatedConversation:
    """A fresh conversation opened by ``personas.doctor`` with a few colleagues."""
    arguments: dict[str, object] = {
        "on_behalf_of": personas.doctor,
        "acting_as": personas.doctor,
        "members": list(personas.colleagues[:member_count]),
        "subject": f"Test {uuid.uuid4().hex[:8]}",
        "message": "Premier message de test.",
    }
    arguments.update(overrides)
    return await client.create_conversation(**arguments)  # type: ignore[arg-type]
