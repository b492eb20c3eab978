"""The directory: search (with statuses), recent searches, favorites."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.matrix.commands import texts
from bridge.matrix.commands.parse import FAV_ACTIONS, Request, parse_ref, parse_refs
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, pick
from bridge.matrix.commands.turn import Turn, item
from bridge.matrix.texts import text

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor

SEARCH_LIMIT = 10


@command(
    "search",
    fr=("recherche", "chercher"),
    en=("search",),
    rank=20,
    options={
        "--structures": ("structures", False),
        "--structure": ("structures", False),
        "--etablissements": ("structures", False),
        "--établissements": ("structures", False),
    },
)
async def search(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    q = " ".join(request.args).strip()
    if not q:
        raise Problem("search_usage")
    await _search(executor, turn, q, bool(request.options.get("structures")))


async def _search(executor: CommandExecutor, turn: Turn, q: str, structures: bool) -> None:
    entries = await executor.composer.search(
        q, structures=structures, on_behalf_of=turn.spico_id, limit=SEARCH_LIMIT
    )
    turn.remember("directory", [item(e) for e in entries], source="search")
    turn.say(
        texts.search_text(q, entries, turn.language, structures=structures, limit=SEARCH_LIMIT)
    )


@command(
    "recent",
    fr=("récentes", "recentes", "récents", "recents", "récent"),
    en=("recent",),
    rank=30,
)
async def recent(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    searches = await executor.composer.recent_searches(turn.spico_id)
    turn.remember("recent", [{"id": s.q, "kind": s.kind or "", "label": s.q} for s in searches])
    ref = parse_ref(request.args[0]) if request.args else None
    if ref is None or ref.kind != "number":
        turn.say(texts.recent_text(searches, turn.language))
        return
    chosen = pick(searches, ref.number, "recent", turn.language)
    await _search(executor, turn, chosen.q, chosen.kind == "structure")


@command("fav", fr=("favoris",), en=("favorites", "favs"), rank=40)
async def favorites(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    args = list(request.args)
    action = FAV_ACTIONS.get(args[0].lower(), None) if args else "list"
    if action is None:
        raise Problem("fav_usage")
    refs = parse_refs(args[1:])
    if action == "list":
        found = await executor.composer.favorites(turn.spico_id)
        turn.remember("directory", [item(e) for e in found], source="favorites")
        turn.say(texts.favorites_text(found, turn.language))
        return
    if not refs:
        raise Problem("fav_usage")
    targets = await executor.resolve_targets(turn, refs, professionals_only=False)
    for target_id, _name in targets:
        if action == "add":
            await executor.composer.add_favorite(turn.spico_id, target_id)
        else:
            await executor.composer.remove_favorite(turn.spico_id, target_id)
    names = ", ".join(name for _, name in targets)
    turn.say(text(turn.language, "fav_added" if action == "add" else "fav_removed", names=names))
