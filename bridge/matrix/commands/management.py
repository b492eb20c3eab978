"""Management rooms (pure): what an event of a user's private room with the bot means.

A mapped user invites the bot to a room (a direct message); there, every text line of theirs
is a command, with or without the ``!spico`` prefix. The room must stay private (replies show
patient identities): when anyone else joins or is invited, or the owner leaves, the bot gives
the room up. The timeline is not enough to know it (a state change can arrive outside it, or
after the command): before anything private goes out, the room's current state is read from the
homeserver and judged by :func:`private_room_problem`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


#: History visibilities that show the room to people who are not (yet) in it.
PUBLIC_HISTORY = frozenset({"world_readable"})


def private_room_problem(
    state: Iterable[Mapping[str, Any]], owner: str, bot_user_id: str
) -> str | None:
    """Why a room (its current state events, as ``/state`` returns them) is not private to
    ``owner`` and the bot, or None when it is: both joined and nobody else joined or invited,
    joining by invitation only, and a history not readable by anyone."""
    current = {
        (str(e.get("type")), str(e.get("state_key", ""))): dict(e.get("content") or {})
        for e in state
        if "state_key" in e
    }
    joined = {
        key
        for (kind, key), content in current.items()
        if kind == "m.room.member" and content.get("membership") == "join"
    }
    others = {
        key
        for (kind, key), content in current.items()
        if kind == "m.room.member"
        and content.get("membership") in ("join", "invite", "knock")
        and key not in (owner, bot_user_id)
    }
    if others:
        return "members"
    if not {owner, bot_user_id} <= joined:
        return "not_joined"
    if current.get(("m.room.join_rules", ""), {}).get("join_rule") != "invite":
        return "join_rule"
    visibility = current.get(("m.room.history_visibility", ""), {}).get("history_visibility")
    if visibility in PUBLIC_HISTORY:
        return "history"
    return None
