"""Conversation snapshots follow SPICO events (pure part of the fan-out)."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.core.model import DeliveryKind, Destination, World
from bridge.hub.fanout import apply_event, parse_about
from bridge.spico.models import SpicoEvent
from bridge.store.repositories import ConversationSnapshot

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT = {
    "id": "p1",
    "ins": "185053112345678",
    "ins_oid": "1.2.250.1.213.1.4.10",
    "first_name": "Jeanne",
    "last_name": "Test",
    "birth_date": "1985-05-01",
    "sex": "F",
}


def _event(seq: int, type_: str, **data: object) -> SpicoEvent:
    return SpicoEvent(
        seq=seq, type=type_, occurred_at=NOW, conversation_id="c1", actor_id="81", data=data
    )


BASE = ConversationSnapshot("c1", "Sujet", "81", ("81", "82"), None, 1)


def test_creation_builds_the_snapshot() -> None:
    conversation = {
        "id": "c1",
        "subject": "Sujet",
        "created_at": NOW.isoformat(),
        "created_by": "81",
        "patient": PATIENT,
        "updated_at": NOW.isoformat(),
        "members": [
            {"id": "81", "added_at": NOW.isoformat()},
            {"id": "82", "added_at": NOW.isoformat()},
        ],
    }
    snapshot = apply_event(None, _event(1, "conversation.created", conversation=conversation))
    assert snapshot == ConversationSnapshot("c1", "Sujet", "81", ("81", "82"), PATIENT, 1)


def test_each_change_is_applied_once() -> None:
    added = apply_event(BASE, _event(2, "member.added", member_id="83"))
    assert added.members == ("81", "82", "83") and added.last_seq == 2
    assert apply_event(added, _event(2, "member.added", member_id="83")) == added
    removed = apply_event(added, _event(3, "member.removed", member_id="82"))
    assert removed.members == ("81", "83")
    renamed = apply_event(removed, _event(4, "conversation.updated", subject="Nouveau"))
    assert renamed.subject == "Nouveau"
    linked = apply_event(renamed, _event(5, "patient.linked", patient=PATIENT))
    assert linked.patient == PATIENT
    unlinked = apply_event(linked, _event(6, "patient.unlinked", patient_id="p1"))
    assert unlinked.patient is None and unlinked.last_seq == 6


def test_older_events_do_not_rewind_a_snapshot() -> None:
    newer = ConversationSnapshot("c1", "Sujet", "81", ("81",), None, 10)
    assert apply_event(newer, _event(5, "member.added", member_id="99")) == newer


def test_unknown_conversation_stays_unknown() -> None:
    assert apply_event(None, _event(3, "member.added", member_id="83")) is None


def test_notice_about_is_parsed_to_a_destination() -> None:
    assert parse_about("mail:810000000002") == Destination(
        World.MAIL, "810000000002", DeliveryKind.MESSAGE
    )
    assert parse_about("carrier-pigeon:x") is None
    assert parse_about(None) is None
