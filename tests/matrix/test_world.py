"""Pure: which members' portals a reload must reconcile."""

from __future__ import annotations

from bridge.matrix.world import changed_members


def test_a_changed_added_or_removed_matrix_account_is_a_change() -> None:
    before = {"@alice:hs": "810000000001", "@bob:hs": "810000000002", "@carol:hs": "8100000003"}
    after = {"@eve:hs": "810000000001", "@carol:hs": "8100000003", "@dan:hs": "810000000004"}
    assert changed_members(before, after) == {"810000000001", "810000000002", "810000000004"}
    assert changed_members(before, dict(before)) == set()
