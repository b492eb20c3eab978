"""Inactive-user notifications: the rate limit, shared by the mail sink (which applies it) and
the Matrix ``notify`` command (which tells the user beforehand when it will apply), and the
answer to a notification asked for now.

The Matrix world never writes the mail world's queue: it asks the store
(``bridge.store.notifications``), which queues it under this rate limit; the mail sink then
sends the notification like an automatic one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bridge.core.model import DeliveryPreference, Participant


def notification_allowed(last_sent_at: datetime | None, now: datetime, period: timedelta) -> bool:
    """At most one notification per (conversation, member) and ``period``: a new one may go
    when none was sent yet or the last one is at least ``period`` old."""
    return last_sent_at is None or now - last_sent_at >= period


def next_notification_at(last_sent_at: datetime | None, period: timedelta) -> datetime | None:
    """When the next notification may go (None: at once)."""
    return None if last_sent_at is None else last_sent_at + period


NotificationOutcome = Literal["queued", "suppressed", "no_message", "already_queued"]


@dataclass(frozen=True, slots=True)
class NotificationAnswer:
    """What became of a request: ``queued``; ``suppressed`` by the rate limit (with when the
    last one went and when the next may); ``no_message`` to notify about; ``already_queued``."""

    outcome: NotificationOutcome
    last_sent_at: datetime | None = None
    next_at: datetime | None = None


def unread_by(participants: Mapping[str, Participant], authors: Collection[str]) -> list[str]:
    """Who has a message posted to a portal unread until they read it there: members who
    follow the conversation in Matrix only (a Matrix account, ``delivery: auto``: the others
    get mail anyway, or asked for none), not its author."""
    return sorted(
        member
        for member, p in participants.items()
        if p.matrix_user and p.delivery is DeliveryPreference.AUTO and member not in authors
    )
