"""Who a SPICO message goes out as in Matrix: the one seam both modes send through.

Relay mode: the bot speaks for everyone, so each message carries a header naming its author.
Appservice mode (``bridge.matrix.appservice.ghosts``): the author's own ghost speaks, with no
header, at the message's original time when back-filling history. The sink asks ``Speakers``
for an intent and sends through it; it never knows which mode it runs in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from nio import RoomSendResponse

from bridge.matrix.client import MatrixClient
from bridge.matrix.formatting import Person


class Speakers(Protocol):
    """The intents of a mode, and the Matrix users a portal holds for its SPICO members."""

    def author(self, person: Person) -> MatrixIntent: ...

    def member_users(self, members: Iterable[str]) -> dict[str, str]:
        """{Matrix user: SPICO id} of the bridge's own users a portal must hold."""
        ...

    def is_own(self, user_id: str) -> bool: ...

    async def join(self, room_id: str, person: Person) -> None: ...

    async def leave(self, room_id: str, user_id: str) -> None: ...

    async def presence(self, person: Person) -> None: ...


class MatrixIntent:
    """Sends as one Matrix user: here the bot, with a header per message (relay mode; only an
    appservice may date an event, so ``ts`` is the header's job there)."""

    #: Whether messages must say who wrote them (the bot speaking for someone).
    needs_header = True

    def __init__(self, client: MatrixClient, user_id: str | None = None) -> None:
        self.client = client
        self.user_id = user_id or client.user_id

    async def send(
        self,
        what: str,
        room_id: str,
        content: Mapping[str, Any],
        txn_id: str,
        *,
        encrypted: bool | None = None,
        ts: int | None = None,
    ) -> RoomSendResponse:
        await self.enter(room_id)
        with self.acting(ts):
            return await self.client.send(what, room_id, content, txn_id, encrypted=encrypted)

    async def enter(self, room_id: str) -> None:
        """Be in the room before speaking (the bot made it: it is)."""
        del room_id

    def acting(self, ts: int | None) -> contextlib.AbstractContextManager[None]:
        """The identity requests go out with (the bot's own)."""
        del ts
        return contextlib.nullcontext()


class RelaySpeakers:
    """Relay mode: the bot speaks for everyone; portals hold only real (mapped) users."""

    def __init__(self, client: MatrixClient) -> None:
        self._bot = MatrixIntent(client)

    def author(self, person: Person) -> MatrixIntent:
        del person
        return self._bot

    def member_users(self, members: Iterable[str]) -> dict[str, str]:
        del members
        return {}

    def is_own(self, user_id: str) -> bool:
        del user_id
        return False

    async def join(self, room_id: str, person: Person) -> None:
        del room_id, person

    async def leave(self, room_id: str, user_id: str) -> None:
        del room_id, user_id

    async def presence(self, person: Person) -> None:
        del person
