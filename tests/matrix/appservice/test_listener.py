"""The transaction listener: the body's pure reading (which ephemeral events are kept), and its
HTTP side against the real store on SQLite (aiohttp's in-process test server, no homeserver)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridge.matrix.appservice.listener import TransactionListener, receipts_of
from bridge.metrics import REGISTRY
from bridge.store import matrix as matrix_repo
from bridge.store.repositories import Store

RECEIPT = {"type": "m.receipt", "room_id": "!r:s", "content": {"$e": {"m.read": {"@u:s": {}}}}}
BOT = "@spico:s"
GHOST = "@spico_p1:s"
HS_TOKEN = "hs-token-for-tests"


def test_only_read_receipts_with_a_room_are_kept_from_either_key() -> None:
    typing = {"type": "m.typing", "room_id": "!r:s", "content": {"user_ids": ["@u:s"]}}
    roomless = {"type": "m.receipt", "content": {}}
    assert receipts_of({"ephemeral": [RECEIPT, typing, roomless, "junk"]}) == [RECEIPT]
    assert receipts_of({"de.sorunome.msc2409.ephemeral": [RECEIPT]}) == [RECEIPT]
    assert receipts_of({"events": []}) == [] and receipts_of({"ephemeral": "junk"}) == []


def _message(sender: str, body: str) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "room_id": "!r:s",
        "sender": sender,
        "event_id": f"${body}",
        "content": {"msgtype": "m.text", "body": body},
    }


def _counted() -> dict[str, float]:
    """The transactions counted so far (``spico_bridge_appservice_transactions``), by kind."""
    return {
        held: REGISTRY.get_sample_value(
            "spico_bridge_appservice_transactions_total", {"held": held}
        )
        or 0.0
        for held in ("events", "replay", "own_echoes", "nothing")
    }


def _more(before: dict[str, float]) -> dict[str, float]:
    """What was counted since ``before`` (kinds counted again only)."""
    return {held: n - before[held] for held, n in _counted().items() if n != before[held]}


def _own(event: dict[str, Any]) -> bool:
    return event.get("sender") in (BOT, GHOST)


class Pushing:
    """A listener on the real store, and a client pushing transactions to it as Synapse does."""

    def __init__(
        self, store: Store, listener: TransactionListener, client: TestClient, wake: asyncio.Event
    ) -> None:
        self.store = store
        self.listener = listener
        self.client = client
        self.wake = wake

    async def push(self, txn_id: str, body: dict[str, Any]) -> float:
        """Push one transaction; the seconds until it was acknowledged (200)."""
        started = time.monotonic()
        response = await self.client.put(
            f"/_matrix/app/v1/transactions/{txn_id}",
            json=body,
            headers={"Authorization": f"Bearer {HS_TOKEN}"},
        )
        assert response.status == 200, await response.text()
        return time.monotonic() - started

    async def journaled(self) -> list[list[dict[str, Any]]]:
        rows = await self.store.run(functools.partial(matrix_repo.pending_transactions, limit=100))
        return [row.events for row in rows]


@pytest.fixture
async def pushing(sqlite_store: Store, request: pytest.FixtureRequest) -> AsyncIterator[Pushing]:
    echo_pause: float = getattr(request, "param", 60.0)
    wake = asyncio.Event()
    listener = TransactionListener(
        sqlite_store,
        HS_TOKEN,
        "127.0.0.1",
        0,
        wake,
        needs_nothing=_own,
        echo_pause=echo_pause,
    )
    client = TestClient(TestServer(listener.app()))
    await client.start_server()
    try:
        yield Pushing(sqlite_store, listener, client, wake)
    finally:
        await client.close()


@pytest.mark.parametrize("pushing", [0.3], indirect=True)
async def test_a_transaction_of_only_own_echoes_is_held_then_acknowledged_unjournaled(
    pushing: Pushing,
) -> None:
    """The bridge is posting: holding the 200 lets the homeserver gather the next echoes."""
    before = _counted()
    held = await pushing.push("t1", {"events": [_message(BOT, "a"), _message(GHOST, "b")]})
    assert held >= 0.3
    assert await pushing.journaled() == [] and not pushing.wake.is_set()
    assert _more(before) == {"own_echoes": 1}


async def test_a_member_message_among_echoes_is_journaled_and_acknowledged_at_once(
    pushing: Pushing,
) -> None:
    member = _message("@alice:s", "from Alice")
    body = {"events": [_message(GHOST, "echo"), member], "ephemeral": [RECEIPT]}
    before = _counted()
    await asyncio.wait_for(pushing.push("t1", body), 10)  # the echo pause is 60 s here
    assert await pushing.journaled() == [[member, RECEIPT]]
    assert pushing.wake.is_set() and _more(before) == {"events": 1}


async def test_an_empty_or_ephemeral_only_transaction_is_acknowledged_at_once(
    pushing: Pushing,
) -> None:
    typing = {"type": "m.typing", "room_id": "!r:s", "content": {"user_ids": ["@u:s"]}}
    before = _counted()
    await asyncio.wait_for(pushing.push("t1", {"events": []}), 10)
    await asyncio.wait_for(pushing.push("t2", {"events": [], "ephemeral": [typing]}), 10)
    assert await pushing.journaled() == [] and _more(before) == {"nothing": 2}


async def test_a_replayed_transaction_is_acknowledged_and_journaled_once(
    pushing: Pushing,
) -> None:
    member = _message("@alice:s", "once")
    before = _counted()
    await pushing.push("t1", {"events": [member]})
    await pushing.push("t1", {"events": [member]})
    assert await pushing.journaled() == [[member]]
    assert pushing.listener.replayed == 1 and _more(before) == {"events": 1, "replay": 1}
