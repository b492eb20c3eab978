"""Inactive-user notifications: the rate limit, shared by the mail sink (which applies it) and
the Matrix ``notify`` command (which tells the user beforehand when it will apply). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta


def notification_allowed(last_sent_at: datetime | None, now: datetime, period: timedelta) -> bool:
    """At most one notification per (conversation, member) and ``period``: a new one may go
    when none was sent yet or the last one is at least ``period`` old."""
    return last_sent_at is None or now - last_sent_at >= period


def next_notification_at(last_sent_at: datetime | None, period: timedelta) -> datetime | None:
    """When the next notification may go (None: at once)."""
    return None if last_sent_at is None else last_sent_at + period
