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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from bridge.core.composer import SpicoComposer
from bridge.core.delivery import InboundMessage, InboundPoster
from bridge.core.model import Participant, World
from bridge.mail.answering import Answerer
from bridge.mail.answers import Dropped, choice_answer, dropped_answer
from bridge.mail.assess import AssessContext, conclude, place, screen
from bridge.mail.body import BodyProblem, first_attachments, read_body
from bridge.mail.budget import OverBudget, ParseWorker, WorkerFailed, parse_within_budget
from bridge.mail.dsn import DsnReport, read_dsn
from bridge.mail.envelope import (
    Envelope,
    EnvelopeProblem,
    fallback_message_id,
    header_block,
    read_envelope,
    read_envelopes,
)
from bridge.mail.ledger import InboxLedger
from bridge.mail.limits import MailLimits
from bridge.mail.outbound import MailSink
from bridge.mail.outcome import Handled, MailRefused, Outcome, ReplyRefused, SetAside
from bridge.mail.settings import MailSettings
from bridge.mail.starting import ConversationStarter
from bridge.mail.threads import ThreadMatch, mail_action
from bridge.mail.verdict import Accepted, Automatic, NewConversation, Reason, Refused, Sender
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RawMail:
    """A mail as the mailbox offers it: its header block first, the rest only when a step
    needs it (a mail refused on its header is never downloaded whole)."""

    #: The header block (the transport fetches at most ``max_header_bytes`` and a little).
    header: bytes
    #: The whole mail's size, as the server says.
    size: int
    #: The whole mail.
    load: Callable[[], Awaitable[bytes]]

    @classmethod
    def of(cls, raw: bytes) -> RawMail:
        """A mail whose bytes are all here already."""

        async def load() -> bytes:
            return raw

        block = header_block(raw)
        return cls(raw[: len(block) + 4], len(raw), load)


@dataclass
class Incoming:
    """One mail as the steps learn about it."""

    source: RawMail
    received: datetime
    #: The fallback (a hash of the header block) until the envelope is read.
    message_id: str = ""
    #: Whether records without other effects may wait for the caller's ``checkpoint``.
    batched: bool = False
    #: The envelope, when the caller read it with the rest of its batch.
    envelope: Envelope | EnvelopeProblem | None = None
    #: The whole mail, once a step needed it.
    raw: bytes | None = None

    async def whole(self) -> bytes:
        if self.raw is None:
            self.raw = await self.source.load()
        return self.raw


