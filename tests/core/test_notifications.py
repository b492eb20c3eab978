"""The inactive-user notification rate limit (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.core.notifications import next_notification_at, notification_allowed

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_one_notification_per_period() -> None:
    assert notification_allowed(None, NOW, HOUR), "never sent: at once"
    assert not notification_allowed(NOW - timedelta(minutes=59), NOW, HOUR)
    assert notification_allowed(NOW - HOUR, NOW, HOUR), "a full period later"


def test_when_the_next_one_may_go() -> None:
    assert next_notification_at(None, HOUR) is None
    assert next_notification_at(NOW, HOUR) == NOW + HOUR


def test_a_portal_message_is_unread_by_the_members_who_follow_in_matrix_only() -> None:
    from bridge.core.model import DeliveryPreference, Participant
    from bridge.core.notifications import unread_by

    participants = {
        "author": Participant("author", matrix_user="@a:x"),
        "matrix": Participant("matrix", matrix_user="@m:x"),
        "both": Participant("both", matrix_user="@b:x", delivery=DeliveryPreference.BOTH),
        "never": Participant("never", matrix_user="@n:x", delivery=DeliveryPreference.MATRIX),
        "mail": Participant("mail", mail="m@x.fr"),
    }
    assert unread_by(participants, {"author"}) == ["matrix"]
