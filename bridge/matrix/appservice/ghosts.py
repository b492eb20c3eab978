"""Appservice mode: one Matrix user per SPICO professional (a ghost), made on first need.

A ghost is ``@<user_prefix><idNat>:server`` (``MatrixAppserviceConfig.ghost_user_id``), in the
namespace the registration gives the bridge exclusively. It is registered the first time it is
needed (``m.login.application_service``), its display name follows the directory ("Dr Jean
DUPONT (Médecin généraliste)"), its presence follows the SPICO status, and it joins a portal
when its professional is a member (the bot invites, the ghost accepts) and leaves it with them.
The bot stays the rooms' only administrator: ghosts are plain members. What was already done
is remembered in memory only: after a restart each step is done again once, and each is
idempotent on the homeserver.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable

from nio import Api, PresenceSetResponse, ProfileSetDisplayNameResponse, RoomLeaveResponse

from bridge.config.matrix import MatrixAppserviceConfig
from bridge.core.delivery import PermanentFailure, RetryLater
from bridge.matrix.appservice.acting import acting_as
from bridge.matrix.client import MatrixClient, MatrixError
from bridge.matrix.formatting import Person, ghost_display_name, presence_of
from bridge.matrix.intent import MatrixIntent

log = logging.getLogger(__name__)


class GhostIntent(MatrixIntent):
    """Sends as a professional's ghost (registered, named and in the room first)."""

    needs_header = False

    def __init__(self, ghosts: Ghosts, person: Person) -> None:
        super().__init__(ghosts.client, ghosts.user_id(person.spico_id))
        self._ghosts = ghosts
        self._person = person

    async def enter(self, room_id: str) -> None:
        await self._ghosts.join(room_id, self._person)

    def acting(self, ts: int | None) -> contextlib.AbstractContextManager[None]:
        return acting_as(self.user_id, ts)


class Ghosts:
    """The ghosts of one bridge: ``Speakers`` for appservice mode."""

    def __init__(
        self,
        client: MatrixClient,
        appservice: MatrixAppserviceConfig,
        server_name: str,
        language: str,
    ) -> None:
        self.client = client
        self._appservice = appservice
        self._server = server_name
        self.language = language
        self._namespace_prefix = f"@{appservice.user_prefix}"
        self._suffix = f":{server_name}"
        self._registered: set[str] = set()
        self._names: dict[str, str] = {}
        self._presence: dict[str, tuple[str, str | None]] = {}
        self._joined: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ naming

    def user_id(self, spico_id: str) -> str:
        return self._appservice.ghost_user_id(spico_id, self._server)

    def is_own(self, user_id: str) -> bool:
        return user_id.startswith(self._namespace_prefix) and user_id.endswith(self._suffix)

    def author(self, person: Person) -> GhostIntent:
        return GhostIntent(self, person)

    def member_users(self, members: Iterable[str]) -> dict[str, str]:
        return {self.user_id(m): m for m in members if m}

    # ------------------------------------------------------------------ the ghost itself

    async def ensure(self, person: Person) -> str:
        """Registered, with the directory's name: the ghost's user id."""
        user_id = self.user_id(person.spico_id)
        if user_id not in self._registered:
            await self._register(user_id)
            self._registered.add(user_id)
        name = ghost_display_name(person)
        if self._names.get(user_id) != name:
            method, path, data = Api.profile_set_displayname("", user_id, name)
            with acting_as(user_id):
                await self.client.call(
                    "ghost name",
                    self.client.nio._send(ProfileSetDisplayNameResponse, method, path, data),
                )
            self._names[user_id] = name
        return user_id

    async def _register(self, user_id: str) -> None:
        """``POST /register`` as the appservice; a ghost that exists already is fine."""
        localpart = user_id[1:].split(":", 1)[0]
        body = json.dumps(
            {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
        )
        headers = {
            "Authorization": f"Bearer {self.client.nio.access_token}",
            "Content-Type": "application/json",
        }
        try:
            response = await self.client.nio.send(
                "POST", "/_matrix/client/v3/register", body, headers
            )
            async with response:
                status = response.status
                answer = await response.json(content_type=None) if status != 200 else {}
        except (OSError, TimeoutError) as exc:
            raise RetryLater(f"ghost register: unreachable ({type(exc).__name__})") from None
        code = (answer or {}).get("errcode") if isinstance(answer, dict) else None
        if status == 200 or code == "M_USER_IN_USE":
            return
        if status == 429 or status >= 500:
            raise RetryLater(f"ghost register: {code or status}")
        raise PermanentFailure(f"ghost register: {code or status}")

    async def presence(self, person: Person) -> None:
        """The ghost's presence from the SPICO status, set when it changed."""
        wanted = presence_of(person.status, self.language)
        user_id = await self.ensure(person)
        if self._presence.get(user_id) == wanted:
            return
        method, path, data = Api.set_presence("", user_id, *wanted)
        with acting_as(user_id):
            result = await self.client.request(
                "ghost presence", self.client.nio._send(PresenceSetResponse, method, path, data)
            )
        if isinstance(result, MatrixError):  # presence switched off on the server: no matter
            log.info("matrix: presence of a ghost not set (%s)", result.code)
        self._presence[user_id] = wanted

    # ------------------------------------------------------------------ rooms

    async def join(self, room_id: str, person: Person) -> None:
        """The ghost in the portal: invited by the bot (the only one who may), then joining."""
        user_id = await self.ensure(person)
        if (room_id, user_id) in self._joined:
            return
        invited = await self.client.request(
            "ghost invite", self.client.nio.room_invite(room_id, user_id)
        )
        if isinstance(invited, MatrixError) and invited.code != "M_FORBIDDEN":
            raise PermanentFailure(f"ghost invite: {invited.code}")  # M_FORBIDDEN: in already
        with acting_as(user_id):
            await self.client.call("ghost join", self.client.nio.join(room_id))
        self._joined.add((room_id, user_id))

    async def leave(self, room_id: str, user_id: str) -> None:
        """The ghost leaves a portal its professional left."""
        self._joined.discard((room_id, user_id))
        with acting_as(user_id):
            result = await self.client.request("ghost leave", self.client.nio.room_leave(room_id))
        if isinstance(result, MatrixError):
            log.info("matrix: a ghost could not leave %s (%s)", room_id, result.code)
        elif not isinstance(result, RoomLeaveResponse):
            log.info("matrix: a ghost's leave of %s answered oddly", room_id)