class Receiver:
    def __init__(
        self,
        settings: MailSettings,
        store: Store,
        post: InboundPoster,
        configured: Mapping[str, Participant],
        sink: MailSink,
    ) -> None:
        self._store = store
        self._post = post
        self._sink = sink
        #: One parsing worker process per inbox (started by its ``run``, closed by its
        #: ``close``); a reload keeps it.
        self.worker = ParseWorker()
        #: One ledger for the inbox's life: the records a batch defers survive a reload.
        self._ledger = InboxLedger(store)
        self.reload(settings, configured)

    def reload(self, settings: MailSettings, configured: Mapping[str, Participant]) -> None:
        """New settings and participants for the next mail (SIGHUP); the worker stays."""
        self._settings = settings
        self._trust = settings.inbound
        self._ledger.reload(
            configured, own_address=settings.address, patient_tag=settings.patient_tag
        )
        self._answerer = Answerer(self._store, self._sink, self._trust.answers)
        composer: SpicoComposer | None = getattr(self._post, "composer", None)
        self._starter = (
            ConversationStarter(
                settings, self._store, composer, self._sink, self._ledger, self._answerer
            )
            if composer is not None
            else None
        )

    @property
    def limits(self) -> MailLimits:
        return self._trust.limits

    async def envelopes(
        self, sources: Sequence[RawMail]
    ) -> list[Envelope | EnvelopeProblem | None]:
        """The envelopes of a batch of mails, parsed in one trip to the worker (None for all of
        them when that trip fails or goes over the budget: each is then parsed alone, and the
        one at fault set aside)."""
        headers = [source.header for source in sources]
        seconds = self.limits.budget_seconds
        found = await self.worker.run(read_envelopes, headers, self.limits, seconds=seconds)
        if isinstance(found, OverBudget | WorkerFailed) or len(found) != len(sources):
            return [None] * len(sources)
        return list(found)

    async def receive(
        self,
        source: RawMail,
        *,
        batched: bool = False,
        envelope: Envelope | EnvelopeProblem | None = None,
    ) -> Outcome:
        """Handle one mail: the one place where every refusal is recorded and answered.

        ``batched``: the caller calls ``checkpoint`` after a batch, so the record of a mail
        that had no other effect may wait for it. ``envelope``: already read (``envelopes``)."""
        header = header_block(source.header)
        mail = Incoming(source, datetime.now(UTC), fallback_message_id(header), batched, envelope)
        try:
            return await self._steps(mail)
        except MailRefused as refused:
            outcome = refused.outcome()
            if not refused.answerable:  # refused before the trust checks passed: no effect
                await self._record_later(mail, outcome, refused.detail)
                return outcome
            new = await self._ledger.record(mail.message_id, outcome, refused.detail)
            if new and refused.author is not None:
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

    async def _record_later(
        self, mail: Incoming, outcome: Outcome, detail: str | None = None
    ) -> None:
        """The record of a mail that had no other effect: with the caller's checkpoint when
        it batches, else now."""
        if mail.batched:
            self._ledger.defer(mail.message_id, outcome, detail)
        else:
            await self._ledger.record(mail.message_id, outcome, detail)

    async def checkpoint(self, cursor: tuple[str, str] | None = None) -> None:
        """Write what waited for the end of the batch, and the cursor, in one transaction."""
        await self._ledger.checkpoint(cursor)

    async def audit_unread(self, detail: str) -> None:
        """A mail the transport set aside before the pipeline could handle it (poison)."""
        await self._ledger.audit_unread(detail)

    # --- the steps ----------------------------------------------------------------------------

    async def _steps(self, mail: Incoming) -> Outcome:
        # Until the author passed the trust checks, handling a mail has no side effect but its
        # record (written once, by Message-ID): a mail read again needs no lookup first.
        envelope = await self._envelope(mail)
        if envelope.delivery_report:
            return await self._delivery_report(mail)
        screened = self._screen(envelope)
        if isinstance(screened, Automatic):
            outcome = Outcome(Handled.AUTOMATIC, "auto_reply")
            await self._record_later(mail, outcome)
            return outcome
        previous = await self._ledger.previous(envelope.message_id)
        if previous is not None:  # SPICO posts, conversations and answers happen once
            handled = previous.verdict if previous.verdict in set(Handled) else Handled.REFUSED
            return Outcome(Handled(handled), "duplicate", previous.conversation_id)
        found = await self._place(envelope, screened)
        action = mail_action(envelope, self._settings.address)
        if action is not None and isinstance(found, ThreadMatch):
            return await self._choose(mail, screened, found, action)
        body = await self._parse(await mail.whole(), read_body)
        verdict = conclude(screened, found, body)
        if isinstance(verdict, Refused):
            raise ReplyRefused(verdict)
        if isinstance(verdict, NewConversation):
            if self._starter is None:  # no composer: a reply without a token
                raise ReplyRefused(Refused(Reason.NO_TOKEN, screened.address, True))
            return await self._starter.start(mail.message_id, verdict, mail.received)
        assert isinstance(verdict, Accepted)
        return await self._pass_on(mail, verdict)

    async def _envelope(self, mail: Incoming) -> Envelope:
        """Caps on the whole mail and its header block, then the header fields (worker): from
        the header block alone."""
        if mail.source.size > self.limits.max_mail_bytes:
            raise ReplyRefused(Refused(EnvelopeProblem.TOO_LARGE))
        envelope = mail.envelope or await self._parse(mail.source.header, read_envelope)
        if isinstance(envelope, EnvelopeProblem):
            raise ReplyRefused(Refused(envelope))
        mail.message_id = envelope.message_id
        return envelope

    async def _delivery_report(self, mail: Incoming) -> Outcome:
        """A DSN counts only for a mail the bridge sent to that recipient."""
        report: DsnReport | None = await self._parse(await mail.whole(), read_dsn)
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
        raise ReplyRefused(Refused(BodyProblem.UNREADABLE))  # a DSN shape screen never gives

    async def _place(self, envelope: Envelope, sender: Sender) -> ThreadMatch | NewConversation:
        """Which conversation and member: the token held by the author (or a new one)."""
        lookup = await self._ledger.thread_lookup(envelope, sender.address)
        context = AssessContext(
            self._trust, self._sink.key, datetime.now(UTC).date(), self._sink.trust.is_trusted
        )
        found = place(envelope, sender, lookup, context)
        if isinstance(found, Refused):
            raise ReplyRefused(found)
        return found

    async def _choose(
        self, mail: Incoming, sender: Sender, found: ThreadMatch, action: str
    ) -> Outcome:
        """A mail to ``bridge+<action>.TOKEN@…`` (a footer address, List-Unsubscribe) from the
        token's holder, authenticated like a reply: the member's mail choice is stored and
        audited (the body is never read), and they are told what now applies."""
        outcome = Outcome(
            Handled.ACCEPTED, f"choice_{action}", found.conversation_id, found.member_id
        )
        if not await self._ledger.record_choice(mail.message_id, outcome, action):
            return outcome
        async with self._store.transaction() as session:
            snapshot = await repo.get_conversation(session, found.conversation_id)
        language = self._settings.language
        applies = self._ledger.choice_applies(found.member_id, action)
        key = f"choice_done_{action}" if applies else "choice_pinned"
        subject = snapshot.subject if snapshot is not None else ""
        await self._answerer.answer(
            sender.address,
            choice_answer(language, key, subject),
            answerable=True,
            kind=f"choice-{action}",
            source=mail.message_id,
            detail=action if applies else f"{action}:pinned",
            now=mail.received,
        )
        return outcome

    async def _pass_on(self, mail: Incoming, verdict: Accepted) -> Outcome:
        """Post to SPICO as the member (SPICO unavailable: raises, the mail comes again);
        tell the author when part of the mail was left out."""
        body, too_many = first_attachments(verdict.body, self._settings.max_attachments)
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
        dropped = Dropped(
            body.dropped_text, body.dropped_attachments, body.unreadable_parts, too_many
        )
        if dropped:
            await self._answerer.answer(
                verdict.sender.address,
                dropped_answer(
                    dropped,
                    self._settings.language,
                    mail.received,
                    max_attachment_bytes=self.limits.max_attachment_bytes,
                    max_attachments=self._settings.max_attachments,
                ),
                answerable=True,
                kind="partly",
                source=mail.message_id,
                detail="dropped",
                now=mail.received,
            )
        return outcome

    async def _parse(self, data: bytes, step: Callable[[bytes, MailLimits], T]) -> T:
        """One parsing step in the worker; over the budget or a dead worker: set aside."""
        result = await parse_within_budget(data, self.limits, self.worker, step)
        if isinstance(result, OverBudget):
            raise SetAside(Reason.OVER_BUDGET.value, f"over_budget:{step.__name__}")
        if isinstance(result, WorkerFailed):
            raise SetAside(Reason.WORKER_FAILED.value, f"worker_failed:{result.error}")
        return result


__all__ = ["Incoming", "RawMail", "Receiver"]
