"""The thin I/O shell of the ``!spico`` commands: composer calls, the user's stored state,
and the replies to send.

Parsing (``parse``), the dialogue (``dialogue``) and every sentence (``texts``) are pure; this
module resolves references (numbers of the last lists, Matrix users, idNat, MSSanté addresses)
through SPICO, calls the composer as the account the user acts as, and stores what the user
must find again after a restart (acting account, numbered lists, dialogue). SPICO enforces
delegations and patient access: its refusals are turned into sentences, never bypassed.

Logs name commands only: never arguments, bodies, patient names or INS.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.core.composer import (
    ComposerRefusal,
    ComposerUnavailable,
    DirectoryEntry,
    SpicoComposer,
)
from bridge.core.model import DeliveryKind, World, matrix_users_by_spico_id
from bridge.core.notifications import next_notification_at, notification_allowed
from bridge.matrix.commands import dialogue, texts
from bridge.matrix.commands.dialogue import Draft
from bridge.matrix.commands.parse import (
    CONVERSATION_COMMANDS,
    FAV_ACTIONS,
    NONE_WORDS,
    SELF_WORDS,
    Ref,
    Request,
    command_name,
    is_command_word,
    parse,
    parse_ref,
    parse_refs,
)
from bridge.matrix.commands.resolve import (
    Problem,
    find_team,
    not_found_as,
    notify_refusal,
    pick,
)
from bridge.matrix.formatting import display_name, status_label
from bridge.matrix.sink import person_of
from bridge.matrix.texts import text
from bridge.store import commands as commands_repo
from bridge.store import mail as mail_repo
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

SEARCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """What the commands read of the config (swapped whole on reload)."""

    language: str = "fr"
    prefix: str = "!spico"
    bot_user_id: str = ""
    mail_enabled: bool = False
    notifications_enabled: bool = True
    notification_period_minutes: int = 1440


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
    replies: list[Reply] = field(default_factory=list)

    @property
    def acting(self) -> str:
        return self.state.acting_as or self.spico_id

    def set(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def say(self, body: str) -> None:
        self.replies.append(Reply(self.where.room_id, body))

    def lists(self, kind: str) -> list[dict[str, Any]]:
        return list((self.state.lists or {}).get(kind) or [])

    def remember(self, kind: str, items: list[dict[str, Any]], **context: Any) -> None:
        lists = dict(self.state.lists or {})
        lists[kind] = items
        changes: dict[str, Any] = {"lists": lists}
        if kind == "directory":
            changes["context"] = {k: v for k, v in context.items() if v is not None}
        self.set(**changes)


def _item(entry: DirectoryEntry, label: str | None = None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "label": label or texts.entry_line(None, entry),
    }


Send = Callable[[Reply], Awaitable[None]]


class CommandExecutor:
    """Runs the command lines of mapped users: answers through ``send``, state in the store."""

    def __init__(
        self,
        composer: SpicoComposer,
        store: Store,
        spico_id_of: Callable[[], Mapping[str, str]],
        settings: CommandSettings,
    ) -> None:
        self._composer = composer
        self._store = store
        self._spico_id_of = spico_id_of
        self.settings = settings

    # ------------------------------------------------------------------ entry point

    async def run(self, sender: str, where: Where, line: str, send: Send) -> None:
        """Handle ``line`` (prefix removed); replies go out through ``send`` before the new
        state is committed (with the event marked handled), so a crash in between replays
        the command from the old state and the replies keep their transaction ids."""
        settings = self.settings
        language = settings.language
        spico_id = self._spico_id_of().get(sender)
        if spico_id is None:
            await send(Reply(where.room_id, text(language, "unmapped")))
            await self._commit(where, None)
            return
        async with self._store.transaction() as session:
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
        )
        name = "dialogue"
        try:
            draft = Draft.from_json(state.dialogue) if where.management else None
            if draft is not None and not self._runs_command(draft, line):
                await self._answer(turn, draft, line)
            else:
                request = parse(line)
                name = request.name or "unknown"
                await self._dispatch(turn, request)
                if draft is not None and request.name not in ("new", "cancel"):
                    self._remind(turn, draft)
        except Problem as problem:
            turn.say(problem.text(language))
        except ComposerRefusal as refusal:
            log.info("matrix command %s refused by SPICO (%s)", name, refusal.code)
            turn.say(texts.refusal_text(refusal.code, refusal.message, language))
        except ComposerUnavailable:
            log.warning("matrix command %s: SPICO unavailable", name)
            turn.say(text(language, "unavailable"))
        log.info("matrix command %s handled", name)
        acting_name = await self._acting_name(turn)
        for reply in turn.replies:
            await send(replace(reply, text=texts.with_acting(acting_name, reply.text, language)))
        await self._commit(where, turn.state)

    @staticmethod
    def _runs_command(draft: Draft, line: str) -> bool:
        """Inside the dialogue, the members and patient steps still take commands (to search
        first); the subject, message and confirmation steps take the text as it is."""
        step = dialogue.next_step(draft)
        if line.strip().lower() in ("help", "aide"):
            return True
        return step in ("members", "patient") and is_command_word(line)

    def _remind(self, turn: Turn, draft: Draft) -> None:
        """After a command run inside the dialogue: where the dialogue stands."""
        prompt = self._prompt(turn, draft)
        for index in range(len(turn.replies) - 1, -1, -1):
            reply = turn.replies[index]
            if reply.room_id == turn.where.room_id:
                turn.replies[index] = replace(reply, text=f"{reply.text}\n\n{prompt}")
                return
        turn.say(prompt)

    async def _commit(self, where: Where, state: commands_repo.CommandStateRow | None) -> None:
        async with self._store.transaction() as session:
            if state is not None:
                await commands_repo.save_state(session, state)
            await matrix_repo.save_event_link(
                session,
                event_id=where.event_id,
                room_id=where.room_id,
                conversation_id=where.conversation_id or "",
                spico_message_id=None,
                direction="in",
            )

    async def _acting_name(self, turn: Turn) -> str:
        if turn.state.acting_name:
            return turn.state.acting_name
        entry = await self._entry(turn.acting)
        if entry is None:
            return turn.acting
        turn.set(acting_name=entry.name)
        return entry.name

    # ------------------------------------------------------------------ dispatch

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
        if request.name in CONVERSATION_COMMANDS and turn.where.conversation_id is None:
            raise Problem("portal_only", prefix="!spico ", command=request.word)
        handler = getattr(self, f"_cmd_{request.name}")
        await handler(turn, request)

    async def _cmd_help(self, turn: Turn, request: Request) -> None:
        topic = command_name(request.args[0]) if request.args else None
        turn.say(texts.help_text(turn.language, turn.prefix.strip() or "!spico", topic))

    async def _cmd_members(self, turn: Turn, request: Request) -> None:
        members = turn.where.members
        async with self._store.transaction() as session:
            rows = await repo.get_professionals(session, members)
        matrix_users = matrix_users_by_spico_id(self._spico_id_of())
        lines = [text(turn.language, "members_title")]
        items = []
        for number, member in enumerate(members, 1):
            row = rows.get(member)
            name = display_name(person_of(member, row))
            who = name
            if row is not None and row.profession:
                who += f" — {row.profession}"
            status = status_label(row.status if row else None, turn.language)
            line = text(turn.language, "member_status", member=who, status=status)
            if member in matrix_users:
                line += f" ({matrix_users[member]})"
            lines.append(f"{number}. {line}")
            items.append({"id": member, "kind": "professional", "name": name, "label": line})
        turn.remember("directory", items, source="members")
        turn.say("\n".join(lines))

    # --- act as --------------------------------------------------------------------------

    async def _cmd_as(self, turn: Turn, request: Request) -> None:
        accounts = await self._composer.delegations(turn.spico_id)
        turn.remember("accounts", [_item(a, a.name) for a in accounts])
        if not request.args:
            turn.say(texts.accounts_text(accounts, turn.acting, turn.language))
            return
        word = request.args[0]
        chosen: DirectoryEntry | None = None
        if word.lower() in SELF_WORDS:
            chosen = next((a for a in accounts if a.id == turn.spico_id), None)
        else:
            ref = parse_ref(word)
            if ref is not None and ref.kind == "number":
                chosen = pick(accounts, ref.number, "accounts", turn.language)
            else:
                chosen = next((a for a in accounts if a.id == word), None)
        if chosen is None:
            raise Problem("no_delegation_for", target=word[:40])
        own = chosen.id == turn.spico_id
        turn.set(acting_as=None if own else chosen.id, acting_name=chosen.name)
        turn.say(
            text(turn.language, "acting_self")
            if own
            else text(turn.language, "acting_set", name=chosen.name)
        )

    # --- directory -----------------------------------------------------------------------

    async def _cmd_search(self, turn: Turn, request: Request) -> None:
        q = " ".join(request.args).strip()
        if not q:
            raise Problem("search_usage")
        await self._search(turn, q, bool(request.options.get("structures")))

    async def _search(self, turn: Turn, q: str, structures: bool) -> None:
        entries = await self._composer.search(
            q, structures=structures, on_behalf_of=turn.spico_id, limit=SEARCH_LIMIT
        )
        turn.remember("directory", [_item(e) for e in entries], source="search")
        turn.say(
            texts.search_text(q, entries, turn.language, structures=structures, limit=SEARCH_LIMIT)
        )

    async def _cmd_recent(self, turn: Turn, request: Request) -> None:
        searches = await self._composer.recent_searches(turn.spico_id)
        turn.remember("recent", [{"id": s.q, "kind": s.kind or "", "label": s.q} for s in searches])
        ref = parse_ref(request.args[0]) if request.args else None
        if ref is None or ref.kind != "number":
            turn.say(texts.recent_text(searches, turn.language))
            return
        search = pick(searches, ref.number, "recent", turn.language)
        await self._search(turn, search.q, search.kind == "structure")

    async def _cmd_fav(self, turn: Turn, request: Request) -> None:
        args = list(request.args)
        action = FAV_ACTIONS.get(args[0].lower(), None) if args else "list"
        if action is None:
            raise Problem("fav_usage")
        refs = parse_refs(args[1:])
        if action == "list":
            favorites = await self._composer.favorites(turn.spico_id)
            turn.remember("directory", [_item(e) for e in favorites], source="favorites")
            turn.say(texts.favorites_text(favorites, turn.language))
            return
        if not refs:
            raise Problem("fav_usage")
        targets = await self._resolve_targets(turn, refs, professionals_only=False)
        for target_id, _name in targets:
            if action == "add":
                await self._composer.add_favorite(turn.spico_id, target_id)
            else:
                await self._composer.remove_favorite(turn.spico_id, target_id)
        names = ", ".join(name for _, name in targets)
        turn.say(
            text(turn.language, "fav_added" if action == "add" else "fav_removed", names=names)
        )

    # --- patients ------------------------------------------------------------------------

    async def _cmd_patients(self, turn: Turn, request: Request) -> None:
        patients = await self._composer.patients(turn.acting)
        turn.remember("patients", [{"id": p.id} for p in patients])
        owner = await self._acting_name(turn)
        self._private(turn, texts.patients_text(owner, patients, turn.language))

    async def _cmd_circle(self, turn: Turn, request: Request) -> None:
        if not request.args:
            raise Problem("circle_usage")
        patient_id = self._patient_id(turn, request.args[0])
        with not_found_as("unknown_patient", patient_id):
            circle = await self._composer.care_circle(patient_id, on_behalf_of=turn.spico_id)
        items = [
            _item(
                m.professional,
                f"{m.professional.name} — {m.role} — {m.professional.id} — "
                f"{status_label(m.professional.status, turn.language)}",
            )
            for m in circle.members
        ]
        turn.remember(
            "directory",
            items,
            source="circle",
            patient_id=circle.patient.id,
            patient_label=texts.patient_label(circle.patient, turn.language),
        )
        self._private(turn, texts.circle_text(circle, turn.language))

    def _patient_id(self, turn: Turn, word: str) -> str:
        ref = parse_ref(word)
        if ref is None:
            raise Problem("patient_usage")
        if ref.kind != "number":
            return ref.value
        return str(pick(turn.lists("patients"), ref.number, "patients", turn.language)["id"])

    def _private(self, turn: Turn, body: str) -> None:
        """Patient identities only go to the user's management room, never a shared room."""
        if turn.where.management:
            turn.say(body)
        elif turn.management_room:
            turn.replies.append(Reply(turn.management_room, body, in_reply=False))
            turn.say(text(turn.language, "private_elsewhere"))
        else:
            turn.say(text(turn.language, "private_no_room", bot=self.settings.bot_user_id))

    # --- references ----------------------------------------------------------------------

    async def _resolve_targets(
        self, turn: Turn, refs: Sequence[Ref], *, professionals_only: bool = True
    ) -> list[tuple[str, str]]:
        """(SPICO id, name) of each reference, in order; raises Problem on the first that
        does not resolve."""
        resolved: list[tuple[str, str]] = []
        directory = turn.lists("directory")
        mapping = self._spico_id_of()
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
                entry = await self._composer.lookup_address(ref.value)
                if entry is None:
                    raise Problem("unknown_address", ref=ref.value)
                if professionals_only and entry.kind == "structure":
                    raise Problem("structure_member", name=entry.name)
                resolved.append((entry.id, entry.name))
            else:
                resolved.append((ref.value, ref.value))
        return list(dict.fromkeys(resolved))

    async def _members(
        self, turn: Turn, refs: Sequence[Ref]
    ) -> tuple[list[str], list[str], list[DirectoryEntry]]:
        """Members' ids, names and directory entries (each checked in the directory)."""
        ids, names, entries = [], [], []
        for spico_id, _ in await self._resolve_targets(turn, refs):
            with not_found_as("unknown_professional", spico_id):
                entry = await self._composer.professional(spico_id)
            if spico_id not in ids:
                ids.append(spico_id)
                names.append(entry.name)
                entries.append(entry)
        return ids, names, entries

    async def _patient(self, turn: Turn, word: str) -> tuple[str, str]:
        patient_id = self._patient_id(turn, word)
        with not_found_as("unknown_patient", patient_id):
            patient = await self._composer.patient(patient_id, on_behalf_of=turn.spico_id)
        return patient.id, texts.patient_label(patient, turn.language)

    def _notes(self, turn: Turn, entries: Sequence[DirectoryEntry]) -> list[str]:
        """Members who will not see the conversation in Matrix nor SPICO soon: how they learn."""
        mapped = set(self._spico_id_of().values())
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

    # --- new -----------------------------------------------------------------------------

    async def _cmd_new(self, turn: Turn, request: Request) -> None:
        language = turn.language
        context = dict(turn.state.context or {})
        circle = context.get("source") == "circle" and context.get("patient_id")
        given = bool(request.args or request.options or request.rest)
        draft = Draft(ask_patient=not given and not circle)
        if circle:
            draft = dialogue.with_patient(
                replace(draft, from_circle=True),
                str(context["patient_id"]),
                str(context.get("patient_label") or context["patient_id"]),
            )
        patient_word = request.options.get("patient")
        if isinstance(patient_word, str) and patient_word:
            if patient_word.lower() in NONE_WORDS:
                draft = dialogue.with_patient(draft, None, None)
            else:
                draft = dialogue.with_patient(draft, *await self._patient(turn, patient_word))
        refs = parse_refs(request.args)
        if refs:
            ids, names, _ = await self._members(turn, refs)
            draft = dialogue.with_members(draft, ids, names)
        subject = request.options.get("subject")
        if isinstance(subject, str) and subject.strip():
            answer = dialogue.interpret("subject", subject)
            if isinstance(answer, dialogue.Invalid):
                raise Problem(answer.reason, length=answer.length)
            assert isinstance(answer, dialogue.Text)
            draft = dialogue.with_text(draft, "subject", answer.value)
        message = request.rest or request.options.get("message")
        if isinstance(message, str) and message.strip():
            draft = dialogue.with_text(draft, "message", message.strip("\n"))
        if given and dialogue.complete(draft):
            await self._create(turn, draft)
            return
        if turn.where.management:
            turn.set(dialogue=draft.to_json())
            turn.say(self._prompt(turn, draft))
        elif turn.management_room:
            turn.set(dialogue=draft.to_json())
            turn.replies.append(Reply(turn.management_room, self._prompt(turn, draft), False))
            turn.say(text(language, "dialogue_elsewhere"))
        else:
            raise Problem("dialogue_no_room", prefix=turn.prefix, bot=self.settings.bot_user_id)

    def _prompt(self, turn: Turn, draft: Draft) -> str:
        language = turn.language
        step = dialogue.next_step(draft)
        key = dialogue.prompt_key(draft, step)
        prompt = text(language, key, patient=draft.patient_label or "")
        if step == "members" and draft.from_circle:
            items = turn.lists("directory")
            lines = [f"{i}. {item.get('label')}" for i, item in enumerate(items, 1)]
            return "\n".join([prompt, *lines])
        if step == "confirm" or (draft.members and step != "members"):
            summary = texts.summary_text(
                texts.DraftView(draft.labels, draft.patient_label, draft.subject, draft.message),
                language,
            )
            return f"{summary}\n{prompt}"
        return prompt

    async def _answer(self, turn: Turn, draft: Draft, line: str) -> None:
        """One answer of the guided dialogue (management room)."""
        step = dialogue.next_step(draft)
        answer = dialogue.interpret(step, line)
        if isinstance(answer, dialogue.Cancel):
            turn.set(dialogue=None)
            turn.say(text(turn.language, "dialogue_cancelled"))
            return
        if isinstance(answer, dialogue.Invalid):
            body = text(turn.language, answer.reason, length=answer.length)
            turn.say(f"{body}\n{self._prompt(turn, draft)}")
            return
        try:
            if isinstance(answer, dialogue.Members):
                ids, names, _ = await self._members(turn, answer.refs)
                draft = dialogue.with_members(draft, ids, names)
            elif isinstance(answer, dialogue.PatientChoice):
                if answer.ref is None:
                    draft = dialogue.with_patient(draft, None, None)
                else:
                    draft = dialogue.with_patient(
                        draft, *await self._patient(turn, answer.ref.value)
                    )
            elif isinstance(answer, dialogue.Text):
                draft = dialogue.with_text(draft, step, answer.value)
            elif isinstance(answer, dialogue.Confirm):
                await self._create(turn, draft)
                return
        except Problem as problem:
            body = problem.text(turn.language)
            turn.say(f"{body}\n{self._prompt(turn, draft)}")
            return
        turn.set(dialogue=draft.to_json())
        turn.say(self._prompt(turn, draft))

    async def _create(self, turn: Turn, draft: Draft) -> None:
        assert draft.subject and draft.message and draft.members
        created = await self._composer.create_conversation(
            on_behalf_of=turn.spico_id,
            acting_as=turn.acting,
            members=list(draft.members),
            subject=draft.subject,
            message=draft.message,
            patient_id=draft.patient_id,
            idempotency_key=f"matrix:{turn.where.event_id}",
        )
        turn.set(dialogue=None)
        await self._audit(turn, "command.new", created.id)
        language = turn.language
        lines = [
            text(language, "new_created", subject=created.subject, conversation=created.id),
            texts.summary_text(
                texts.DraftView(draft.labels, draft.patient_label, draft.subject, draft.message),
                language,
            ).split("\n", 1)[1],
        ]
        lines.append(self._room_note(created.members))
        entries = [await self._entry(m) for m in created.members if m != turn.acting]
        lines += self._notes(turn, [e for e in entries if e is not None])
        turn.say("\n".join(lines))

    def _room_note(self, members: Sequence[str]) -> str:
        by_member = matrix_users_by_spico_id(self._spico_id_of())
        users = [by_member[m] for m in members if m in by_member]
        language = self.settings.language
        if not users:
            return text(language, "new_no_room")
        return text(language, "new_room", users=", ".join(users))

    async def _entry(self, spico_id: str) -> DirectoryEntry | None:
        try:
            return await self._composer.professional(spico_id)
        except (ComposerRefusal, ComposerUnavailable):
            return None

    async def _audit(self, turn: Turn, action: str, conversation_id: str | None) -> None:
        async with self._store.transaction() as session:
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

    async def _cmd_cancel(self, turn: Turn, request: Request) -> None:
        if turn.state.dialogue is None:
            turn.say(text(turn.language, "nothing_to_cancel"))
            return
        turn.set(dialogue=None)
        turn.say(text(turn.language, "dialogue_cancelled"))

    # --- conversation changes (portal rooms) ---------------------------------------------

    async def _cmd_invite(self, turn: Turn, request: Request) -> None:
        refs = parse_refs(request.args)
        if not refs:
            raise Problem("member_usage")
        conversation_id = turn.where.conversation_id
        assert conversation_id is not None
        ids, names, entries = await self._members(turn, refs)
        for member in ids:
            await self._composer.add_member(
                conversation_id, member, on_behalf_of=turn.spico_id, acting_as=turn.acting
            )
        await self._audit(turn, "command.invite", conversation_id)
        lines = [text(turn.language, "invited", names=", ".join(names))]
        lines += self._notes(turn, entries)
        turn.say("\n".join(lines))

    async def _cmd_remove(self, turn: Turn, request: Request) -> None:
        refs = parse_refs(request.args)
        if not refs:
            raise Problem("member_usage")
        conversation_id = turn.where.conversation_id
        assert conversation_id is not None
        targets = await self._resolve_targets(turn, refs)
        for member, _ in targets:
            await self._composer.remove_member(
                conversation_id, member, on_behalf_of=turn.spico_id, acting_as=turn.acting
            )
        await self._audit(turn, "command.remove", conversation_id)
        names = [await self._name(member, name) for member, name in targets]
        turn.say(text(turn.language, "removed", names=", ".join(names)))

    async def _name(self, spico_id: str, fallback: str) -> str:
        entry = await self._entry(spico_id)
        return entry.name if entry is not None else fallback

    async def _cmd_patient(self, turn: Turn, request: Request) -> None:
        if not request.args:
            raise Problem("patient_usage")
        conversation_id = turn.where.conversation_id
        assert conversation_id is not None
        word = request.args[0]
        if word.lower() in NONE_WORDS:
            await self._composer.unlink_patient(
                conversation_id, on_behalf_of=turn.spico_id, acting_as=turn.acting
            )
            await self._audit(turn, "command.patient", conversation_id)
            turn.say(text(turn.language, "patient_unlinked"))
            return
        patient_id = self._patient_id(turn, word)
        with not_found_as("unknown_patient", patient_id):
            await self._composer.link_patient(
                conversation_id, patient_id, on_behalf_of=turn.spico_id, acting_as=turn.acting
            )
        await self._audit(turn, "command.patient", conversation_id)
        # In a shared room: the patient's id only (the room's tag follows the room policy).
        turn.say(text(turn.language, "patient_linked", patient=patient_id))

    # --- resource teams ------------------------------------------------------------------

    async def _cmd_team(self, turn: Turn, request: Request) -> None:
        teams = await self._composer.teams()
        turn.remember("teams", [{"id": t.id, "label": t.name} for t in teams])
        if not request.args:
            turn.say(texts.teams_text(teams, turn.language))
            return
        team = find_team(teams, request.args[0], turn.language)
        message = request.rest if request.rest is not None else request.tail
        if not message or not message.strip():
            raise Problem("team_usage")
        patient_id = None
        patient_word = request.options.get("patient")
        if isinstance(patient_word, str) and patient_word:
            patient_id, _ = await self._patient(turn, patient_word)
        subject = request.options.get("subject")
        created = await self._composer.request_team(
            team.id,
            on_behalf_of=turn.spico_id,
            acting_as=turn.acting,
            message=message.strip("\n"),
            subject=subject if isinstance(subject, str) and subject.strip() else None,
            patient_id=patient_id,
            idempotency_key=f"matrix:{turn.where.event_id}",
        )
        await self._audit(turn, "command.team", created.id)
        lines = [
            text(turn.language, "team_requested", team=team.name, subject=created.subject),
            self._room_note(created.members),
        ]
        turn.say("\n".join(lines))

    # --- notify --------------------------------------------------------------------------

    async def _cmd_notify(self, turn: Turn, request: Request) -> None:
        settings = self.settings
        language = turn.language
        refs = parse_refs(request.args)
        if len(refs) != 1:
            raise Problem("member_usage")
        conversation_id = turn.where.conversation_id
        assert conversation_id is not None
        [(member, fallback)] = await self._resolve_targets(turn, refs)
        entry = await self._entry(member)
        name = entry.name if entry is not None else fallback
        async with self._store.transaction() as session:
            known = await repo.get_professionals(session, [member])
        address = (entry.mssante_address if entry else None) or (
            known[member].mssante_address if member in known else None
        )
        refusal = notify_refusal(
            mail_enabled=settings.mail_enabled,
            notifications_enabled=settings.notifications_enabled,
            is_member=member in turn.where.members,
            status=entry.status if entry else None,
            has_account=entry.has_account if entry else True,
            address=address,
        )
        if refusal is not None:
            status = status_label(entry.status if entry else None, language)
            raise Problem(refusal, name=name, status=status)
        period = timedelta(minutes=settings.notification_period_minutes)
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            sent = await mail_repo.get_notification(session, conversation_id, member)
            last = sent.last_sent_at if sent else None
            if not notification_allowed(last, now, period):
                assert last is not None
                upcoming = next_notification_at(last, period)
                raise Problem(
                    "notify_suppressed",
                    name=name,
                    last=_when(last, language),
                    period=texts.period_text(settings.notification_period_minutes, language),
                    next=_when(upcoming, language),
                )
            seq = await commands_repo.latest_message_seq(session, conversation_id)
            if seq is None:
                raise Problem("notify_no_message")
            queued = await repo.enqueue(
                session,
                [
                    repo.NewDelivery(
                        seq, conversation_id, World.MAIL.value, member, DeliveryKind.NOTIFY.value
                    )
                ],
            )
            if not queued:
                raise Problem("notify_already", name=name)
            await repo.add_audit(
                session,
                world=World.MATRIX.value,
                action="command.notify",
                outcome="done",
                actor_id=turn.spico_id,
                conversation_id=conversation_id,
                destination=f"mail:{member}",
            )
        turn.say(text(language, "notify_queued", name=name, address=address))


def _when(moment: datetime | None, language: str) -> str:
    if moment is None:
        return "—"
    return text(language, "when", moment=moment.astimezone())
