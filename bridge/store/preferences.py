"""Repositories of the members' own mail choices: for every conversation
(``mail_preferences``) and for one (``mail_conversation_choices``). Routing reads them
(``hub.participants.merge``); the mail world's footer addresses and the Matrix ``courriel``
command write them, each change audited by its caller.

Same style as ``repositories``: the caller decides the transaction (``conversation_choices``,
read by the fan-out, takes a unit of work's ``Connection``; the others an ``AsyncSession``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.core.model import MailChoice
from bridge.store import direct
from bridge.store.models import MailConversationChoice, MailPreference, utcnow
from bridge.store.repositories import _insert

#: The one member-level choice: every conversation's messages by mail.
ALL = "all"


async def set_member_preference(session: AsyncSession, member_id: str, choice: str | None) -> None:
    """``all`` (every message of every conversation by mail) or None (back to the default)."""
    await session.execute(delete(MailPreference).where(MailPreference.member_id == member_id))
    if choice is not None:
        session.add(MailPreference(member_id=member_id, choice=choice, updated_at=utcnow()))


async def set_conversation_choice(
    session: AsyncSession, conversation_id: str, member_id: str, choice: MailChoice | None
) -> None:
    """The member's choice for one conversation (None: back to their general preference)."""
    if choice is None:
        await session.execute(
            delete(MailConversationChoice).where(
                MailConversationChoice.conversation_id == conversation_id,
                MailConversationChoice.member_id == member_id,
            )
        )
        return
    statement = _insert(session, MailConversationChoice).values(
        conversation_id=conversation_id,
        member_id=member_id,
        choice=choice.value,
        updated_at=utcnow(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[MailConversationChoice.conversation_id, MailConversationChoice.member_id],
        set_={"choice": statement.excluded.choice, "updated_at": statement.excluded.updated_at},
    )
    await session.execute(statement)


def conversation_choices(
    connection: Connection, conversation_ids: Iterable[str]
) -> dict[tuple[str, str], MailChoice]:
    """{(conversation, member): choice} of the given conversations."""
    wanted = set(conversation_ids)
    if not wanted:
        return {}
    rows = direct.execute(connection, _CHOICES, {"ids": list(wanted)})
    return {(r.conversation_id, r.member_id): MailChoice(r.choice) for r in rows}


#: Built once (see ``repositories``: building a statement costs more than running it).
_CHOICES = select(
    MailConversationChoice.conversation_id,
    MailConversationChoice.member_id,
    MailConversationChoice.choice,
).where(MailConversationChoice.conversation_id.in_(bindparam("ids", expanding=True)))


async def member_choices(
    session: AsyncSession, member_id: str
) -> tuple[str | None, dict[str, MailChoice]]:
    """A member's general preference and their choices by conversation."""
    general = await session.scalar(
        select(MailPreference.choice).where(MailPreference.member_id == member_id)
    )
    rows = await session.scalars(
        select(MailConversationChoice).where(MailConversationChoice.member_id == member_id)
    )
    return general, {r.conversation_id: MailChoice(r.choice) for r in rows}
