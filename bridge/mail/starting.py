"""Starting a SPICO conversation from a new mail, as steps (the I/O of ``bridge.mail.newconv``).

The mail reached here through the trust pipeline: its author is the authenticated addr-spec,
its body was read within the limits. Each step returns what the next needs or raises
``NewConversationRefused`` (answered by ``Receiver.receive``): the sender must be a
professional of the directory with an account, the request must be complete, every address a
member, the patient found; SPICO then decides what the sender may do (``acting_as`` = the
sender: delegations and patient access are SPICO's). All or nothing.

SPICO unavailable (``ComposerUnavailable``) propagates: the mail is offered again later, and the
creation's idempotency key (from the Message-ID) makes a second try return the same
conversation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection

from bridge.core.composer import (
    ComposerError,
    ComposerRefusal,
    ConversationRef,
    DirectoryEntry,
    PatientEntry,
    SpicoComposer,
)
from bridge.core.composer import NewConversation as NewSpicoConversation
from bridge.core.views import PatientView
from bridge.mail import compose, newconv, tokens
from bridge.mail.answering import Answerer
from bridge.mail.answers import Dropped, dropped_answer
from bridge.mail.body import first_attachments
from bridge.mail.ledger import InboxLedger
from bridge.mail.outbound import MailSink
from bridge.mail.outcome import NEW_CONVERSATION, Handled, NewConversationRefused, Outcome
from bridge.mail.settings import MailSettings
from bridge.mail.verdict import NewConversation
from bridge.store import mail as mail_repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Members:
    ids: list[str]
    #: Member id → directory name (for the confirmation).
    names: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ConversationStarter:
    """Built anew by ``Receiver.reload`` with the inbox's current settings."""

    settings: MailSettings
    store: Store
    composer: SpicoComposer
    sink: MailSink
    ledger: InboxLedger
    answerer: Answerer

    async def start(self, message_id: str, verdict: NewConversation, received: datetime) -> Outcome:
        author = verdict.sender.address
        sender = await self._sender(author)
        body, too_many = first_attachments(verdict.body, self.settings.max_attachments)
        request = self._request(dataclasses.replace(verdict, body=body))
        members = await self._members(author, request, sender.id)
        patient = await self._patient(author, request, sender.id)
        created = await self._create(author, message_id, request, members, patient, sender.id)
        entry = patient if isinstance(patient, PatientEntry) else None
        if entry is None and created.patient_id is not None:
            with contextlib.suppress(ComposerError):  # only for the subject's patient tag
                entry = await self.composer.patient(created.patient_id, on_behalf_of=sender.id)
        await self._confirm(author, message_id, sender.id, created, members, entry)
        outcome = Outcome(Handled.CREATED, None, created.id, sender.id, None, NEW_CONVERSATION)
        await self.ledger.record(message_id, outcome)
        dropped = Dropped(
            body.dropped_text, body.dropped_attachments, body.unreadable_parts, too_many
        )
        if dropped:
            answer = dropped_answer(
                dropped,
                self.settings.language,
                received,
                max_attachment_bytes=self.settings.max_attachment_bytes,
                max_attachments=self.settings.max_attachments,
            )
            await self.answerer.answer(
                author,
                answer,
                answerable=True,
                kind="partly",
                source=message_id,
                detail="dropped",
                now=received,
            )
        return outcome

    # --- the steps ----------------------------------------------------------------------------

    async def _sender(self, author: str) -> DirectoryEntry:
        """The sender is a professional of the directory holding a SPICO account."""
        entry = await self._lookup_address(author)
        problem = newconv.sender_problem(entry)
        if problem is not None or entry is None:
            raise NewConversationRefused(author, problem or newconv.Refusal("sender_unknown"))
        return entry

    def _request(self, verdict: NewConversation) -> newconv.Request:
        read = newconv.read_request(
            subject=verdict.subject,
            addressed=verdict.addressed,
            author=verdict.sender.address,
            body=verdict.body,
            own_address=self.settings.address,
            language=self.settings.language,
        )
        if isinstance(read, newconv.Refusal):
            raise NewConversationRefused(verdict.sender.address, read)
        return read

    def _trusted(self, address: str) -> bool:
        return newconv.trusted_address(
            address, self.sink.trust.is_trusted, self.settings.trust.allow_patient_mailboxes
        )

    async def _members(self, author: str, request: newconv.Request, sender_id: str) -> Members:
        """Every address a professional of the directory (looked up only in the trust
        space), or the addresses at fault."""
        entries = {
            address: await self._lookup_address(address)
            for address in request.addresses
            if self._trusted(address)
        }
        ids, problems = newconv.resolve_members(
            request.addresses, entries, sender_id=sender_id, trusted=self._trusted
        )
        if problems:
            raise NewConversationRefused(
                author, newconv.Refusal("addresses", tuple(problems)), member_id=sender_id
            )
        if not ids:
            raise NewConversationRefused(author, newconv.Refusal("no_members"), member_id=sender_id)
        names = {e.id: e.name for e in entries.values() if e is not None}
        return Members(ids, names)

    async def _patient(
        self, author: str, request: newconv.Request, sender_id: str
    ) -> PatientEntry | str | None:
        """The patient of the ``Patient :`` line: an id as given (SPICO checks access), or the
        sender's active file with that INS."""
        if request.patient is None:
            return None
        if request.patient.kind == "id":
            return request.patient.value
        try:
            files = await self.composer.patients(sender_id)
        except ComposerRefusal:
            files = []
        found = newconv.find_patient(files, request.patient.value)
        if found is None:
            raise NewConversationRefused(
                author, newconv.Refusal("patient_not_found"), member_id=sender_id
            )
        return found

    async def _create(
        self,
        author: str,
        message_id: str,
        request: newconv.Request,
        members: Members,
        patient: PatientEntry | str | None,
        sender_id: str,
    ) -> ConversationRef:
        patient_id = patient.id if isinstance(patient, PatientEntry) else patient
        try:
            return await self.composer.create_conversation(
                NewSpicoConversation(
                    on_behalf_of=sender_id,
                    acting_as=sender_id,
                    members=tuple(members.ids),
                    subject=request.subject,
                    message=request.body,
                    patient_id=patient_id,
                    attachments=request.attachments,
                    idempotency_key=newconv.idempotency_key(message_id),
                )
            )
        except ComposerRefusal as exc:
            raise NewConversationRefused(
                author, newconv.Refusal("spico_refused", code=exc.code), member_id=sender_id
            ) from None

    async def _confirm(
        self,
        address: str,
        message_id: str,
        member: str,
        created: ConversationRef,
        members: Members,
        entry: PatientEntry | None,
    ) -> None:
        """Tell the sender the conversation exists, as the root of their thread (their reply
        token in Reply-To): they go on by mail like any member. Deterministic Message-ID; not
        sent twice once recorded."""
        if not self.sink.allowed(address):
            return
        now = datetime.now(UTC)
        key, sender = self.sink.key, self.sink.sender
        mid = compose.message_id(key, sender.domain, "created", created.id, member)
        if await self.store.run(partial(_started, mid, created.id, member)):
            return  # sent already, or the member's thread started (a message was faster)
        token = self.sink.token_for(created.id, member, now)
        answer = compose.compose_new_conversation_created(
            key=key,
            sender=sender,
            recipient=address,
            member_id=member,
            conversation_id=created.id,
            subject=created.subject,
            patient=(
                PatientView(entry.id, entry.first_name, entry.last_name, entry.birth_date)
                if entry is not None
                else None
            ),
            patient_linked=created.patient_id is not None,
            members=[members.names.get(m, m) for m in members.ids],
            original_id=message_id,
            token=token,
            patient_policy=self.settings.patient_tag,
            language=self.settings.language,
            now=now,
        )
        try:
            await self.sink.send_raw(answer, address)
        except Exception as exc:  # the conversation exists; the next message starts the thread
            log.warning("new conversation: confirmation not sent (%s)", type(exc).__name__)
            return
        decoded = tokens.decode(token)
        await self.store.run(
            partial(
                mail_repo.record_sent,
                message_id=mid,
                thread=mail_repo.ThreadRow(created.id, member, address, mid, mid),
                handle=decoded.handle if decoded is not None else None,
            )
        )

    async def _lookup_address(self, address: str) -> DirectoryEntry | None:
        """The directory entry of an address; None when SPICO has none or refuses it."""
        try:
            return await self.composer.lookup_address(address)
        except ComposerRefusal:
            return None


def _started(mid: str, conversation_id: str, member: str, connection: Connection) -> bool:
    """Unit of work: whether the confirmation was sent already or the member's thread has
    begun."""
    if mail_repo.get_messages(connection, [mid]):
        return True
    return mail_repo.get_thread(connection, conversation_id, member) is not None


__all__ = ["ConversationStarter"]
