"""The transaction listener: the body's pure reading (which ephemeral events are kept), and its
HTTP side against the real store on SQLite (aiohttp's in-process test server, no homeserver)."""

from __future__ import annotations

import asyncio
import functools
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

    def __init__(self, store: Store, client: TestClient, wake: asyncio.Event) -> None:
        self.store = store
        self.client = client
        self.wake = wake

    async def push(self, txn_id: str, body: dict[str, Any], token: str | None = HS_TOKEN) -> int:
        """Push one transaction (within 10 s); the HTTP status of the answer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        put = self.client.put(f"/_matrix/app/v1/transactions/{txn_id}", json=body, headers=headers)
        response = await asyncio.wait_for(put, 10)
        return response.status

    async def journaled(self) -> list[list[dict[str, Any]]]:
        rows = await self.store.run(functools.partial(matrix_repo.pending_transactions, limit=100))
        return [row.events for row in rows]


@pytest.fixture
async def pushing(sqlite_store: Store) -> AsyncIterator[Pushing]:
    wake = asyncio.Event()
    listener = TransactionListener(
        sqlite_store,
        HS_TOKEN,
        "127.0.0.1",
        0,
        wake,
        needs_nothing=_own,
    )
    client = TestClient(TestServer(listener.app()))
    await client.start_server()
    try:
        yield Pushing(sqlite_store, client, wake)
    finally:
        await client.close()


async def test_a_transaction_of_only_own_echoes_is_acknowledged_at_once_unjournaled(
    pushing: Pushing,
) -> None:
    """Not held to let the next echoes gather: a homeserver retrying after the bridge was down
    resends its stored transactions one by one and drops read receipts meanwhile."""
    before = _counted()
    assert await pushing.push("t1", {"events": [_message(BOT, "a"), _message(GHOST, "b")]}) == 200
    assert await pushing.journaled() == [] and not pushing.wake.is_set()
    assert _more(before) == {"own_echoes": 1}


async def test_a_wrong_or_missing_hs_token_is_refused_and_nothing_kept(pushing: Pushing) -> None:
    before = _counted()
    body = {"events": [_message("@alice:s", "forged")]}
    assert await pushing.push("t1", body, token="not-the-hs-token") == 403
    assert await pushing.push("t2", body, token=None) == 401
    assert await pushing.journaled() == [] and _more(before) == {}


async def test_a_malformed_transaction_is_refused_with_a_matrix_error_and_nothing_kept(
    pushing: Pushing,
) -> None:
    """Only a homeserver holding the hs_token gets here, yet its body is checked before use:
    a clear 400 (the homeserver logs it) rather than a crash of the handler."""
    before = _counted()
    headers = {"Authorization": f"Bearer {HS_TOKEN}", "Content-Type": "application/json"}
    for txn_id, raw, errcode in (
        ("n1", b"{not json", "M_NOT_JSON"),
        ("n2", b"\xff\xfe", "M_NOT_JSON"),
        ("b1", b'["events"]', "M_BAD_JSON"),
        ("b2", b'{"events": {"type": "m.room.message"}}', "M_BAD_JSON"),
        ("b3", b'{"events": ["m.room.message"]}', "M_BAD_JSON"),
    ):
        put = pushing.client.put(
            f"/_matrix/app/v1/transactions/{txn_id}", data=raw, headers=headers
        )
        response = await asyncio.wait_for(put, 10)
        assert response.status == 400, txn_id
        assert (await response.json())["errcode"] == errcode, txn_id
    assert await pushing.journaled() == [] and not pushing.wake.is_set()
    assert _more(before) == {}


async def test_a_member_message_among_echoes_is_journaled_and_acknowledged_at_once(
    pushing: Pushing,
) -> None:
    member = _message("@alice:s", "from Alice")
    body = {"events": [_message(GHOST, "echo"), member], "ephemeral": [RECEIPT]}
    before = _counted()
    assert await pushing.push("t1", body) == 200
    assert await pushing.journaled() == [[member, RECEIPT]]
    assert pushing.wake.is_set() and _more(before) == {"events": 1}


async def test_an_empty_or_ephemeral_only_transaction_is_acknowledged_at_once(
    pushing: Pushing,
) -> None:
    typing = {"type": "m.typing", "room_id": "!r:s", "content": {"user_ids": ["@u:s"]}}
    before = _counted()
    assert await pushing.push("t1", {"events": []}) == 200
    assert await pushing.push("t2", {"events": [], "ephemeral": [typing]}) == 200
    assert await pushing.journaled() == [] and _more(before) == {"nothing": 2}


async def test_a_replayed_transaction_is_acknowledged_and_journaled_once(
    pushing: Pushing,
) -> None:
    member = _message("@alice:s", "once")
    before = _counted()
    assert await pushing.push("t1", {"events": [member]}) == 200
    assert await pushing.push("t1", {"events": [member]}) == 200
    assert await pushing.journaled() == [[member]]
    assert _more(before) == {"events": 1, "replay": 1}
