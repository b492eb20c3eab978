"""Pure: SPICO JSON parsed once into the delivery contract's views; the one patient tag."""

from __future__ import annotations

from bridge.core.views import (
    AttachmentView,
    MessageView,
    PatientView,
    event_message,
    patient_tag,
    patient_view,
)

PATIENT = PatientView("pat-1", "Jean-Pierre", "Dupont", "1950-02-03")


def test_patient_tag_is_the_same_for_rooms_and_mail() -> None:
    assert patient_tag(PATIENT, "initials") == "J-P.D."
    assert patient_tag(PatientView("p", "Marie", "Curie"), "initials") == "M.C."
    assert patient_tag(PATIENT, "full") == "Jean-Pierre DUPONT"
    assert patient_tag(PATIENT, "id") == "pat-1"
    assert patient_tag(PATIENT, "none") is None
    assert patient_tag(None, "initials") is None
    assert patient_tag(PatientView("p"), "initials") is None


def test_a_message_event_is_parsed_once_with_its_files() -> None:
    payload = {
        "type": "message.posted",
        "data": {
            "message": {
                "id": "m1",
                "author_id": "81",
                "sent_by": "82",
                "body": "Bonjour",
                "created_at": "2026-11-27T10:00:00Z",
                "kind": "notice",
                "attachments": [
                    {
                        "id": "a1",
                        "filename": "cr.pdf",
                        "content_type": "text/plain",
                        "size": 9,
                    },
                    {"filename": "no id"},
                    {"id": "a2", "size": -3},
                ],
            }
        },
    }
    message = event_message(payload)
    assert message == MessageView(
        "m1",
        "Bonjour",
        "81",
        "82",
        "2026-11-27T10:00:00Z",
        True,
        (
            AttachmentView("a1", "cr.pdf", "text/plain", 9),
            AttachmentView("a2", "", "application/octet-stream", 0),
        ),
    )
    assert message.writer_id == "82"


def test_events_without_a_message_and_patients_missing_give_none() -> None:
    assert event_message({"type": "member.added", "data": {"member": {}}}) is None
    assert event_message({}) is None
    assert event_message({"data": "oops"}) is None
    assert patient_view(None) is None
    assert patient_view({}) is None
    assert patient_view({"id": 7, "first_name": " Anne "}) == PatientView("7", "Anne")
