"""Conversations: start one (``new`` and its guided dialogue), and change the room's
conversation's members (``members``, ``invite``, ``remove``).

The dialogue goes on in the user's management room (its prompts may show the patient); a
conversation created from a portal room is confirmed there with the patient's id only. The
patient of the care circle the user last looked at is carried into ``new`` only while that look
is recent (``CIRCLE_CONTEXT_TTL``), and the answer says so whenever it is.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bridge.core.composer import NewConversation
from bridge.core.model import matrix_users_by_spico_id
from bridge.matrix.commands import dialogue, texts
from bridge.matrix.commands.dialogue import Draft
from bridge.matrix.commands.parse import NONE_WORDS, Ref, Request, parse_refs
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem
from bridge.matrix.commands.turn import Reply, Turn
from bridge.matrix.formatting import display_name, status_label
from bridge.matrix.sink import person_of
from bridge.matrix.texts import text
from bridge.store import repositories as repo

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor

#: How long the care circle a user looked at stays what ``new`` is about. A few minutes is the
#: time of "look at the circle, then start the conversation"; after that the user has moved on,
#: and carrying the patient into an unrelated conversation would link the wrong file.
CIRCLE_CONTEXT_TTL = timedelta(minutes=15)


def circle_context(context: dict[str, Any], now: datetime) -> tuple[str, str, datetime] | None:
    """(patient id, label, when looked at) of the user's last care circle, while recent; None
    when the last list was not a circle, is older than ``CIRCLE_CONTEXT_TTL``, or is of a
    version that did not record when (pure)."""
    if context.get("source") != "circle" or not context.get("patient_id"):
        return None
    try:
        at = datetime.fromisoformat(str(context.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None or not timedelta(0) <= now - at <= CIRCLE_CONTEXT_TTL:
        return None
    patient_id = str(context["patient_id"])
    return patient_id, str(context.get("patient_label") or patient_id), at


@command(
    "new",
    fr=("nouveau", "nouvelle"),
    en=("new",),
    rank=70,
    options={
        "--patient": ("patient", True),
        "--subject": ("subject", True),
        "--sujet": ("subject", True),
        "--objet": ("subject", True),
        "--message": ("message", True),
    },
)
async def new(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    language = turn.language
    circle = circle_context(dict(turn.state.context or {}), turn.now)
    given = bool(request.args or request.options or request.rest)
    draft = Draft(ask_patient=not given and circle is None)
    if circle is not None:
        patient_id, label, at = circle
        draft = dialogue.with_patient(
            replace(draft, from_circle=True, circle_at=at.isoformat()), patient_id, label
        )
    patient_word = request.options.get("patient")
    if isinstance(patient_word, str) and patient_word:
        if patient_word.lower() in NONE_WORDS:
            draft = dialogue.with_patient(replace(draft, circle_at=None), None, None)
        else:
            found = await executor.patient(turn, patient_word)
            draft = dialogue.with_patient(replace(draft, circle_at=None), *found)
    refs = parse_refs(request.args)
    if refs:
        ids, names, _ = await executor.members(turn, refs)
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
        await create(executor, turn, draft)
        return
    if turn.where.management:
        turn.set(dialogue=draft.to_json())
        turn.say(prompt(executor, turn, draft))
    elif turn.management_room:
        turn.set(dialogue=draft.to_json())
        turn.replies.append(
            Reply(turn.management_room, prompt(executor, turn, draft), False, private=True)
        )
        turn.say(text(language, "dialogue_elsewhere"))
    else:
        raise Problem("dialogue_no_room", prefix=turn.prefix, bot=executor.settings.bot_user_id)


def prompt(executor: CommandExecutor, turn: Turn, draft: Draft) -> str:
    """Where the dialogue stands and what it asks next (management room only: it may name the
    patient)."""
    language = turn.language
    step = dialogue.next_step(draft)
    key = dialogue.prompt_key(draft, step)
    asked = text(language, key, patient=draft.patient_label or "")
    if step == "members" and draft.from_circle:
        items = turn.lists("directory")
        lines = [f"{i}. {entry.get('label')}" for i, entry in enumerate(items, 1)]
        return "\n".join([_circle_line(draft, language, private=True), asked, *lines])
    if step == "confirm" or (draft.members and step != "members"):
        summary = texts.summary_text(
            texts.DraftView(draft.labels, draft.patient_label, draft.subject, draft.message),
            language,
        )
        return f"{summary}\n{asked}"
    return asked


def remind(executor: CommandExecutor, turn: Turn, draft: Draft) -> None:
    """After a command run inside the dialogue: where the dialogue stands."""
    asked = prompt(executor, turn, draft)
    for index in range(len(turn.replies) - 1, -1, -1):
        reply = turn.replies[index]
        if reply.room_id == turn.where.room_id:
            turn.replies[index] = replace(reply, text=f"{reply.text}\n\n{asked}")
            return
    turn.say(asked)


async def answer(executor: CommandExecutor, turn: Turn, draft: Draft, line: str) -> None:
    """One answer of the guided dialogue (management room)."""
    step = dialogue.next_step(draft)
    interpreted = dialogue.interpret(step, line)
    if isinstance(interpreted, dialogue.Cancel):
        turn.set(dialogue=None)
        turn.say(text(turn.language, "dialogue_cancelled"))
        return
    if isinstance(interpreted, dialogue.Invalid):
        body = text(turn.language, interpreted.reason, length=interpreted.length)
        turn.say(f"{body}\n{prompt(executor, turn, draft)}")
        return
    try:
        if isinstance(interpreted, dialogue.Members):
            ids, names, _ = await executor.members(turn, interpreted.refs)
            draft = dialogue.with_members(draft, ids, names)
        elif isinstance(interpreted, dialogue.PatientChoice):
            if interpreted.ref is None:
                draft = dialogue.with_patient(draft, None, None)
            else:
                found = await executor.patient(turn, interpreted.ref.value)
                draft = dialogue.with_patient(draft, *found)
        elif isinstance(interpreted, dialogue.Text):
            draft = dialogue.with_text(draft, step, interpreted.value)
        elif isinstance(interpreted, dialogue.Confirm):
            await create(executor, turn, draft)
            return
    except Problem as problem:
        body = problem.text(turn.language)
        turn.say(f"{body}\n{prompt(executor, turn, draft)}")
        return
    turn.set(dialogue=draft.to_json())
    turn.say(prompt(executor, turn, draft))


async def create(executor: CommandExecutor, turn: Turn, draft: Draft) -> None:
    """Create the conversation as the acting account; the confirmation names the patient only
    in the management room (its id in a portal room) and says when it came from the circle."""
    assert draft.subject and draft.message and draft.members
    created = await executor.composer.create_conversation(
        NewConversation(
            on_behalf_of=turn.spico_id,
            acting_as=turn.acting,
            members=draft.members,
            subject=draft.subject,
            message=draft.message,
            patient_id=draft.patient_id,
            idempotency_key=f"matrix:{turn.where.event_id}",
        )
    )
    turn.set(dialogue=None, context={})
    await executor.audit(turn, "command.new", created.id)
    language = turn.language
    private = turn.where.management
    patient = draft.patient_label if private else draft.patient_id
    summary = texts.summary_text(
        texts.DraftView(draft.labels, patient, draft.subject, draft.message), language
    )
    lines = [text(language, "new_created", subject=created.subject, conversation=created.id)]
    if draft.circle_at and draft.patient_id:
        lines.append(_circle_line(draft, language, private=private))
    lines.append(summary.split("\n", 1)[1])
    lines.append(executor.room_note(created.members))
    entries = [await executor.entry(m) for m in created.members if m != turn.acting]
    lines += executor.notes(turn, [e for e in entries if e is not None])
    turn.say("\n".join(lines), private=private)


def _circle_line(draft: Draft, language: str, *, private: bool) -> str:
    """ "Patient taken from the care circle you looked at at 14:02: …" (the id in a shared
    room)."""
    try:
        at: datetime | str = datetime.fromisoformat(draft.circle_at or "").astimezone()
    except ValueError:
        at = "—"
    patient = (draft.patient_label if private else draft.patient_id) or ""
    return text(language, "circle_context_used", at=at, patient=patient)


# --- the room's conversation (portal rooms) --------------------------------------------------


@command("members", fr=("membres",), en=("members",), where="portal", rank=100)
async def members(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    listed = turn.where.members
    rows = await executor.store.run(lambda connection: repo.get_professionals(connection, listed))
    matrix_users = matrix_users_by_spico_id(executor.mapping())
    lines = [text(turn.language, "members_title")]
    items = []
    for number, member in enumerate(listed, 1):
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


def _members_asked(turn: Turn, request: Request) -> tuple[list[Ref], str]:
    """The members an ``invite`` or a ``remove`` names, and the portal's conversation."""
    refs = parse_refs(request.args)
    if not refs:
        raise Problem("member_usage")
    conversation_id = turn.where.conversation_id
    assert conversation_id is not None
    return refs, conversation_id


@command("invite", fr=("inviter", "ajouter"), en=("invite",), where="portal", rank=110)
async def invite(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    refs, conversation_id = _members_asked(turn, request)
    ids, names, entries = await executor.members(turn, refs)
    for member in ids:
        await executor.composer.add_member(
            conversation_id, member, on_behalf_of=turn.spico_id, acting_as=turn.acting
        )
    await executor.audit(turn, "command.invite", conversation_id)
    lines = [text(turn.language, "invited", names=", ".join(names))]
    lines += executor.notes(turn, entries)
    turn.say("\n".join(lines))


@command("remove", fr=("retirer",), en=("remove",), where="portal", rank=120)
async def remove(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    refs, conversation_id = _members_asked(turn, request)
    targets = await executor.resolve_targets(turn, refs)
    for member, _ in targets:
        await executor.composer.remove_member(
            conversation_id, member, on_behalf_of=turn.spico_id, acting_as=turn.acting
        )
    await executor.audit(turn, "command.remove", conversation_id)
    names = [await executor.name_of(member, name) for member, name in targets]
    turn.say(text(turn.language, "removed", names=", ".join(names)))
