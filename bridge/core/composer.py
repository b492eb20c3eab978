"""What the worlds may ask SPICO besides posting messages: the composer's features.

SPICO's "start a conversation" screen offers directory search with statuses, favorites,
recent searches, delegations ("act as"), the active file list, care circles, resource teams
and conversation changes (members, patient). The worlds offer the same from Matrix commands
and from mail; they reach SPICO only through this protocol, with plain data, so they depend on
``core`` and never on ``spico``. The hub implements it over the SPICO client.

Everything goes through SPICO, which enforces delegations and patient access: a refusal comes
back as :class:`ComposerRefusal` with SPICO's code and sentence, never as a bridge shortcut.
An id that does not fit its grammar is refused before any request with
``bridge.core.identifiers.BadIdentifier``; an answer SPICO should not have given is a
:class:`ComposerBadAnswer`. None of these errors carries data in its text (logs may show it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bridge.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from bridge.core.delivery import Attachment

EntryKind = Literal["professional", "structure"]


class ComposerError(Exception):
    """SPICO could not do what was asked."""


class ComposerRefusal(ComposerError):
    """SPICO refused (4xx): ``code`` is its machine code (``no_delegation``, ``not_found``,
    ``forbidden``…), ``message`` its sentence (for the user, not in ``str()``), ``status`` the
    HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message


class ComposerUnavailable(ComposerError, ServiceUnavailable):
    """SPICO did not answer (network, 5xx after retries): try again later."""


class ComposerBadAnswer(ComposerError):
    """SPICO answered something the contract does not allow (or a file over the cap)."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A directory result: a professional (with status) or a structure."""

    id: str
    kind: EntryKind
    name: str  # "Dr Jeanne MARTIN" or the structure's name
    #: The profession ("Médecin généraliste") or the structure's kind ("EHPAD").
    description: str
    city: str
    #: "rpps", "adeli" or "finess".
    id_kind: str
    mssante_address: str
    #: "online", "active", "absent" or "inactive"; None for a structure.
    status: str | None = None
    #: Whether the professional has a SPICO account (structures: always False).
    has_account: bool = False


@dataclass(frozen=True, slots=True)
class PatientEntry:
    id: str
    ins: str
    first_name: str
    last_name: str
    birth_date: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class CircleMember:
    professional: DirectoryEntry
    role: str


@dataclass(frozen=True, slots=True)
class CareCircleView:
    patient: PatientEntry
    members: tuple[CircleMember, ...]


@dataclass(frozen=True, slots=True)
class TeamEntry:
    id: str
    name: str
    description: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecentSearchEntry:
    q: str
    kind: EntryKind | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation as SPICO answered after a change."""

    id: str
    subject: str
    created_by: str
    members: tuple[str, ...]
    patient_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewConversation:
    """A conversation to start as ``acting_as`` (``on_behalf_of`` is who asks: the account
    itself or a delegate); files go with the first message. The key (a Matrix event id, a
    Message-ID) makes a retry return the same conversation."""

    on_behalf_of: str
    acting_as: str
    members: tuple[str, ...]
    subject: str
    message: str
    idempotency_key: str
    patient_id: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class TeamRequest:
    """A request to a resource team: a conversation with its members, opened by ``message``
    (SPICO names it after the team unless ``subject`` is given); the key as above."""

    team_id: str
    on_behalf_of: str
    acting_as: str
    message: str
    idempotency_key: str
    subject: str | None = None
    patient_id: str | None = None


class SpicoComposer(Protocol):
    """SPICO's composer features, as the worlds call them (implemented by the hub)."""

    async def search(
        self, q: str, *, structures: bool = False, on_behalf_of: str | None = None, limit: int = 10
    ) -> list[DirectoryEntry]:
        """Directory search; with ``on_behalf_of`` SPICO records it as a recent search."""
        ...

    async def professional(self, professional_id: str) -> DirectoryEntry: ...

    async def lookup_address(self, mssante_address: str) -> DirectoryEntry | None:
        """The directory entry of an MSSanté address, or None when the directory has none."""
        ...

    async def delegations(self, account_id: str) -> list[DirectoryEntry]:
        """The accounts ``account_id`` may act as, their own first."""
        ...

    async def favorites(self, account_id: str) -> list[DirectoryEntry]: ...

    async def add_favorite(self, account_id: str, target_id: str) -> None: ...

    async def remove_favorite(self, account_id: str, target_id: str) -> None: ...

    async def recent_searches(self, account_id: str) -> list[RecentSearchEntry]: ...

    async def patients(
        self, account_id: str, *, on_behalf_of: str | None = None
    ) -> list[PatientEntry]:
        """The account's active file list; with ``on_behalf_of`` SPICO refuses
        (``no_delegation``) unless that professional is the account or holds a delegation."""
        ...

    async def patient(self, patient_id: str, *, on_behalf_of: str) -> PatientEntry: ...

    async def care_circle(self, patient_id: str, *, on_behalf_of: str) -> CareCircleView: ...

    async def teams(self) -> list[TeamEntry]: ...

    async def request_team(self, request: TeamRequest) -> ConversationRef: ...

    async def create_conversation(self, request: NewConversation) -> ConversationRef:
        """Start a conversation; a retry with the same key returns the same conversation."""
        ...

    async def conversation(self, conversation_id: str) -> ConversationRef: ...

    async def history(self, conversation_id: str, *, limit: int) -> list[dict[str, Any]]:
        """The conversation's last ``limit`` messages, oldest first, each as the ``message``
        of a ``message.created`` event (a new portal room is back-filled with them)."""
        ...

    async def add_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef: ...

    async def remove_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef: ...

    async def link_patient(
        self, conversation_id: str, patient_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef: ...

    async def unlink_patient(
        self, conversation_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef: ...
