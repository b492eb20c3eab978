"""What the fan-out remembers between batches: conversation snapshots as it last committed or
read them, so a live message does not read its conversation from the store again.

The fan-out is the snapshots' only writer (one SPICO consumer per database: the source's lock
on PostgreSQL), the same reason it keeps the SPICO cursor in memory. What it remembers is
written through: kept only once the unit of work that read or wrote it committed, and dropped
whole when a unit fails (it may or may not have committed). It is bounded (least recently used
first out), so a bridge with a hundred thousand conversations holds only the active ones.

Directory rows are not remembered: a row carries the member's own Matrix link and mail
preference, which commands change from any process (a link withdrawn must stop deliveries to
that account at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cachetools import LRUCache

from bridge.store.repositories import ConversationSnapshot

#: How many conversations are remembered (the active ones).
REMEMBERED_CONVERSATIONS = 10_000


class Remembered:
    """Committed snapshots by conversation id."""

    def __init__(self, conversations: int = REMEMBERED_CONVERSATIONS) -> None:
        self._snapshots: LRUCache[str, ConversationSnapshot] = LRUCache(conversations)

    def snapshots(self, ids: Iterable[str]) -> tuple[dict[str, ConversationSnapshot], set[str]]:
        """The remembered snapshots among ``ids``, and the ids to read from the store."""
        found: dict[str, ConversationSnapshot] = {}
        missing: set[str] = set()
        for conversation_id in ids:
            snapshot = self._snapshots.get(conversation_id)
            if snapshot is None:
                missing.add(conversation_id)
            else:
                found[conversation_id] = snapshot
        return found, missing

    def keep(self, snapshots: Mapping[str, ConversationSnapshot]) -> None:
        """(After a commit.) The snapshots as committed."""
        for conversation_id, snapshot in snapshots.items():
            self._snapshots[conversation_id] = snapshot

    def clear(self) -> None:
        """A unit of work failed: it may have committed, or not; read everything again."""
        self._snapshots.clear()
