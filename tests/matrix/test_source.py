"""The sync loop's pure decisions."""

from __future__ import annotations

from typing import Any

from nio import SyncResponse

from bridge.core.errors import ServiceUnavailable
from bridge.matrix.client import MatrixError
from bridge.matrix.source import is_outage, only_own_events

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


def test_outages_are_told_from_failures_of_the_event() -> None:
    assert is_outage(ServiceUnavailable("SPICO"))
    assert is_outage(TimeoutError())
    assert is_outage(MatrixError("send", "M_UNKNOWN", 502, "bad gateway"))
    assert is_outage(MatrixError("send", "M_LIMIT_EXCEEDED", 429, "slow down"))
    assert not is_outage(MatrixError("send", "M_FORBIDDEN", 403, "no"))
    assert not is_outage(KeyError("body"))
