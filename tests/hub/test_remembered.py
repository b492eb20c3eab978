"""What the fan-out remembers between batches: found, absent, forgotten, bounded."""

from __future__ import annotations

from bridge.hub.remembered import Remembered
from bridge.store.repositories import ConversationSnapshot, ProfessionalRow


def _snapshot(conversation_id: str) -> ConversationSnapshot:
    return ConversationSnapshot(conversation_id, "Sujet", "81", ("81", "82"), None, 1)


def _row(spico_id: str) -> ProfessionalRow:
    return ProfessionalRow(spico_id, "Dr", "A", "B", None, None, "active", True)


def test_what_is_remembered_is_served_and_the_rest_is_to_read() -> None:
    remembered = Remembered()
    remembered.keep({"c1": _snapshot("c1")}, {"81": _row("81"), "99": None})
    assert remembered.snapshots(["c1", "c2"]) == ({"c1": _snapshot("c1")}, {"c2"})
    # 99 was looked up and is not in the directory: not read again, not served.
    assert remembered.people(["81", "82", "99"]) == ({"81": _row("81")}, {"82"})
    assert remembered.known_people(["81", "82", "99"]) == {"81"}


def test_a_restated_professional_and_a_failure_are_read_again() -> None:
    remembered = Remembered()
    remembered.keep({"c1": _snapshot("c1")}, {"81": _row("81"), "82": _row("82")})
    remembered.forget_people(["81", "unknown"])
    assert remembered.people(["81", "82"]) == ({"82": _row("82")}, {"81"})
    remembered.clear()
    assert remembered.snapshots(["c1"]) == ({}, {"c1"})
    assert remembered.people(["82"]) == ({}, {"82"})


def test_only_the_most_recently_used_are_kept() -> None:
    remembered = Remembered(conversations=2, people=2)
    remembered.keep({i: _snapshot(i) for i in ("c1", "c2")}, {"81": None, "82": None})
    remembered.snapshots(["c1"])  # used: c2 is now the least recently used
    remembered.keep({"c3": _snapshot("c3")}, {"83": _row("83")})
    found, missing = remembered.snapshots(["c1", "c2", "c3"])
    assert set(found) == {"c1", "c3"} and missing == {"c2"}
    assert remembered.people(["81", "82", "83"])[1] == {"81"}
