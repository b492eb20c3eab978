"""``courriel`` / ``mail``: the member's own mail choices, the same the footer addresses of
bridge mails change (``bridge.store.preferences``): every conversation by mail or not, and in a
conversation's room, stop or follow that one. The config's ``delivery`` wins
(``core.routing.mail_choice_applies``); every change is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.core.model import MailChoice, World
from bridge.core.routing import mail_choice_applies
from bridge.matrix.commands.parse import Request
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem
from bridge.matrix.commands.turn import Turn
from bridge.matrix.texts import text
from bridge.store import preferences
from bridge.store import repositories as repo

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor

#: What the user may type after ``courriel``, and the action it is ("auto": back to default).
WORDS = {
    "stop": "stop",
    "arrêter": "stop",
    "arreter": "stop",
    "suivre": "follow",
    "follow": "follow",
    "tout": "all",
    "toutes": "all",
    "all": "all",
    "auto": "auto",
    "défaut": "auto",
    "defaut": "auto",
    "default": "auto",
}


@command("mail", fr=("courriel", "courriels"), en=("mail", "email"), rank=95)
async def mail(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    if not executor.settings.mail_enabled:
        raise Problem("mail_off")
    conversation_id = turn.where.conversation_id
    action = WORDS.get(request.args[0].lower()) if request.args else None
    if request.args and (action is None or (action in ("stop", "follow") and not conversation_id)):
        raise Problem("mail_usage")
    member = turn.spico_id
    if action is not None:
        configured = executor.links.configured().get(member) if executor.links else None
        if action != "auto" and not mail_choice_applies(
            configured.delivery if configured else None, action
        ):
            raise Problem("mail_pinned")
        async with executor.store.transaction() as session:
            if conversation_id is not None and action != "all":
                choice = None if action == "auto" else MailChoice(action)
                await preferences.set_conversation_choice(session, conversation_id, member, choice)
            else:
                general = preferences.ALL if action == "all" else None
                await preferences.set_member_preference(session, member, general)
            await repo.add_audit(
                session,
                world=World.MATRIX.value,
                action="mail.choice",
                outcome=action,
                actor_id=member,
                conversation_id=conversation_id,
                destination="mail",
                detail=None,
            )
    async with executor.store.transaction() as session:
        general, choices = await preferences.member_choices(session, member)
    lines = [text(turn.language, "mail_all" if general == preferences.ALL else "mail_default")]
    if conversation_id is not None:
        choice = choices.get(conversation_id)
        key = f"mail_here_{choice.value}" if choice else "mail_here_none"
        lines.append(text(turn.language, key))
    else:
        stopped = sorted(c for c, v in choices.items() if v is MailChoice.STOP)
        followed = sorted(c for c, v in choices.items() if v is MailChoice.FOLLOW)
        if stopped:
            lines.append(text(turn.language, "mail_stopped", ids=", ".join(stopped)))
        if followed:
            lines.append(text(turn.language, "mail_followed", ids=", ".join(followed)))
    lines.append(text(turn.language, "mail_howto"))
    turn.say("\n".join(lines))
