"""The sync loop's pure decisions."""

from __future__ import annotations

from typing import Any

from nio import SyncResponse

from bridge.matrix.source import only_own_events

BOT = "@bot:x"


def _sync(senders: list[str], *, limited: bool = False, invite: bool = False) -> SyncResponse:
    events: list[dict[str, Any]] = [
        {
            "type": "m.room.message",
            "sender": sender,
            "event_id": f"$e{number}",
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "x"},
        }
        for number, sender in enumerate(senders)
    ]
    invites = {"!i:x": {"invite_state": {"events": []}}} if invite else {}
    response = SyncResponse.from_dict(
        {
            "next_batch": "s2",
            "rooms": {
                "join": {
                    "!r:x": {
                        "timeline": {"events": events, "limited": limited, "prev_batch": "p"},
                        "state": {"events": []},
                    }
                },
                "invite": invites,
                "leave": {},
            },
        }
    )
    assert isinstance(response, SyncResponse)
    return response


def test_a_batch_of_the_bots_own_echoes_needs_no_handling() -> None:
    assert only_own_events(_sync([BOT, BOT]), BOT)
    assert only_own_events(_sync([]), BOT)


def test_anything_else_is_handled() -> None:
    assert not only_own_events(_sync([BOT, "@alice:x"]), BOT), "someone else spoke"
    assert not only_own_events(_sync([BOT], limited=True), BOT), "a gap to back-fill"
    assert not only_own_events(_sync([], invite=True), BOT), "an invite"
