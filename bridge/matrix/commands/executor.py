"""The thin I/O shell of the ``!spico`` commands: one entry point (:meth:`CommandExecutor.run`)
and what every command shares (SPICO through the composer, the user's stored state, replies).

Each command is a handler of ``bridge.matrix.commands.groups`` declared with
``registry.command``; this module checks where it may run and who the user acts as, runs it,
and sends its replies. Parsing (``parse``), the dialogue (``dialogue``) and every sentence
(``texts``) are pure. SPICO enforces delegations and patient access: its refusals are turned
into sentences, never bypassed; and the bridge checks the user's chosen account against SPICO's
delegations again at every command (a withdrawn delegation puts them back in their own name).
Replies that show patient identities are marked ``private``: the sender only delivers them to a
room that is, when they go out, private to the user and the bot.

Logs name commands and error types only: never arguments, bodies, patient names or INS.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from bridge.core.composer import (
    ComposerBadAnswer,
    ComposerRefusal,
    ComposerUnavailable,
    DirectoryEntry,
    SpicoComposer,
)
from bridge.core.identifiers import BadIdentifier
from bridge.core.model import Participant, World, matrix_users_by_spico_id
from bridge.matrix.commands import dialogue, registry, texts
from bridge.matrix.commands.dialogue import Draft
from bridge.matrix.commands.groups import conversation
from bridge.matrix.commands.parse import Ref, Request, is_command_word, parse, parse_ref
from bridge.matrix.commands.resolve import Problem, not_found_as, pick
from bridge.matrix.commands.turn import CommandSettings, Reply, Turn, Where
from bridge.matrix.formatting import status_label
from bridge.matrix.texts import text
from bridge.store import commands as commands_repo
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.notifications import StoreNotificationRequests
from bridge.store.repositories import Store

__all__ = ["CommandExecutor", "CommandSettings", "Reply", "Send", "Where"]

log = logging.getLogger(__name__)

#: Commands that still run when the user's delegation was just withdrawn (they act as nobody).
RUN_WHEN_REVOKED = frozenset({"as", "help", "cancel", ""})

Send = Callable[[Reply], Awaitable[None]]


class LinkPort(Protocol):
    """What the link commands need of the Matrix world: the config's participants (they win
    over links), and the portals reconciled at once after a link changed."""

    def configured(self) -> Mapping[str, Participant]: ...

    async def changed(self, spico_id: str) -> int:
        """Links were stored or removed for ``spico_id``: apply them now; how many portals of
        theirs were reconciled (invited to, or kicked from)."""
        ...


class CommandExecutor:
    """Runs the command lines of mapped users: answers through ``send``, state in the store."""

    def __init__(
        self,
        composer: SpicoComposer,
        store: Store,
        spico_id_of: Callable[[], Mapping[str, str]],
        settings: CommandSettings,
        notifications: StoreNotificationRequests | None = None,
    ) -> None:
        self.composer = composer
        self.store = store
        self._spico_id_of = spico_id_of
        self.settings = settings
        #: The hub's way to queue a notification now (``notify``).
        self.notifications = notifications or StoreNotificationRequests(store)
        #: The Matrix world's side of self-service links (None: nobody may link).
        self.links: LinkPort | None = None

    # ------------------------------------------------------------------ entry point

    async def run(self, sender: str, where: Where, line: str, send: Send) -> None:
        """Handle ``line`` (prefix removed); replies go out through ``send`` before the new
        state is committed (with the event marked handled), so a crash in between replays
        the command from the old state and the replies keep their transaction ids."""
        settings = self.settings
        language = settings.language
        spico_id = self._spico_id_of().get(sender)
        if spico_id is None:
            await self._run_unmapped(sender, where, line, send)
            return
        async with self.store.transaction() as session:
            state = await commands_repo.get_state(session, sender)
            management_room = (
                where.room_id
                if where.management
                else await commands_repo.management_room_of(session, sender)
            )
        if state is None or state.spico_id != spico_id:
            state = commands_repo.CommandStateRow(sender, spico_id)
        turn = Turn(
            sender,
            spico_id,
            where,
            language,
            "" if where.management else f"{settings.prefix} ",
            state,
            management_room,
            datetime.now(UTC),
        )
        draft = Draft.from_json(state.dialogue) if where.management else None
        request = None
        if draft is None or self._runs_command(draft, line):
            request = parse(line)

        async def work() -> None:
            name = request.name if request is not None else ""
            await self._check_acting(turn, refuse=request is None or name not in RUN_WHEN_REVOKED)
            if request is None:
                assert draft is not None
                await conversation.answer(self, turn, draft, line)
            else:
                await self._dispatch(turn, request)
                if draft is not None and request.name not in ("new", "cancel"):
                    conversation.remind(self, turn, draft)

        name = "dialogue" if request is None else request.name or "unknown"
        await self._handled(turn, name, work)
        acting_name = await self.acting_name(turn)
        for reply in turn.replies:
            private = reply.private or reply.room_id == turn.management_room
            body = texts.with_acting(acting_name, reply.text, language)
            await send(replace(reply, text=body, private=private))
        await self._commit(where, turn.state)

    async def _handled(self, turn: Turn, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run a command's ``work``; what stops it becomes a sentence to the user."""
        language = turn.language
        try:
            await work()
        except Problem as problem:
            turn.say(problem.text(language))
        except BadIdentifier as bad:
            log.info("matrix command %s: not a valid %s id", name, bad.kind)
            turn.say(text(language, "bad_id", kind=texts.id_kind(bad.kind, language)))
        except ComposerRefusal as refusal:
            log.info("matrix command %s refused by SPICO (%s)", name, refusal.code)
            turn.say(texts.refusal_text(refusal.code, refusal.message, language))
        except ComposerUnavailable:
            log.warning("matrix command %s: SPICO unavailable", name)
            turn.say(text(language, "unavailable"))
        except ComposerBadAnswer:
            log.warning("matrix command %s: SPICO answered out of contract", name)
            turn.say(text(language, "bad_answer"))
        log.info("matrix command %s handled", name)

    async def _run_unmapped(self, sender: str, where: Where, line: str, send: Send) -> None:
        """A user mapped to nobody: in their direct room, the self-service commands (``lier``,
        ``code``, ``aide``) when self-service is on; anything else gets why and what to do."""
        settings = self.settings
        state = commands_repo.CommandStateRow(sender, "")
        turn = Turn(
            sender, "", where, settings.language, "", state, where.room_id, datetime.now(UTC)
        )
        request = parse(line) if where.management and settings.self_service else None
        spec = registry.get(request.name) if request is not None and request.name else None
        if request is None or spec is None or not spec.unmapped:
            key = "unmapped_self_service" if settings.self_service else "unmapped"
            turn.say(text(settings.language, key, bot=settings.bot_user_id))
        else:
            await self._handled(turn, spec.name, lambda: spec.handler(self, turn, request))
        for reply in turn.replies:
            await send(reply)
        await self._commit(where, None)

    @staticmethod
    def _runs_command(draft: Draft, line: str) -> bool:
        """Inside the dialogue, the members and patient steps still take commands (to search
        first); the subject, message and confirmation steps take the text as it is."""
        step = dialogue.next_step(draft)
        if line.strip().lower() in ("help", "aide"):
            return True
        return step in ("members", "patient") and is_command_word(line)

    async def _check_acting(self, turn: Turn, *, refuse: bool) -> None:
        """ "Act as" again at every use: the chosen account must still be among the user's
        delegations in SPICO. When it is not, the user is back in their own name, is told so,
        and the command is not run (``refuse``): it was meant for the other account."""
        chosen = turn.state.acting_as
        if not chosen or chosen == turn.spico_id:
            return
        accounts = await self.composer.delegations(turn.spico_id)
        if any(account.id == chosen for account in accounts):
            return
        name = turn.state.acting_name or chosen
        turn.set(acting_as=None, acting_name=None)
        log.info("matrix command: a withdrawn delegation was given up")
        if refuse:
            raise Problem("delegation_revoked", name=name)
        turn.say(text(turn.language, "delegation_revoked_noted", name=name))

    async def _commit(self, where: Where, state: commands_repo.CommandStateRow | None) -> None:
        async with self.store.transaction() as session:
            if state is not None:
                await commands_repo.save_state(session, state)
            await repo.in_session(
                session,
                matrix_repo.save_event_link,
                event_id=where.event_id,
                room_id=where.room_id,
                conversation_id=where.conversation_id or "",
                spico_message_id=None,
                direction="in",
            )

    async def _dispatch(self, turn: Turn, request: Request) -> None:
        if not request.name:
            raise Problem("unknown", word=request.word[:40], prefix=turn.prefix)
        if request.bad_option:
            raise Problem(
                "bad_option",
                option=request.bad_option[:40],
                prefix=turn.prefix,
                command=request.word,
            )
        spec = registry.get(request.name)
        if spec.where == "portal" and turn.where.conversation_id is None:
            raise Problem("portal_only", prefix="!spico ", command=request.word)
        if spec.where == "management" and not turn.where.management:
            raise Problem("management_only", command=request.word, bot=self.settings.bot_user_id)
        await spec.handler(self, turn, request)

    # ------------------------------------------------------------------ shared by commands

    def mapping(self) -> Mapping[str, str]:
        """{Matrix user: SPICO id} of the mapped users (as configured now)."""
        return self._spico_id_of()

    async def acting_name(self, turn: Turn) -> str:
        if turn.state.acting_name:
            return turn.state.acting_name
        entry = await self.entry(turn.acting)
        if entry is None:
            return turn.acting
        turn.set(acting_name=entry.name)
        return entry.name

    async def entry(self, spico_id: str) -> DirectoryEntry | None:
        """A professional's directory entry, or None when SPICO cannot give it now."""
        try:
            return await self.composer.professional(spico_id)
        except (ComposerRefusal, ComposerUnavailable, ComposerBadAnswer, BadIdentifier):
            return None

    async def name_of(self, spico_id: str, fallback: str) -> str:
        entry = await self.entry(spico_id)
        return entry.name if entry is not None else fallback

    def private(self, turn: Turn, body: str) -> None:
        """Patient identities only go to the user's management room, never a shared room (the
        sender checks, when it goes out, that the room is still private)."""
        if turn.where.management:
            turn.say(body, private=True)
        elif turn.management_room:
            turn.replies.append(Reply(turn.management_room, body, in_reply=False, private=True))
            turn.say(text(turn.language, "private_elsewhere"))
        else:
            turn.say(text(turn.language, "private_no_room", bot=self.settings.bot_user_id))

    async def audit(self, turn: Turn, action: str, conversation_id: str | None) -> None:
        async with self.store.transaction() as session:
            await repo.add_audit(
                session,
                world=World.MATRIX.value,
                action=action,
                outcome="done",
                actor_id=turn.spico_id,
                conversation_id=conversation_id,
                destination="spico",
                detail=None if turn.acting == turn.spico_id else f"acting_as {turn.acting}",
            )

    def patient_id(self, turn: Turn, word: str) -> str:
        """A patient typed as a number of the last ``patients`` list or as an id (checked
        against its grammar by the SPICO client, like every id)."""
        ref = parse_ref(word)
        if ref is None:
            raise Problem("patient_usage")
        if ref.kind != "number":
            return ref.value
        return str(pick(turn.lists("patients"), ref.number, "patients", turn.language)["id"])

    async def patient(self, turn: Turn, word: str) -> tuple[str, str]:
        """(id, label) of a patient the acting user may see (SPICO checks access)."""
        patient_id = self.patient_id(turn, word)
        with not_found_as("unknown_patient", patient_id):
            patient = await self.composer.patient(patient_id, on_behalf_of=turn.spico_id)
        return patient.id, texts.patient_label(patient, turn.language)

    async def resolve_targets(
        self, turn: Turn, refs: Sequence[Ref], *, professionals_only: bool = True
    ) -> list[tuple[str, str]]:
        """(SPICO id, name) of each reference, in order; raises Problem on the first that
        does not resolve."""
        resolved: list[tuple[str, str]] = []
        directory = turn.lists("directory")
        mapping = self.mapping()
        for ref in refs:
            if ref.kind == "number":
                item = pick(directory, ref.number, "directory", turn.language)
                if professionals_only and item.get("kind") == "structure":
                    raise Problem("structure_member", name=item.get("name"))
                resolved.append((str(item["id"]), str(item.get("name") or item["id"])))
            elif ref.kind == "matrix":
                spico_id = mapping.get(ref.value)
                if spico_id is None:
                    raise Problem("matrix_unmapped", user=ref.value)
                resolved.append((spico_id, ref.value))
            elif ref.kind == "address":
                entry = await self.composer.lookup_address(ref.value)
                if entry is None:
                    raise Problem("unknown_address", ref=ref.value)
                if professionals_only and entry.kind == "structure":
                    raise Problem("structure_member", name=entry.name)
                resolved.append((entry.id, entry.name))
            else:
                resolved.append((ref.value, ref.value))
        return list(dict.fromkeys(resolved))

    async def members(
        self, turn: Turn, refs: Sequence[Ref]
    ) -> tuple[list[str], list[str], list[DirectoryEntry]]:
        """Members' ids, names and directory entries (each checked in the directory)."""
        ids, names, entries = [], [], []
        for spico_id, _ in await self.resolve_targets(turn, refs):
            with not_found_as("unknown_professional", spico_id):
                entry = await self.composer.professional(spico_id)
            if spico_id not in ids:
                ids.append(spico_id)
                names.append(entry.name)
                entries.append(entry)
        return ids, names, entries

    def notes(self, turn: Turn, entries: Sequence[DirectoryEntry]) -> list[str]:
        """Members who will not see the conversation in Matrix nor SPICO soon: how they learn."""
        mapped = set(self.mapping().values())
        notes = []
        for entry in entries:
            if entry.id in mapped or (entry.status != "inactive" and entry.has_account):
                continue
            status = status_label(entry.status, turn.language)
            key = (
                "inactive_note"
                if self.settings.mail_enabled and self.settings.notifications_enabled
                else "inactive_note_no_mail"
            )
            notes.append(text(turn.language, key, name=entry.name, status=status))
        return notes

    def room_note(self, members: Sequence[str]) -> str:
        """Who the conversation's room will invite (its mapped members)."""
        by_member = matrix_users_by_spico_id(self.mapping())
        users = [by_member[m] for m in members if m in by_member]
        language = self.settings.language
        if not users:
            return text(language, "new_no_room")
        return text(language, "new_room", users=", ".join(users))
