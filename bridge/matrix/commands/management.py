"""Management rooms (pure): what an event of a user's private room with the bot means.

A mapped user invites the bot to a room (a direct message); there, every text line of theirs
is a command, with or without the ``!spico`` prefix. The room must stay private (replies show
patient identities): when anyone else joins or is invited, or the owner leaves, the bot gives
the room up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.matrix.commands.parse import strip_prefix

InputKind = Literal["command", "left", "not_private", "undecryptable"]


@dataclass(frozen=True, slots=True)
class RoomInput:
    kind: InputKind
    text: str = ""


def management_input(
    event: Mapping[str, Any], owner: str, bot_user_id: str, prefix: str = "!spico"
) -> RoomInput | None:
    """What to do with one event of ``owner``'s management room (None: nothing)."""
    kind = event.get("type")
    sender = str(event.get("sender") or "")
    content = event.get("content") or {}
    if kind == "m.room.member":
        user = str(event.get("state_key") or "")
        membership = content.get("membership")
        if user == owner and membership in ("leave", "ban"):
            return RoomInput("left")
        if user not in (owner, bot_user_id) and membership in ("join", "invite"):
            return RoomInput("not_private")
        return None
    if sender != owner:
        return None
    if kind == "m.room.encrypted":
        return RoomInput("undecryptable")
    if kind != "m.room.message" or content.get("msgtype") != "m.text":
        return None
    if (content.get("m.relates_to") or {}).get("rel_type") == "m.replace":
        return None  # an edit of an earlier line: not a new command
    body = str(content.get("body") or "")
    if not body.strip():
        return None
    line = strip_prefix(body, prefix)
    return RoomInput("command", body.strip() if line is None else line)
