"""Domain types shared by every world: plain, immutable data with no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bridge.core.views import PatientView


class World(StrEnum):
    """The places a SPICO conversation is reachable from (besides SPICO itself)."""

    MATRIX = "matrix"
    MAIL = "mail"


class DeliveryPreference(StrEnum):
    """How a professional wants to follow conversations outside SPICO.

    ``auto``: in Matrix when they have a Matrix account mapped; otherwise only a notification
    mail when they are inactive in SPICO or have no SPICO account (they read SPICO itself when
    active). ``mail``: every message by mail. ``both``: Matrix and mail. ``matrix``: never mail.
    """

    AUTO = "auto"
    MATRIX = "matrix"
    MAIL = "mail"
    BOTH = "both"


class MailChoice(StrEnum):
    """A member's own choice about one conversation's mail (footer addresses, List-Unsubscribe,
    the Matrix ``courriel`` command): ``stop`` sends them none of it, ``follow`` every message
    of it. The config's ``delivery`` wins: ``matrix`` there means no mail whatever they chose;
    ``mail`` or ``both`` there still lets them stop one conversation."""

    STOP = "stop"
    FOLLOW = "follow"


class Status(StrEnum):
    """A professional's SPICO presence, as the directory shows it."""

    ONLINE = "online"
    ACTIVE = "active"
    ABSENT = "absent"
    INACTIVE = "inactive"


class DeliveryKind(StrEnum):
    """What a delivery carries to its destination."""

    MESSAGE = "message"  # a conversation message (Matrix room, mail thread)
    NOTIFY = "notify"  # an inactive-user notification (mail, rate-limited into digests)
    STATE = "state"  # conversation state: creation, subject, members, patient (Matrix room)


class EventType(StrEnum):
    """The SPICO event feed's types (see bridge/spico/openapi.yaml)."""

    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    PATIENT_LINKED = "patient.linked"
    PATIENT_UNLINKED = "patient.unlinked"
    MESSAGE_POSTED = "message.posted"
    STATUS_CHANGED = "status.changed"


#: Events that change what a conversation looks like (its portal room mirrors them).
STATE_EVENTS = frozenset(
    {
        EventType.CONVERSATION_CREATED,
        EventType.CONVERSATION_UPDATED,
        EventType.MEMBER_ADDED,
        EventType.MEMBER_REMOVED,
        EventType.PATIENT_LINKED,
        EventType.PATIENT_UNLINKED,
    }
)


@dataclass(frozen=True, slots=True)
class Name:
    """How the directory names a professional: what a room or a mail shows of them (the
    sinks get it on the job, read with the rest of the delivery, not from the directory)."""

    civility: str | None = None
    first_name: str = ""
    last_name: str = ""
    profession: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    """A SPICO professional as the bridge reaches them: ids in each world, preference, status,
    and their name (None: the directory does not know them)."""

    spico_id: str
    matrix_user: str | None = None
    mail: str | None = None
    delivery: DeliveryPreference = DeliveryPreference.AUTO
    status: Status | None = None
    has_account: bool = True
    #: Their own choice for the conversation at hand (None: none made).
    mail_choice: MailChoice | None = None
    name: Name | None = None


class MatrixMapped(Protocol):
    """Anything that maps a SPICO professional to a Matrix account (a ``Participant``, an entry
    of the config's ``participants``)."""

    @property
    def spico_id(self) -> str: ...

    @property
    def matrix_user(self) -> str | None: ...


def spico_ids_by_matrix_user(participants: Iterable[MatrixMapped]) -> dict[str, str]:
    """{Matrix user: SPICO id} of the participants mapped to a Matrix account."""
    return {p.matrix_user: p.spico_id for p in participants if p.matrix_user}


def matrix_users_by_spico_id(spico_ids: Mapping[str, str]) -> dict[str, str]:
    """The same mapping the other way round: {SPICO id: Matrix user}."""
    return {spico_id: user for user, spico_id in spico_ids.items()}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message posted to SPICO came from: it must not be echoed back there."""

    world: World
    destination: str


@dataclass(frozen=True, slots=True)
class Destination:
    """One place an event is delivered: a conversation's room, or one member by mail."""

    world: World
    destination: str
    kind: DeliveryKind


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as the bridge keeps it (its snapshot): routing needs its members (SPICO
    ids); sinks its subject, creator and patient too."""

    id: str
    members: tuple[str, ...]
    subject: str = ""
    created_by: str | None = None
    patient: PatientView | None = None


@dataclass(frozen=True, slots=True)
class RoutedEvent:
    """What routing needs of a SPICO event."""

    type: EventType | str
    author_id: str | None = None
    #: For a bridge notice about a failed delivery: the destination it is about (never sent there).
    about: Destination | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Which worlds are running in this bridge process (a world without an adapter gets nothing)."""

    worlds: frozenset[World] = field(default_factory=lambda: frozenset(World))
