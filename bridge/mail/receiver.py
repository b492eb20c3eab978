"""One inbound mail through the trust pipeline, as small steps (the inbox's ``Email::Receiver``).

The steps run in the order of ``bridge.mail.assess`` (caps → author → trust space →
authentication → the token's holder → only then the body), with the store's lookups in
between and both parsing steps in the worker process within the time budget
(``bridge.mail.budget``). Each step returns what the next needs or raises a typed refusal
(``bridge.mail.outcome``); ``receive`` catches them in one place, where the mail is recorded,
audited and, when the rules allow (``bridge.mail.answers``), answered. A mail over the budget,
or one that kills the worker, is set aside like a poison mail.

Only an outage raises out of ``receive`` (SPICO or the store down): the mail is then offered
again later, never skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from bridge.core.composer import SpicoComposer
from bridge.core.delivery import InboundMessage, InboundPoster
from bridge.core.model import Participant, World
from bridge.mail.answering import Answerer
from bridge.mail.answers import Dropped, dropped_answer
from bridge.mail.assess import AssessContext, conclude, place, refusal_for, screen
from bridge.mail.body import read_body
from bridge.mail.budget import OverBudget, ParseWorker, WorkerFailed, parse_within_budget
from bridge.mail.dsn import DsnReport, read_dsn
from bridge.mail.envelope import Envelope, EnvelopeProblem, fallback_message_id, read_envelope
from bridge.mail.ledger import InboxLedger
from bridge.mail.limits import MailLimits
from bridge.mail.outbound import MailSink
from bridge.mail.outcome import Handled, MailRefused, Outcome, ReplyRefused, SetAside
from bridge.mail.settings import MailSettings
from bridge.mail.starting import ConversationStarter
from bridge.mail.threads import ThreadMatch
from bridge.mail.verdict import Accepted, Automatic, NewConversation, Reason, Refused, Sender
from bridge.store.repositories import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Incoming:
    """One mail as the steps learn about it."""

    raw: bytes
    received: datetime
    #: The fallback (a hash of the bytes) until the envelope is read.
    message_id: str = ""


class Receiver:
    def __init__(
        self,
        settings: MailSettings,
        store: Store,
        post: InboundPoster,
        configured: Mapping[str, Participant],
        sink: MailSink,
        worker: ParseWorker,
    ) -> None:
        self._settings = settings
        self._trust = settings.inbound
        self._post = post
        self._sink = sink
        self._worker = worker
        self._ledger = InboxLedger(
            store, configured, own_address=settings.address, patient_tag=settings.patient_tag
        )
        self._answerer = Answerer(store, sink, self._trust.answers)
        composer: SpicoComposer | None = getattr(post, "composer", None)
        self._starter = (
            ConversationStarter(settings, store, composer, sink, self._ledger)
            if composer is not None
            else None
        )

    @property
    def limits(self) -> MailLimits:
        return self._trust.limits

    async def receive(self, raw: bytes) -> Outcome:
        """Handle one mail: the one place where every refusal is recorded and answered."""
        mail = Incoming(raw, datetime.now(UTC), fallback_message_id(raw))
        try:
            return await self._steps(mail)
        except MailRefused as refused:
            outcome = refused.outcome()
            await self._ledger.record(mail.message_id, outcome, refused.detail)
            if refused.author is not None:
                await self._answerer.answer(
                    refused.author,
                    refused.answer(
                        language=self._settings.language,
                        received=mail.received,
                        bridge_address=self._settings.address,
                    ),
                    answerable=refused.answerable,
                    kind=refused.answer_kind,
                    source=mail.message_id,
                    detail=refused.reason,
                    now=mail.received,
                )
            return outcome
        except SetAside as aside:
            log.error("mail in: set aside in the mailbox (%s)", aside.detail)
            outcome = Outcome(Handled.SET_ASIDE, aside.reason)
            await self._ledger.record(mail.message_id, outcome, aside.detail)
            return outcome

    async def audit_unread(self, detail: str) -> None:
        """A mail the transport set aside before the pipeline could handle it (poison)."""
        await self._ledger.audit_unread(detail)

    # --- the steps ----------------------------------------------------------------------------

    async def _steps(self, mail: Incoming) -> Outcome:
        envelope = await self._envelope(mail)
        previous = await self._ledger.previous(envelope.message_id)
        if previous is not None:
            handled = previous.verdict if previous.verdict in set(Handled) else Handled.REFUSED
            return Outcome(Handled(handled), "duplicate", previous.conversation_id)
        if envelope.delivery_report:
            return await self._delivery_report(mail)
        screened = self._screen(envelope)
        if isinstance(screened, Automatic):
            outcome = Outcome(Handled.AUTOMATIC, "auto_reply")
            await self._ledger.record(mail.message_id, outcome)
            return outcome
        found = await self._place(envelope, screened)
        body = await self._parse(mail, read_body)
        verdict = conclude(screened, found, body)
        if isinstance(verdict, Refused):
            raise ReplyRefused(verdict)
        if isinstance(verdict, NewConversation):
            if self._starter is None:  # no composer: a reply without a token
                raise ReplyRefused(Refused(Reason.NO_TOKEN, screened.address, True))
            return await self._starter.start(mail.message_id, verdict)
        assert isinstance(verdict, Accepted)
        return await self._pass_on(mail, verdict)

    async def _envelope(self, mail: Incoming) -> Envelope:
        """Caps on the whole mail and its header block, then the header fields (worker)."""
        envelope = await self._parse(mail, read_envelope)
        if isinstance(envelope, EnvelopeProblem):
            raise ReplyRefused(refusal_for(envelope))
        mail.message_id = envelope.message_id
        return envelope

    async def _delivery_report(self, mail: Incoming) -> Outcome:
        """A DSN counts only for a mail the bridge sent to that recipient."""
        report: DsnReport | None = await self._parse(mail, read_dsn)
        conversation = member = None
        counts = False
        if report is not None:
            match, conversation, member = await self._ledger.match_dsn(report)
            if match.counts and conversation and member:
                await self._ledger.bounced(match, conversation, member)
                counts = True
        outcome = Outcome(
            Handled.BOUNCE,
            "counts" if counts else "ignored",
            conversation if counts else None,
            member if counts else None,
        )
        await self._ledger.record(mail.message_id, outcome)
        return outcome

    def _screen(self, envelope: Envelope) -> Sender | Automatic:
        """The author: readable, not the bridge, in the trust space, authenticated."""
        screened = screen(envelope, self._trust, self._sink.trust.is_trusted)
        if isinstance(screened, Refused):
            raise ReplyRefused(screened)
        if isinstance(screened, Automatic | Sender):
            return screened
        raise ReplyRefused(Refused(Reason.UNREADABLE))  # a DSN shape screen never gives

    async def _place(
        self, envelope: Envelope, sender: Sender
    ) -> ThreadMatch | NewConversation:
        """Which conversation and member: the token held by the author (or a new one)."""
        lookup = await self._ledger.thread_lookup(envelope, sender.address)
        context = AssessContext(
            self._trust, self._sink.key, datetime.now(UTC).date(), self._sink.trust.is_trusted
        )
        found = place(envelope, sender, lookup, context)
        if isinstance(found, Refused):
            raise ReplyRefused(found)
        return found

    async def _pass_on(self, mail: Incoming, verdict: Accepted) -> Outcome:
        """Post to SPICO as the member (SPICO unavailable: raises, the mail comes again);
        tell the author when part of the mail was left out."""
        body = verdict.body
        result = await self._post(
            InboundMessage(
                world=World.MAIL,
                source_id=mail.message_id,
                origin=verdict.member_id,
                conversation_id=verdict.conversation_id,
                author_id=verdict.member_id,
                acting_as=verdict.member_id,
                body=body.text,
                attachments=body.attachments,
            )
        )
        if not result.accepted:
            refused = Refused(
                Reason.SPICO_REFUSED,
                verdict.sender.address,
                True,
                verdict.conversation_id,
                verdict.member_id,
            )
            raise ReplyRefused(refused)
        outcome = Outcome(
            Handled.ACCEPTED,
            None,
            verdict.conversation_id,
            verdict.member_id,
            result.spico_message_id,
        )
        await self._ledger.record(mail.message_id, outcome)
        dropped = Dropped(body.dropped_text, body.dropped_attachments, body.unreadable_parts)
        if dropped:
            await self._answerer.answer(
                verdict.sender.address,
                dropped_answer(
                    dropped,
                    self._settings.language,
                    mail.received,
                    self.limits.max_attachment_bytes,
                ),
                answerable=True,
                kind="partly",
                source=mail.message_id,
                detail="dropped",
                now=mail.received,
            )
        return outcome

    async def _parse(self, mail: Incoming, step: Callable[[bytes, MailLimits], T]) -> T:
        """One parsing step in the worker; over the budget or a dead worker: set aside."""
        result = await parse_within_budget(mail.raw, self.limits, self._worker, step)
        if isinstance(result, OverBudget):
            raise SetAside(Reason.OVER_BUDGET.value, f"over_budget:{step.__name__}")
        if isinstance(result, WorkerFailed):
            raise SetAside(Reason.WORKER_FAILED.value, f"worker_failed:{result.error}")
        return result


__all__ = ["Incoming", "Receiver"]
