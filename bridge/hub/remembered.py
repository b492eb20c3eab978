"""What the fan-out remembers between batches: conversation snapshots and directory rows as it
last committed or read them, so a live message does not read them from the store again.

The fan-out is their only writer (one SPICO consumer per database: the source's lock on
PostgreSQL), the same reason it keeps the SPICO cursor in memory. What it remembers is written
through: kept only once the unit of work that read or wrote it committed, and dropped whole when
a unit fails (it may or may not have committed). Both are bounded (least recently used first
out), so a bridge with a hundred thousand conversations holds only the ones that are active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cachetools import LRUCache

from bridge.store.repositories import ConversationSnapshot, ProfessionalRow

#: How many conversations and directory entries are remembered (the active ones).
REMEMBERED_CONVERSATIONS = 10_000
REMEMBERED_PEOPLE = 20_000

#: A professional remembered as absent from the directory (SPICO did not know them).
_ABSENT = None
_UNKNOWN = object()


class Remembered:
    """Committed snapshots by conversation id, and directory rows by SPICO id (None: looked up
    and not in the directory)."""

    def __init__(
        self, conversations: int = REMEMBERED_CONVERSATIONS, people: int = REMEMBERED_PEOPLE
    ) -> None:
        self._snapshots: LRUCache[str, ConversationSnapshot] = LRUCache(conversations)
        self._people: LRUCache[str, ProfessionalRow | None] = LRUCache(people)

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

    def people(self, ids: Iterable[str]) -> tuple[dict[str, ProfessionalRow], set[str]]:
        """The remembered directory rows among ``ids`` (those remembered as absent left out),
        and the ids to read from the store."""
        found: dict[str, ProfessionalRow] = {}
        missing: set[str] = set()
        for professional_id in ids:
            row = self._people.get(professional_id, _UNKNOWN)
            if row is _UNKNOWN:
                missing.add(professional_id)
            elif row is not _ABSENT:
                found[professional_id] = row  # type: ignore[assignment]
        return found, missing

    def known_people(self, ids: Iterable[str]) -> set[str]:
        """The ids remembered as in the directory."""
        return {i for i in ids if self._people.get(i, _UNKNOWN) not in (_UNKNOWN, _ABSENT)}

    def keep(
        self,
        snapshots: Mapping[str, ConversationSnapshot],
        people: Mapping[str, ProfessionalRow | None],
    ) -> None:
        """(After a commit.) Snapshots as committed; directory rows as read (None: absent)."""
        for conversation_id, snapshot in snapshots.items():
            self._snapshots[conversation_id] = snapshot
        for professional_id, row in people.items():
            self._people[professional_id] = row

    def forget_people(self, ids: Iterable[str]) -> None:
        """Directory rows the store changed since they were read (a status change)."""
        for professional_id in ids:
            self._people.pop(professional_id, None)

    def clear(self) -> None:
        """A unit of work failed: it may have committed, or not; read everything again."""
        self._snapshots.clear()
        self._people.clear()
