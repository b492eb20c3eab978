"""A sync that brings back nothing but the echoes of the bot's own messages, told from its raw
JSON before matrix-nio parses it.

Every message the bridge posts comes back in the bot's next sync. matrix-nio validates each sync
against its JSON schema and builds an event object per event (about 0.6 ms of CPU a sync on the
benchmark machine: the largest single cost of a relayed message), only for the sync loop to find
the bot's own events and ignore them (``only_own_events``). A sync that holds only such echoes
is answered here with an empty ``SyncResponse`` carrying its token and key counts instead
(``EchoesOnly``, which also says how many echoes it held: the sync loop then lets the next ones
gather, ``bridge.matrix.source.ECHO_PAUSE_SECONDS``).

What makes a sync "only echoes" is kept narrow, so matrix-nio's own state never misses a change:
no state event (the bot's own state changes, such as turning encryption on, must reach nio's
room model), no invitation, left room, gap (a limited timeline), receipt, room account data or
summary, no to-device message, device-list change, presence or account data. Anything else is
parsed as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from nio import AsyncClient, SyncResponse
from nio.responses import DeviceList, DeviceOneTimeKeyCount, Response, Rooms

#: What a joined room of a sync may hold, besides its timeline, and still be only echoes:
#: notification counts, which nothing of the bridge reads.
_IGNORED_ROOM_PARTS = frozenset({"unread_notifications", "unread_thread_notifications"})
#: A joined room's parts that must be empty (lists of events, or a summary) for only echoes.
_EMPTY_ROOM_PARTS = frozenset({"state", "ephemeral", "account_data", "summary"})


def _no_events(part: Any) -> bool:
    """An absent part, or one whose ``events`` list is empty (or an empty summary)."""
    if part is None:
        return True
    if not isinstance(part, Mapping):
        return False
    return not part.get("events") if "events" in part else not part


def only_own_messages(body: Mapping[str, Any], bot_user_id: str) -> bool:
    """Whether a sync's raw body holds nothing but timeline messages sent by ``bot_user_id``
    (pure; anything unexpected in shape answers False, and the sync is parsed in full)."""
    if not bot_user_id or not isinstance(body.get("next_batch"), str):
        return False
    for part in ("to_device", "presence", "account_data"):
        if not _no_events(body.get(part)):
            return False
    device_lists = body.get("device_lists", {})
    if not isinstance(device_lists, Mapping) or any(device_lists.values()):
        return False
    rooms = body.get("rooms", {})
    if not isinstance(rooms, Mapping):
        return False
    if any(rooms.get(kind) for kind in rooms if kind != "join"):
        return False
    joined = rooms.get("join", {})
    if not isinstance(joined, Mapping):
        return False
    return all(_only_own_in_room(room, bot_user_id) for room in joined.values())


def _only_own_in_room(room: Any, bot_user_id: str) -> bool:
    if not isinstance(room, Mapping):
        return False
    for part, value in room.items():
        if part in _IGNORED_ROOM_PARTS or part == "timeline":
            continue
        if part not in _EMPTY_ROOM_PARTS or not _no_events(value):
            return False
    timeline = room.get("timeline", {})
    if not isinstance(timeline, Mapping) or timeline.get("limited"):
        return False
    events = timeline.get("events", [])
    if not isinstance(events, list):
        return False
    return all(_own_message(event, bot_user_id) for event in events)


def _own_message(event: Any, bot_user_id: str) -> bool:
    """A timeline event the bot sent that is not a state event."""
    return (
        isinstance(event, Mapping)
        and event.get("sender") == bot_user_id
        and "state_key" not in event
    )


@dataclass
class EchoesOnly(SyncResponse):
    """A sync of only the bot's own messages, answered without them: ``echoes`` says how many
    there were (0: an empty sync, such as a long poll that timed out)."""

    echoes: int = 0


def echoes_only(body: Mapping[str, Any]) -> EchoesOnly:
    """The ``SyncResponse`` of a sync of only echoes (``only_own_messages``): its token and
    one-time key counts (which nio's key upload reads), no room, no event, and how many echoes
    it held."""
    counts = body.get("device_one_time_keys_count") or {}
    if not isinstance(counts, Mapping):
        counts = {}
    joined = (body.get("rooms") or {}).get("join") or {}
    return EchoesOnly(
        next_batch=str(body["next_batch"]),
        rooms=Rooms(invite={}, join={}, leave={}),
        device_key_count=DeviceOneTimeKeyCount(
            counts.get("curve25519"), counts.get("signed_curve25519")
        ),
        device_list=DeviceList(changed=[], left=[]),
        to_device_events=[],
        presence_events=[],
        echoes=sum(len(room.get("timeline", {}).get("events", [])) for room in joined.values()),
    )


class EchoAwareAsyncClient(AsyncClient):
    """matrix-nio's client, answering a successful sync of only the bot's own messages with
    ``echoes_only`` instead of validating and parsing it."""

    async def create_matrix_response(
        self,
        response_class: type,
        transport_response: ClientResponse,
        data: tuple[Any, ...] | None = None,
        save_to: Any = None,
    ) -> Response:
        if (
            response_class is SyncResponse
            and transport_response.status == 200
            and transport_response.content_type == "application/json"
        ):
            body = await self.parse_body(transport_response)
            if isinstance(body, Mapping) and only_own_messages(body, self.user_id):
                response: Response = echoes_only(body)
            else:
                response = SyncResponse.from_dict(body)
            response.transport_response = transport_response
            return response
        return await super().create_matrix_response(
            response_class, transport_response, data, save_to
        )
