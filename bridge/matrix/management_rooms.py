"""Management rooms (I/O): a user's private room with the bot, and the one door out of the
executor for every reply.

A mapped user invites the bot to a direct room; the bot joins and keeps it as that user's
management room, where every line of theirs is a command. Patient identities only ever go to
such a room, and only if, when they go out, the room's current state (read from the
homeserver, not the timeline seen so far) makes it private to the user and the bot
(``commands.management.private_room_problem``). Otherwise nothing is sent, the user is told
where they typed the command, and the bot gives the room up.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nio import RoomGetStateResponse, SyncResponse

from bridge.core.linking import server_allowed
from bridge.matrix import texts
from bridge.matrix.client import MatrixClient, MatrixError, event_fields
from bridge.matrix.commands.executor import CommandExecutor, Reply, Send, Where
from bridge.matrix.commands.management import RoomInput, management_input, private_room_problem
from bridge.matrix.formatting import notice_text
from bridge.matrix.notices import notice, say, txn
from bridge.matrix.sink import PortalSettings
from bridge.store import commands as commands_repo
from bridge.store import matrix as matrix_repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

#: Runs one event's work so that it cannot stall the sync (``MatrixSource._guarded``).
Guard = Callable[[str, str, dict[str, Any], Callable[[], Awaitable[None]]], Awaitable[None]]
#: Remembers an event as handled (``MatrixSource._remember``).
Remember = Callable[[str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ManagementRooms:
    """Invitations to the bot, management room events, and the senders of command replies."""

    client: MatrixClient
    store: Store
    #: The source's current settings (a reload replaces them).
    settings: Callable[[], PortalSettings]
    spico_id_of: Callable[[], Mapping[str, str]]
    commands: CommandExecutor

    async def invites(self, response: SyncResponse) -> None:
        """A mapped user invites the bot: it joins, and the room becomes that user's
        management room (commands without prefix) if it is private. With self-service on, an
        unmapped user of an allowed homeserver too: they are told how to link their account
        (``lier``). Anyone else's invite is rejected, without a notice."""
        settings = self.settings()
        for room_id, info in response.rooms.invite.items():
            inviter = None
            for event in info.invite_state:
                # nio moves an invite member event's content into attributes.
                if (
                    getattr(event, "state_key", None) == settings.bot_user_id
                    and getattr(event, "membership", None) == "invite"
                ):
                    inviter = str(getattr(event, "sender", "") or "")
            await self.invited(room_id, inviter)

    async def invited(self, room_id: str, inviter: str | None) -> None:
        """One invitation of the bot (from a sync, or pushed in appservice mode)."""
        settings = self.settings()
        mapped = inviter in self.spico_id_of()
        if not inviter or not (mapped or self._may_link(inviter)):
            await self.client.request("reject", self.client.nio.room_leave(room_id))
            log.info("matrix: refused an invite from an unmapped user to %s", room_id)
            return
        joined = await self.client.request("join", self.client.nio.join(room_id))
        if isinstance(joined, MatrixError):
            log.warning("matrix: could not join management room %s (%s)", room_id, joined.code)
            return
        if not await self.still_private(room_id, inviter):
            await self.client.request("leave", self.client.nio.room_leave(room_id))
            log.info("matrix: left %s: not a private room", room_id)
            return
        async with self.store.transaction() as session:
            await commands_repo.save_management_room(session, room_id, inviter)
        log.info("matrix: management room %s joined", room_id)
        welcome = texts.text(settings.language, "welcome" if mapped else "welcome_unmapped")
        await say(self.client, room_id, txn("welcome", room_id), welcome)

    def _may_link(self, user: str) -> bool:
        """Self-service is open to ``user``: their invite is taken, to explain ``lier``."""
        commands = self.commands.settings
        return commands.self_service and server_allowed(
            user, commands.allowed_servers, commands.server_name
        )

    async def handle(
        self,
        room_id: str,
        owner: str,
        timeline: list[Any],
        guarded: Guard,
        remember: Remember,
    ) -> None:
        """Events of a management room: the owner's lines are commands (prefix optional)."""
        settings = self.settings()
        for raw in timeline:
            event = event_fields(raw)
            event_id = str(event.get("event_id") or "")
            found = management_input(event, owner, settings.bot_user_id, settings.command_prefix)
            if found is None or not event_id:
                continue
            if await self.store.run(functools.partial(matrix_repo.event_linked, event_id=event_id)):
                continue  # handled before a restart or a retried batch
            if found.kind != "command":
                await self._change(room_id, event_id, found)
                if found.kind in ("left", "not_private"):
                    return
                await remember("", room_id, event)
                continue
            where = Where(room_id, event_id)
            await guarded(
                "",
                room_id,
                event,
                functools.partial(
                    self.commands.run,
                    owner,
                    where,
                    found.text,
                    self.replier(event_id, owner, room_id),
                ),
            )

    async def _change(self, room_id: str, event_id: str, found: RoomInput) -> None:
        """The owner left, or someone else came in: the room stops being a management room."""
        language = self.settings().language
        if found.kind == "undecryptable":
            await notice(self.client, room_id, event_id, notice_text("undecryptable", language))
            return
        if found.kind == "not_private":
            text = texts.text(language, "no_longer_private")
            await say(self.client, room_id, txn("private", event_id), text)
        await self._give_up(room_id)

    async def _give_up(self, room_id: str) -> None:
        async with self.store.transaction() as session:
            await commands_repo.forget_management_room(session, room_id)
        await self.client.request("leave", self.client.nio.room_leave(room_id))
        log.info("matrix: management room %s given up", room_id)

    # ------------------------------------------------------------------ replies

    def replier(self, event_id: str, owner: str, origin_room: str) -> Send:
        """Sends a command's replies: the first in reply to the command, the others (e.g. in
        the management room) as plain notices; transaction ids derive from the command.

        A ``private`` reply (patient identities) goes out only if its room is, now, private to
        ``owner`` and the bot; otherwise it is dropped, the user is told in the room of the
        command, and the bot gives that room up."""
        count = 0
        private: dict[str, bool] = {}

        async def send(reply: Reply) -> None:
            nonlocal count
            count += 1
            if reply.private:
                if reply.room_id not in private:
                    private[reply.room_id] = await self.still_private(reply.room_id, owner)
                    if not private[reply.room_id]:
                        await self._private_refused(reply.room_id, origin_room, event_id)
                if not private[reply.room_id]:
                    return
            if reply.in_reply:
                txn_id = txn("notice" if count == 1 else f"notice{count}", event_id)
                await notice(self.client, reply.room_id, event_id, reply.text, txn_id)
            else:
                await say(self.client, reply.room_id, txn(f"notice{count}", event_id), reply.text)

        return send

    async def still_private(self, room_id: str, owner: str) -> bool:
        """Whether the room's current state (read from the homeserver now, not the timeline
        seen so far) makes it private to ``owner`` and the bot."""
        got = await self.client.request("room state", self.client.nio.room_get_state(room_id))
        if not isinstance(got, RoomGetStateResponse):
            return False
        problem = private_room_problem(got.events, owner, self.settings().bot_user_id)
        if problem is not None:
            log.info("matrix: %s is not private (%s): patient data withheld", room_id, problem)
        return problem is None

    async def _private_refused(self, room_id: str, origin_room: str, event_id: str) -> None:
        """Patient data was withheld from ``room_id``: say so in reply to the command (the room
        itself is only told that it is no longer private), and give the room up."""
        key = "no_longer_private" if room_id == origin_room else "private_refused"
        text = texts.text(self.settings().language, key)
        await notice(self.client, origin_room, event_id, text, txn("private", event_id))
        await self._give_up(room_id)
