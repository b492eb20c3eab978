"""``notify``: the inactive-user notification mail, now, for a member of the room's conversation.

The Matrix world decides whether it makes sense (``resolve.notify_refusal``) and asks the store
to queue it (``store.notifications``), which applies the mail sink's own rate limit; it never
writes the mail world's queue itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bridge.core.model import World
from bridge.matrix.commands import texts
from bridge.matrix.commands.parse import Request, parse_refs
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, notify_refusal
from bridge.matrix.commands.turn import Turn
from bridge.matrix.formatting import status_label
from bridge.matrix.texts import text
from bridge.store import repositories as repo

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor


@command(
    "notify",
    fr=("prévenir", "prevenir", "notifier"),
    en=("notify",),
    where="portal",
    rank=140,
)
async def notify(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    settings = executor.settings
    language = turn.language
    refs = parse_refs(request.args)
    if len(refs) != 1:
        raise Problem("member_usage")
    conversation_id = turn.where.conversation_id
    assert conversation_id is not None
    [(member, fallback)] = await executor.resolve_targets(turn, refs)
    entry = await executor.entry(member)
    name = entry.name if entry is not None else fallback
    known = await executor.store.run(
        lambda connection: repo.get_professionals(connection, [member])
    )
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
    answer = await executor.notifications.request_notification(
        conversation_id,
        member,
        requested_by=turn.spico_id,
        world=World.MATRIX.value,
        period=timedelta(minutes=settings.notification_period_minutes),
        now=turn.now,
    )
    if answer.outcome == "suppressed":
        raise Problem(
            "notify_suppressed",
            name=name,
            last=_when(answer.last_sent_at, language),
            period=texts.period_text(settings.notification_period_minutes, language),
            next=_when(answer.next_at, language),
        )
    if answer.outcome == "no_message":
        raise Problem("notify_no_message")
    if answer.outcome == "already_queued":
        raise Problem("notify_already", name=name)
    turn.say(text(language, "notify_queued", name=name, address=address))


def _when(moment: datetime | None, language: str) -> str:
    if moment is None:
        return "—"
    return text(language, "when", moment=moment.astimezone())
