"""A sync of only the bot's own messages, told from its raw JSON: the pure rule, and the client
answering such a sync without nio's parse (over real HTTP, from a canned homeserver on
loopback; the whole relay against Synapse is in test_portals.py)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from nio import RoomMessageText, SyncResponse

from bridge.matrix.echoes import (
    EchoAwareAsyncClient,
    EchoesOnly,
    echoes_only,
    only_own_messages,
)

BOT = "@bot:test"
ROOM = "!room:test"


def _message(sender: str, event_id: str = "$e1") -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": sender,
        "event_id": event_id,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": "Dr A: bonjour"},
        "unsigned": {"age": 5, "transaction_id": "t1"},
    }


def _sync(*events: dict[str, Any], **room_parts: Any) -> dict[str, Any]:
    """A sync as Synapse answers the bot's filtered live sync."""
    return {
        "next_batch": "s42_1",
        "rooms": {
            "join": {
                ROOM: {
                    "timeline": {"events": list(events), "limited": False, "prev_batch": "t0"},
                    "state": {"events": []},
                    "ephemeral": {"events": []},
                    "account_data": {"events": []},
                    "unread_notifications": {"notification_count": 0, "highlight_count": 0},
                    "summary": {},
                    **room_parts,
                }
            },
            "invite": {},
            "leave": {},
        },
        "to_device": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {"signed_curve25519": 50},
        "presence": {"events": []},
        "account_data": {"events": []},
    }


def test_only_the_bots_messages_are_echoes() -> None:
    assert only_own_messages(_sync(_message(BOT), _message(BOT, "$e2")), BOT)
    # Several joined rooms, each with only the bot's messages; a room with nothing new.
    body = _sync(_message(BOT))
    body["rooms"]["join"]["!other:test"] = {"timeline": {"events": [_message(BOT, "$e3")]}}
    body["rooms"]["join"]["!quiet:test"] = {"timeline": {"events": []}}
    assert only_own_messages(body, BOT)
    # The smallest sync Synapse sends (a timeout with nothing new).
    assert only_own_messages({"next_batch": "s43"}, BOT)


def test_anything_else_is_parsed_in_full() -> None:
    def changed(edit: Any) -> dict[str, Any]:
        body = _sync(_message(BOT))
        edit(body)
        return body

    room = ("rooms", "join", ROOM)

    def at(body: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        for key in path:
            body = body[key]
        return body

    state_event = {**_message(BOT), "type": "m.room.encryption", "state_key": "", "content": {}}
    others = [
        _sync(_message("@alice:test")),
        _sync(_message(BOT), _message("@alice:test", "$e2")),
        # The bot's own state change must reach nio's room model (encryption on, say).
        _sync(state_event),
        _sync({k: v for k, v in _message(BOT).items() if k != "sender"}),
        changed(lambda b: at(b, (*room, "timeline")).update(limited=True)),
        changed(lambda b: at(b, (*room, "state"))["events"].append(_message("@alice:test"))),
        changed(lambda b: at(b, (*room, "ephemeral"))["events"].append({"type": "m.receipt"})),
        changed(lambda b: at(b, (*room, "account_data"))["events"].append({"type": "m.tag"})),
        changed(lambda b: at(b, room).update(summary={"m.joined_member_count": 3})),
        changed(lambda b: at(b, room).update(unknown={"events": []})),
        changed(lambda b: b["rooms"]["invite"].update({"!new:test": {}})),
        changed(lambda b: b["rooms"]["leave"].update({"!old:test": {}})),
        changed(lambda b: b["rooms"].update(knock={"!k:test": {}})),
        changed(lambda b: b["to_device"]["events"].append({"type": "m.room.encrypted"})),
        changed(lambda b: b["device_lists"]["changed"].append("@alice:test")),
        changed(lambda b: b["presence"]["events"].append({"type": "m.presence"})),
        changed(lambda b: b["account_data"]["events"].append({"type": "m.direct"})),
        changed(lambda b: b.pop("next_batch")),
        changed(lambda b: b["rooms"].update(join=[])),
        changed(lambda b: at(b, (*room, "timeline")).update(events={"not": "a list"})),
    ]
    for body in others:
        assert not only_own_messages(body, BOT), body
    assert not only_own_messages(_sync(_message(BOT)), "")


def test_an_echo_sync_keeps_its_token_and_key_counts() -> None:
    response = echoes_only(_sync(_message(BOT)))
    assert response.next_batch == "s42_1"
    assert response.rooms.join == {} and response.rooms.invite == {}
    assert response.device_key_count.signed_curve25519 == 50
    assert response.to_device_events == [] and response.device_list.changed == []


def test_an_echo_sync_says_how_many_echoes_it_held() -> None:
    """The sync loop lets the next echoes gather after a sync that held some (not after an
    empty one: a long poll that timed out)."""
    assert echoes_only(_sync(_message(BOT), _message(BOT, "$e2"))).echoes == 2
    assert echoes_only(_sync()).echoes == 0
    empty = _sync()
    empty["rooms"] = {"join": {}, "invite": {}, "leave": {}}
    assert only_own_messages(empty, BOT) and echoes_only(empty).echoes == 0
    del empty["rooms"]
    assert only_own_messages(empty, BOT) and echoes_only(empty).echoes == 0


@pytest.fixture
async def homeserver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A homeserver answering each ``/sync`` with the next body of a list the test fills."""
    bodies: list[dict[str, Any]] = []

    async def sync(_request: web.Request) -> web.Response:
        return web.json_response(bodies.pop(0))

    app = web.Application()
    app.router.add_get("/_matrix/client/v3/sync", sync)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", bodies
    finally:
        await runner.cleanup()


async def test_the_client_skips_the_parse_of_echoes_only(
    homeserver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, bodies = homeserver
    client = EchoAwareAsyncClient(url, BOT, device_id="BRIDGE")
    client.access_token = "token"
    client.user_id = BOT
    try:
        bodies.append(_sync(_message(BOT)))
        echoes = await client.sync(since="s41")
        assert isinstance(echoes, EchoesOnly) and echoes.echoes == 1
        assert echoes.next_batch == "s42_1" and echoes.rooms.join == {}
        assert client.next_batch == "s42_1"  # nio's own state moved on

        reply = _sync(_message(BOT, "$e5"), _message("@alice:test", "$e6"))
        reply["next_batch"] = "s43_1"
        bodies.append(copy.deepcopy(reply))
        full = await client.sync(since="s42_1")
        assert isinstance(full, SyncResponse)
        events = full.rooms.join[ROOM].timeline.events
        assert [type(e) for e in events] == [RoomMessageText, RoomMessageText]
        assert [e.sender for e in events] == [BOT, "@alice:test"]
        assert client.next_batch == "s43_1"
    finally:
        await client.close()
