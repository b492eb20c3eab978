"""``notifications:`` and ``policy:``: what inactive professionals are mailed, and how much of
the patient's identity appears where."""

from __future__ import annotations

from pydantic import Field

from bridge.config.base import Section
from bridge.config.values import Language, PatientTag, PositiveInt


class NotificationsConfig(Section):
    """Mails to inactive professionals: at most one per conversation and period, then digests."""

    enabled: bool = True
    period_minutes: PositiveInt = 1440
    digest: bool = True
    language: Language = "fr"
    #: A member who follows in Matrix and has not read a message there within this many
    #: minutes gets one notification mail (once per conversation and period); 0: never.
    matrix_unread_minutes: float = Field(default=15, ge=0)


class PolicyConfig(Section):
    """How much of the patient's identity appears where (initials by default: data minimisation).

    Rooms (inside the HDS-hosted homeserver) and mail subjects (shown in mail-client lists and
    phone notifications) are set separately.
    """

    room_patient_tag: PatientTag = "initials"
    mail_patient_tag: PatientTag = "initials"
