"""Self-service links: ``lier`` mails a one-time code to the professional's directory mailbox,
``code`` completes the link, ``délier`` undoes it (rules: ``bridge.core.linking``).

The code goes to the address SPICO's directory holds, never to one the user typed; it is
queued in the store and mailed by the mail world (only its digest stays once sent); it is
compared in constant time and never logged nor repeated in a reply.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from bridge.core import linking
from bridge.core.model import World
from bridge.matrix.commands.parse import Request
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, not_found_as
from bridge.matrix.commands.turn import Turn
from bridge.matrix.texts import text
from bridge.store import links as links_repo
from bridge.store import repositories as repo

if TYPE_CHECKING:
    from bridge.core.composer import DirectoryEntry
    from bridge.matrix.commands.executor import CommandExecutor, LinkPort


def _port(executor: CommandExecutor, turn: Turn) -> LinkPort:
    """The Matrix world's side of links, when self-service is open to this user."""
    settings = executor.settings
    if not settings.self_service or executor.links is None:
        raise Problem("link_off")
    if not linking.server_allowed(turn.sender, settings.allowed_servers, settings.server_name):
        raise Problem("link_server", server=linking.server_of(turn.sender)[:60])
    return executor.links


def masked(address: str) -> str:
    """Where the code went, without spelling the mailbox out: ``j…@domaine``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


async def _professional(executor: CommandExecutor, word: str) -> DirectoryEntry:
    target = linking.parse_target(word)
    if target is None:
        raise Problem("link_usage")
    if target.kind == "address":
        entry = await executor.composer.lookup_address(target.value)
        if entry is None:
            raise Problem("link_unknown", ref=word[:60])
    else:
        with not_found_as("link_unknown", word):
            entry = await executor.composer.professional(target.value)
    if entry.kind != "professional":
        raise Problem("link_unknown", ref=word[:60])
    if not entry.mssante_address:
        raise Problem("link_no_address", name=entry.name)
    return entry


async def _audit(
    executor: CommandExecutor, action: str, outcome: str, spico_id: str, user: str
) -> None:
    async with executor.store.transaction() as session:
        await repo.add_audit(
            session,
            world=World.MATRIX.value,
            action=action,
            outcome=outcome,
            actor_id=spico_id,
            conversation_id=None,
            destination=user,
            detail=None,
        )


def _refuse(refusal: linking.LinkRefusal, name: str) -> Problem:
    return Problem(f"link_{refusal}", name=name)


@command(
    "link",
    fr=("lier", "relier"),
    en=("link",),
    where="management",
    rank=200,
    unmapped=True,
)
async def link(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    port = _port(executor, turn)
    if len(request.args) != 1:
        raise Problem("link_usage")
    entry = await _professional(executor, request.args[0])
    now = turn.now
    async with executor.store.transaction() as session:
        links = await links_repo.links(session)
        refusal = linking.link_refusal(entry.id, turn.sender, port.configured(), links)
        if refusal is None:
            by_user, by_professional = await links_repo.codes_sent_since(
                session, now - linking.RATE_WINDOW
            )
            if linking.rate_limited(by_user.get(turn.sender, 0), by_professional.get(entry.id, 0)):
                refusal_key = "link_rate_limited"
            else:
                refusal_key = None
                code = f"{secrets.randbelow(10**linking.CODE_DIGITS):0{linking.CODE_DIGITS}d}"
                salt = secrets.token_hex(16)
                await links_repo.add_code(
                    session,
                    links_repo.NewCode(
                        matrix_user=turn.sender,
                        spico_id=entry.id,
                        address=entry.mssante_address,
                        digest=linking.code_digest(salt, code),
                        salt=salt,
                        code=code,
                        language=turn.language,
                        created_at=now,
                        expires_at=now + linking.CODE_TTL,
                    ),
                )
                await links_repo.prune_codes(session, now)
    if refusal is not None:
        await _audit(executor, "matrix.link_code", f"refused:{refusal}", entry.id, turn.sender)
        raise _refuse(refusal, entry.name)
    if refusal_key is not None:
        await _audit(executor, "matrix.link_code", "refused:rate_limited", entry.id, turn.sender)
        raise Problem(refusal_key)
    await _audit(executor, "matrix.link_code", "sent", entry.id, turn.sender)
    minutes = int(linking.CODE_TTL.total_seconds() // 60)
    turn.say(
        text(
            turn.language,
            "link_code_sent",
            name=entry.name,
            address=masked(entry.mssante_address),
            minutes=minutes,
        )
    )


@command("code", fr=("code",), en=("code",), where="management", rank=201, unmapped=True)
async def code(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    port = _port(executor, turn)
    typed = "".join(request.args)
    if not typed:
        raise Problem("code_usage")
    async with executor.store.transaction() as session:
        challenge = await links_repo.pending_code(session, turn.sender)
        verdict = linking.check_code(challenge, typed, turn.now)
        if challenge is not None and verdict == "expired":
            await links_repo.close_code(session, challenge.id, "expired")
        elif challenge is not None and verdict in ("wrong", "exhausted"):
            state = "exhausted" if verdict == "exhausted" else "pending"
            await links_repo.code_tried(session, challenge.id, state=state)
    if challenge is None or verdict == "none":
        raise Problem("code_none")
    if verdict != "ok":
        await _audit(executor, "matrix.link", f"refused:{verdict}", challenge.spico_id, turn.sender)
        left = linking.MAX_TRIES - challenge.tries - 1
        raise Problem(f"code_{verdict}", left=left)
    spico_id = challenge.spico_id
    try:
        async with executor.store.transaction() as session:
            links = await links_repo.links(session)
            refusal = linking.link_refusal(spico_id, turn.sender, port.configured(), links)
            await links_repo.close_code(session, challenge.id, "used")
            if refusal is None:
                await links_repo.save_link(session, spico_id, turn.sender, turn.now)
    except IntegrityError:
        refusal = "taken"  # linked by someone else at the same moment
    name = await executor.name_of(spico_id, spico_id)
    if refusal is not None:
        await _audit(executor, "matrix.link", f"refused:{refusal}", spico_id, turn.sender)
        raise _refuse(refusal, name)
    await _audit(executor, "matrix.link", "done", spico_id, turn.sender)
    portals = await port.changed(spico_id)
    turn.say(text(turn.language, "linked", name=name, count=portals))


@command("unlink", fr=("délier", "delier"), en=("unlink",), where="management", rank=202)
async def unlink(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    port = executor.links
    if port is None:
        raise Problem("link_off")
    if turn.spico_id in port.configured():
        raise Problem("unlink_pinned")
    async with executor.store.transaction() as session:
        spico_id = await links_repo.remove_link(session, turn.sender)
    if spico_id is None:
        raise Problem("unlink_none")
    await _audit(executor, "matrix.unlink", "done", spico_id, turn.sender)
    portals = await port.changed(spico_id)
    turn.say(text(turn.language, "unlinked", count=portals))
