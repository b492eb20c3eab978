"""The transaction body's pure reading: which ephemeral events are kept."""

from __future__ import annotations

from bridge.matrix.appservice.listener import receipts_of

RECEIPT = {"type": "m.receipt", "room_id": "!r:s", "content": {"$e": {"m.read": {"@u:s": {}}}}}


def test_only_read_receipts_with_a_room_are_kept_from_either_key() -> None:
    typing = {"type": "m.typing", "room_id": "!r:s", "content": {"user_ids": ["@u:s"]}}
    roomless = {"type": "m.receipt", "content": {}}
    assert receipts_of({"ephemeral": [RECEIPT, typing, roomless, "junk"]}) == [RECEIPT]
    assert receipts_of({"de.sorunome.msc2409.ephemeral": [RECEIPT]}) == [RECEIPT]
    assert receipts_of({"events": []}) == [] and receipts_of({"ephemeral": "junk"}) == []
