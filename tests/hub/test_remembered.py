"""What the fan-out remembers between batches: found, forgotten after a failure, bounded."""

from __future__ import annotations

from bridge.hub.remembered import Remembered
from bridge.store.repositories import ConversationSnapshot


def _snapshot(conversation_id: str, subject: str = "Sujet") -> ConversationSnapshot:
    return ConversationSnapshot(conversation_id, subject, "81", ("81", "82"), None, 1)


def test_what_is_remembered_is_served_and_the_rest_is_to_read() -> None:
    remembered = Remembered()
    remembered.keep({"c1": _snapshot("c1")})
    assert remembered.snapshots(["c1", "c2"]) == ({"c1": _snapshot("c1")}, {"c2"})
    remembered.keep({"c1": _snapshot("c1", "Nouveau")})
    assert remembered.snapshots(["c1"])[0]["c1"].subject == "Nouveau", "as last committed"


def test_a_failure_forgets_everything() -> None:
    remembered = Remembered()
    remembered.keep({"c1": _snapshot("c1"), "c2": _snapshot("c2")})
    remembered.clear()
    assert remembered.snapshots(["c1", "c2"]) == ({}, {"c1", "c2"})


def test_only_the_most_recently_used_are_kept() -> None:
    remembered = Remembered(conversations=2)
    remembered.keep({i: _snapshot(i) for i in ("c1", "c2")})
    remembered.snapshots(["c1"])  # used: c2 is now the least recently used
    remembered.keep({"c3": _snapshot("c3")})
    found, missing = remembered.snapshots(["c1", "c2", "c3"])
    assert set(found) == {"c1", "c3"} and missing == {"c2"}
