"""Typed, immutable results of the SPICO API (the shapes of ../spico/openapi.yaml).

Pydantic validates what SPICO answers, so a contract drift fails loudly at the edge instead of
deep in the bridge. Unknown extra fields are ignored so that SPICO may add fields safely.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ProfessionalStatus = Literal["online", "active", "absent", "inactive"]


class SpicoModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Professional(SpicoModel):
    type: Literal["professional"] = "professional"
    id: str
    id_kind: Literal["rpps", "adeli"]
    rpps: str | None = None
    adeli: str | None = None
    civility: str
    first_name: str
    last_name: str
    profession: str
    city: str
    structure_id: str | None = None
    mssante_address: str
    status: ProfessionalStatus
    has_account: bool

    @property
    def display_name(self) -> str:
        return f"{self.civility} {self.first_name} {self.last_name}"


class Structure(SpicoModel):
    type: Literal["structure"] = "structure"
    id: str
    finess: str
    name: str
    kind: str
    city: str
    mssante_address: str


#: A directory result as SPICO sends it (``DirectoryEntry`` in openapi.yaml; the worlds get the
#: plain ``core.composer.DirectoryEntry`` made from it).
ProfessionalOrStructure = Annotated[Professional | Structure, Field(discriminator="type")]


class Patient(SpicoModel):
    id: str
    ins: str
    ins_oid: str
    first_name: str
    last_name: str
    birth_date: str
    sex: str


class CareCircleMember(SpicoModel):
    professional: Professional
    role: str


class CareCircle(SpicoModel):
    patient: Patient
    members: list[CareCircleMember]


class ResourceTeam(SpicoModel):
    id: str
    name: str
    description: str
    members: list[str]
    mssante_address: str


class Member(SpicoModel):
    id: str
    added_at: datetime


class Conversation(SpicoModel):
    id: str
    subject: str
    created_at: datetime
    created_by: str
    patient: Patient | None = None
    members: list[Member]
    updated_at: datetime

    @property
    def member_ids(self) -> list[str]:
        return [member.id for member in self.members]


class AttachmentInfo(SpicoModel):
    """An attachment as a message lists it, without its bytes (``Attachment`` in openapi.yaml):
    fetched by id as ``AttachmentContent``, then carried as ``core.delivery.Attachment``."""

    id: str
    filename: str
    content_type: str
    size: int


class Message(SpicoModel):
    id: str
    conversation_id: str
    #: The account the message is posted as; None for a platform notice.
    author_id: str | None
    #: The professional who wrote it (differs from author_id under a delegation).
    sent_by: str | None
    body: str
    attachments: list[AttachmentInfo] = []
    created_at: datetime
    idempotency_key: str | None = None
    kind: Literal["message", "notice"] = "message"
    #: For a notice: what it is about, e.g. "mail:<idNat>" for a failed delivery.
    about: str | None = None


class CreatedConversation(SpicoModel):
    """A new conversation and its first message (POST /conversations, team requests)."""

    conversation: Conversation
    message: Message


class ConversationPage(SpicoModel):
    conversations: list[Conversation]
    total: int


class NewAttachment(SpicoModel):
    """An attachment to send; the client base64-encodes ``content``."""

    filename: str
    content_type: str
    content: bytes


class AttachmentContent(SpicoModel):
    content_type: str
    content: bytes


EventType = Literal[
    "conversation.created",
    "conversation.updated",
    "member.added",
    "member.removed",
    "patient.linked",
    "patient.unlinked",
    "message.posted",
    "status.changed",
]


class SpicoEvent(SpicoModel):
    """One entry of the event feed; ``data`` depends on ``type`` (see the typed accessors)."""

    seq: int
    type: str
    occurred_at: datetime
    conversation_id: str | None = None
    actor_id: str | None = None
    data: dict[str, Any]

    @property
    def message(self) -> Message | None:
        """The posted message of a ``message.posted`` event."""
        if self.type != "message.posted":
            return None
        return Message.model_validate(self.data["message"])

    @property
    def conversation(self) -> Conversation | None:
        """The new conversation of a ``conversation.created`` event."""
        if self.type != "conversation.created":
            return None
        return Conversation.model_validate(self.data["conversation"])


class EventPage(SpicoModel):
    events: list[SpicoEvent]
    last_seq: int
    head_seq: int


class RecentSearch(SpicoModel):
    q: str
    kind: Literal["professional", "structure"] | None = None
    at: datetime


class SearchPage(SpicoModel):
    results: list[ProfessionalOrStructure]
    total: int
