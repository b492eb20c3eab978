"""Commands about the commands themselves: help, the account the user acts as, cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.core.composer import DirectoryEntry
from bridge.matrix.commands import texts
from bridge.matrix.commands.parse import SELF_WORDS, Request, command_name, parse_ref
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, pick
from bridge.matrix.commands.turn import Turn, item
from bridge.matrix.texts import text

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor


@command("help", fr=("aide", "?"), en=("help",), rank=0, unmapped=True)
async def help_(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    topic = command_name(request.args[0]) if request.args else None
    turn.say(texts.help_text(turn.language, turn.prefix.strip() or "!spico", topic))


@command("as", fr=("agir",), en=("as",), rank=10)
async def act_as(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    """ "Agir en tant que": list the accounts (own + delegations), or choose one."""
    accounts = await executor.composer.delegations(turn.spico_id)
    turn.remember("accounts", [item(a, a.name) for a in accounts])
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


@command("cancel", fr=("annuler",), en=("cancel",), rank=80)
async def cancel(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    if turn.state.dialogue is None:
        turn.say(text(turn.language, "nothing_to_cancel"))
        return
    turn.set(dialogue=None)
    turn.say(text(turn.language, "dialogue_cancelled"))
