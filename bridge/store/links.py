"""Repositories of the self-service links (``bridge.core.linking``): the links themselves and
the one-time codes, whose mail the mail world sends (``codes_to_mail`` / ``code_mailed``).

Same style as ``repositories``: functions over an ``AsyncSession``; the caller decides the
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.core.linking import RATE_WINDOW, Challenge
from bridge.store.models import LinkCode, MatrixLink


async def links(session: AsyncSession) -> dict[str, str]:
    """Every stored link, {SPICO id: Matrix user}."""
    rows = await session.execute(select(MatrixLink.spico_id, MatrixLink.matrix_user))
    return {spico_id: user for spico_id, user in rows.all()}


async def save_link(session: AsyncSession, spico_id: str, matrix_user: str, now: datetime) -> None:
    session.add(MatrixLink(spico_id=spico_id, matrix_user=matrix_user, linked_at=now))
    await session.flush()


async def remove_link(session: AsyncSession, matrix_user: str) -> str | None:
    """Undo ``matrix_user``'s link; the professional it was linked to (None: no link)."""
    spico_id = await session.scalar(
        select(MatrixLink.spico_id).where(MatrixLink.matrix_user == matrix_user)
    )
    if spico_id is not None:
        await session.execute(delete(MatrixLink).where(MatrixLink.spico_id == spico_id))
    return spico_id


# --- codes -----------------------------------------------------------------------------------


async def codes_sent_since(
    session: AsyncSession, since: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Codes created since ``since``: ({Matrix user: count}, {SPICO id: count})."""
    by_user = await session.execute(
        select(LinkCode.matrix_user, func.count())
        .where(LinkCode.created_at >= since)
        .group_by(LinkCode.matrix_user)
    )
    by_professional = await session.execute(
        select(LinkCode.spico_id, func.count())
        .where(LinkCode.created_at >= since)
        .group_by(LinkCode.spico_id)
    )
    return dict(by_user.all()), dict(by_professional.all())


@dataclass(frozen=True, slots=True)
class NewCode:
    matrix_user: str
    spico_id: str
    address: str
    digest: str
    salt: str
    code: str
    language: str
    created_at: datetime
    expires_at: datetime


async def add_code(session: AsyncSession, new: NewCode) -> None:
    """A new code for ``new.matrix_user``: their earlier pending codes are replaced."""
    await session.execute(
        update(LinkCode)
        .where(LinkCode.matrix_user == new.matrix_user, LinkCode.state == "pending")
        .values(state="replaced", mail_code=None)
    )
    session.add(
        LinkCode(
            matrix_user=new.matrix_user,
            spico_id=new.spico_id,
            address=new.address,
            digest=new.digest,
            salt=new.salt,
            language=new.language,
            mail_code=new.code,
            created_at=new.created_at,
            expires_at=new.expires_at,
            tries=0,
            state="pending",
        )
    )


async def pending_code(session: AsyncSession, matrix_user: str) -> Challenge | None:
    row = await session.scalar(
        select(LinkCode)
        .where(LinkCode.matrix_user == matrix_user, LinkCode.state == "pending")
        .order_by(LinkCode.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return Challenge(row.id, row.spico_id, row.digest, row.salt, row.expires_at, row.tries)


async def code_tried(session: AsyncSession, code_id: int, *, state: str = "pending") -> None:
    """One more wrong try (``state``: ``exhausted`` when it was the last)."""
    await session.execute(
        update(LinkCode).where(LinkCode.id == code_id).values(tries=LinkCode.tries + 1, state=state)
    )


async def close_code(session: AsyncSession, code_id: int, state: str) -> None:
    """The code is done with (``used``, ``expired``): it can never be checked again."""
    await session.execute(
        update(LinkCode).where(LinkCode.id == code_id).values(state=state, mail_code=None)
    )


@dataclass(frozen=True, slots=True)
class CodeMail:
    id: int
    address: str
    code: str
    matrix_user: str
    language: str
    expires_at: datetime


async def codes_to_mail(session: AsyncSession, now: datetime) -> list[CodeMail]:
    """Codes not mailed yet and still usable."""
    rows = await session.scalars(
        select(LinkCode).where(
            LinkCode.mail_code.is_not(None),
            LinkCode.state == "pending",
            LinkCode.expires_at > now,
        )
    )
    return [
        CodeMail(r.id, r.address, str(r.mail_code), r.matrix_user, r.language, r.expires_at)
        for r in rows
    ]


async def code_mailed(session: AsyncSession, code_id: int) -> None:
    """The code went out: only its digest stays."""
    await session.execute(update(LinkCode).where(LinkCode.id == code_id).values(mail_code=None))


async def prune_codes(session: AsyncSession, now: datetime) -> None:
    """Codes older than the rate window (and so expired) are of no more use."""
    await session.execute(delete(LinkCode).where(LinkCode.created_at < now - RATE_WINDOW))
