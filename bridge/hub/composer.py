"""The composer protocol over the SPICO client: plain data out, SPICO's refusals as they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from bridge.core.composer import (
    CareCircleView,
    CircleMember,
    ComposerBadAnswer,
    ComposerRefusal,
    ComposerUnavailable,
    ConversationRef,
    DirectoryEntry,
    NewConversation,
    PatientEntry,
    RecentSearchEntry,
    TeamEntry,
    TeamRequest,
)
from bridge.spico.client import (
    SpicoClient,
    SpicoError,
    SpicoHTTPError,
    SpicoNotFound,
    SpicoUnavailable,
)
from bridge.spico.models import Conversation, NewAttachment, Patient, Professional, Structure

P = ParamSpec("P")
T = TypeVar("T")


def entry_of(item: Professional | Structure) -> DirectoryEntry:
    if isinstance(item, Professional):
        return DirectoryEntry(
            id=item.id,
            kind="professional",
            name=item.display_name,
            description=item.profession,
            city=item.city,
            id_kind=item.id_kind,
            mssante_address=item.mssante_address,
            status=item.status,
            has_account=item.has_account,
        )
    return DirectoryEntry(
        id=item.id,
        kind="structure",
        name=item.name,
        description=item.kind,
        city=item.city,
        id_kind="finess",
        mssante_address=item.mssante_address,
    )


def patient_of(patient: Patient) -> PatientEntry:
    return PatientEntry(
        id=patient.id,
        ins=patient.ins,
        first_name=patient.first_name,
        last_name=patient.last_name,
        birth_date=patient.birth_date,
    )


def conversation_of(conversation: Conversation) -> ConversationRef:
    return ConversationRef(
        id=conversation.id,
        subject=conversation.subject,
        created_by=conversation.created_by,
        members=tuple(conversation.member_ids),
        patient_id=conversation.patient.id if conversation.patient else None,
    )


def _translated(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """SPICO client errors become the composer's (the worlds never see ``bridge.spico``);
    ``BadIdentifier`` is the core's own and passes as it is."""

    @wraps(call)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except SpicoHTTPError as refusal:
            raise ComposerRefusal(refusal.status, refusal.code, refusal.message) from refusal
        except SpicoUnavailable as outage:
            raise ComposerUnavailable("SPICO unavailable") from outage
        except SpicoError as error:
            raise ComposerBadAnswer(type(error).__name__) from None

    return wrapper


class SpicoComposerAdapter:
    """A ``SpicoComposer`` over :class:`SpicoClient`."""

    def __init__(self, client: SpicoClient) -> None:
        self._client = client

    @_translated
    async def search(
        self, q: str, *, structures: bool = False, on_behalf_of: str | None = None, limit: int = 10
    ) -> list[DirectoryEntry]:
        page = await self._client.search_directory(
            q,
            kind="structure" if structures else "professional",
            limit=limit,
            on_behalf_of=on_behalf_of,
        )
        return [entry_of(item) for item in page.results]

    @_translated
    async def professional(self, professional_id: str) -> DirectoryEntry:
        return entry_of(await self._client.get_professional(professional_id))

    @_translated
    async def lookup_address(self, mssante_address: str) -> DirectoryEntry | None:
        try:
            return entry_of(await self._client.lookup_address(mssante_address))
        except SpicoNotFound:
            return None

    @_translated
    async def delegations(self, account_id: str) -> list[DirectoryEntry]:
        return [entry_of(p) for p in await self._client.list_delegations(account_id)]

    @_translated
    async def favorites(self, account_id: str) -> list[DirectoryEntry]:
        return [entry_of(item) for item in await self._client.list_favorites(account_id)]

    @_translated
    async def add_favorite(self, account_id: str, target_id: str) -> None:
        await self._client.add_favorite(account_id, target_id)

    @_translated
    async def remove_favorite(self, account_id: str, target_id: str) -> None:
        await self._client.remove_favorite(account_id, target_id)

    @_translated
    async def recent_searches(self, account_id: str) -> list[RecentSearchEntry]:
        return [
            RecentSearchEntry(s.q, s.kind, s.at)
            for s in await self._client.recent_searches(account_id)
        ]

    @_translated
    async def patients(
        self, account_id: str, *, on_behalf_of: str | None = None
    ) -> list[PatientEntry]:
        files = await self._client.list_patients(account_id, on_behalf_of=on_behalf_of)
        return [patient_of(p) for p in files]

    @_translated
    async def patient(self, patient_id: str, *, on_behalf_of: str) -> PatientEntry:
        return patient_of(await self._client.get_patient(patient_id, on_behalf_of=on_behalf_of))

    @_translated
    async def care_circle(self, patient_id: str, *, on_behalf_of: str) -> CareCircleView:
        circle = await self._client.get_care_circle(patient_id, on_behalf_of=on_behalf_of)
        return CareCircleView(
            patient_of(circle.patient),
            tuple(CircleMember(entry_of(m.professional), m.role) for m in circle.members),
        )

    @_translated
    async def teams(self) -> list[TeamEntry]:
        return [
            TeamEntry(t.id, t.name, t.description, tuple(t.members))
            for t in await self._client.list_resource_teams()
        ]

    @_translated
    async def request_team(self, request: TeamRequest) -> ConversationRef:
        created = await self._client.request_resource_team(
            request.team_id,
            on_behalf_of=request.on_behalf_of,
            acting_as=request.acting_as,
            message=request.message,
            subject=request.subject,
            patient_id=request.patient_id,
            idempotency_key=request.idempotency_key,
        )
        return conversation_of(created.conversation)

    @_translated
    async def create_conversation(self, request: NewConversation) -> ConversationRef:
        created = await self._client.create_conversation(
            on_behalf_of=request.on_behalf_of,
            acting_as=request.acting_as,
            members=request.members,
            subject=request.subject,
            message=request.message,
            patient_id=request.patient_id,
            attachments=[
                NewAttachment(filename=a.filename, content_type=a.content_type, content=a.data)
                for a in request.attachments
            ],
            idempotency_key=request.idempotency_key,
        )
        return conversation_of(created.conversation)

    @_translated
    async def conversation(self, conversation_id: str) -> ConversationRef:
        return conversation_of(await self._client.get_conversation(conversation_id))

    @_translated
    async def history(self, conversation_id: str, *, limit: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = await self._client.list_messages(conversation_id, after=after, limit=100)
            messages.extend(m.model_dump(mode="json") for m in page)
            if len(page) < 100:
                return messages[-limit:]
            after = page[-1].id

    @_translated
    async def add_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        return conversation_of(
            await self._client.add_member(
                conversation_id, member_id, on_behalf_of=on_behalf_of, acting_as=acting_as
            )
        )

    @_translated
    async def remove_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        return conversation_of(
            await self._client.remove_member(
                conversation_id, member_id, on_behalf_of=on_behalf_of, acting_as=acting_as
            )
        )

    @_translated
    async def link_patient(
        self, conversation_id: str, patient_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        return conversation_of(
            await self._client.link_patient(
                conversation_id, patient_id, on_behalf_of=on_behalf_of, acting_as=acting_as
            )
        )

    @_translated
    async def unlink_patient(
        self, conversation_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        return conversation_of(
            await self._client.unlink_patient(
                conversation_id, on_behalf_of=on_behalf_of, acting_as=acting_as
            )
        )
