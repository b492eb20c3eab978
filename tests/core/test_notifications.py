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
