"""``spico.bridge_existing: all``: the first start reads the SPICO feed from its beginning to
shape the rooms, but what came before it is history: no old message goes out again (mail
never replays it; a new portal back-fills it from SPICO itself). Real sandbox, recording sink.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml

from bridge.core.model import DeliveryKind, Destination, World
from bridge.core.routing import history_destinations
from bridge.hub.fanout import HISTORY_CURSOR, SPICO_CURSOR
from bridge.spico.client import SpicoClient
from bridge.store import repositories as repo
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import StartBridge


def test_history_keeps_only_the_rooms_state() -> None:
    kinds = [
        Destination(World.MATRIX, "c", DeliveryKind.STATE),
        Destination(World.MATRIX, "c", DeliveryKind.MESSAGE),
        Destination(World.MAIL, "810001234567", DeliveryKind.MESSAGE),
        Destination(World.MAIL, "810001234567", DeliveryKind.NOTIFY),
    ]
    assert history_destinations(kinds) == kinds[:1]


def _kinds(sink: Path) -> list[tuple[str, str]]:
    if not sink.exists():
        return []
    with sqlite3.connect(sink, timeout=30) as connection:
        return connection.execute("SELECT world, kind FROM received ORDER BY rowid").fetchall()


async def test_a_first_start_with_all_replays_no_old_message(
    spico_sandbox: SandboxProcess,
    spico_client: SpicoClient,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> None:
    reader = personas.colleagues[30]
    doctor = personas.doctor
    before = await open_conversation(
        spico_client, doctor, [reader], "Avant le pont", "Ancien message"
    )
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        poll_wait_seconds=2,
        participants=[
            {"spico_id": reader, "mail": "lecteur@history.mssante.fr", "delivery": "mail"}
        ],
    )
    config = yaml.safe_load(path.read_text())
    config["spico"]["bridge_existing"] = "all"
    path.write_text(yaml.safe_dump(config))
    bridge = await in_process_bridge(path)
    async with bridge.store.transaction() as session:
        head = int(await repo.in_session(session, repo.get_cursor, HISTORY_CURSOR) or 0)
    assert head > 0

    async def caught_up() -> bool:
        async with bridge.store.transaction() as session:
            return int(await repo.in_session(session, repo.get_cursor, SPICO_CURSOR) or 0) >= head

    await eventually(caught_up, "the history read")
    await spico_client.post_message(
        before.conversation.id,
        on_behalf_of=doctor,
        acting_as=doctor,
        body="Nouveau message",
        idempotency_key=f"after-{before.conversation.id}",
    )
    sink = tmp_path / "sink.db"

    async def new_one() -> bool:
        return ("mail", "message") in _kinds(sink)

    await eventually(new_one, "the new message delivered by mail")
    kinds = _kinds(sink)
    assert kinds.count(("mail", "message")) == 1, "only the message after the start"
    assert ("mail", "notify") not in kinds
