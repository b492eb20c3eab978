"""What one command is about (plain data): who, where, the user's state, and the replies.

The executor builds a :class:`Turn` per command line, the command's handler changes it (state,
replies), and the executor sends the replies and stores the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.core.composer import DirectoryEntry
from bridge.matrix.commands import texts
from bridge.store import commands as commands_repo


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """What the commands read of the config (swapped whole on reload)."""

    language: str = "fr"
    prefix: str = "!spico"
    bot_user_id: str = ""
    mail_enabled: bool = False
    notifications_enabled: bool = True
    notification_period_minutes: int = 1440
    #: Self-service links (``lier``): on, and whose users may link (``bridge.core.linking``).
    self_service: bool = False
    allowed_servers: tuple[str, ...] = ()
    server_name: str = ""


@dataclass(frozen=True, slots=True)
class Where:
    """Where a command was typed: a portal room (``conversation_id``) or a management room."""

    room_id: str
    event_id: str
    conversation_id: str | None = None
    members: tuple[str, ...] = ()

    @property
    def management(self) -> bool:
        return self.conversation_id is None


@dataclass(frozen=True, slots=True)
class Reply:
    room_id: str
    text: str
    #: In reply to the command (False: a message in another room, e.g. the management room).
    in_reply: bool = True
    #: Shows patient identities: sent only if ``room_id`` is, at that moment, a private room of
    #: the user and the bot (the sender checks the room's state on the homeserver first).
    private: bool = False


@dataclass
class Turn:
    """One command being handled: who, where, and the user's state (changed in place)."""

    sender: str
    spico_id: str
    where: Where
    language: str
    prefix: str  # as the user types it here ("!spico " in a portal, "" in a management room)
    state: commands_repo.CommandStateRow
    management_room: str | None
    now: datetime
    replies: list[Reply] = field(default_factory=list)

    @property
    def acting(self) -> str:
        return self.state.acting_as or self.spico_id

    def set(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def say(self, body: str, *, private: bool = False) -> None:
        self.replies.append(Reply(self.where.room_id, body, private=private))

    def lists(self, kind: str) -> list[dict[str, Any]]:
        return list((self.state.lists or {}).get(kind) or [])

    def remember(self, kind: str, items: list[dict[str, Any]], **context: Any) -> None:
        """A numbered list the next commands refer to; a directory list also says where it
        came from (``context``: a search, favorites, a care circle with its patient and when)."""
        lists = dict(self.state.lists or {})
        lists[kind] = items
        changes: dict[str, Any] = {"lists": lists}
        if kind == "directory":
            changes["context"] = {k: v for k, v in context.items() if v is not None}
        self.set(**changes)


def item(entry: DirectoryEntry, label: str | None = None) -> dict[str, Any]:
    """A directory entry as a line of a stored numbered list."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "label": label or texts.entry_line(None, entry),
    }
