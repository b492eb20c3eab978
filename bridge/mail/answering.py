"""Sending the inbox's automatic answers (the I/O of ``bridge.mail.answers``): the decision
with the counts kept in the store, one audit row per answer sent (what the limits count), the
mail composed from the bridge's words only and sent through the sink's SMTP connection.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bridge.core.model import World
from bridge.mail import compose
from bridge.mail.answers import (
    ANSWER_ACTION,
    Answer,
    AnswerDecision,
    AnswerLimits,
    answer_decision,
)
from bridge.mail.outbound import MailSink
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)


class Answerer:
    def __init__(self, store: Store, sink: MailSink, limits: AnswerLimits) -> None:
        self._store = store
        self._sink = sink
        self._limits = limits

    async def answer(
        self,
        recipient: str,
        answer: Answer,
        *,
        answerable: bool,
        kind: str,
        source: str,
        detail: str,
        now: datetime,
    ) -> AnswerDecision:
        """Send ``answer`` to ``recipient`` when allowed and within the limits. ``source`` is
        what it answers (the mail's Message-ID: part of the answer's own Message-ID, never
        shown). The audit row is written before sending: a failing server does not lift the
        limits."""
        address = recipient.lower()
        if not (answerable and self._sink.allowed(address)):
            return AnswerDecision.NOT_ANSWERED
        async with self._store.transaction() as session:
            limits = self._limits
            to_address = await mail_repo.count_answers(
                session, ANSWER_ACTION, now - limits.per_address_window, address
            )
            in_total = await mail_repo.count_answers(
                session, ANSWER_ACTION, now - limits.total_window
            )
            decision = answer_decision(
                answerable=True,
                sent_to_address=to_address,
                sent_in_total=in_total,
                limits=limits,
            )
            if decision is AnswerDecision.SEND:
                await repo.add_audit(
                    session,
                    world=World.MAIL.value,
                    action=ANSWER_ACTION,
                    outcome="sent",
                    destination=address,
                    detail=detail,
                )
        if decision is not AnswerDecision.SEND:
            log.info("mail answer withheld (%s)", decision.value)
            return decision
        mail = compose.compose_answer(
            key=self._sink.key,
            sender=self._sink.sender,
            recipient=address,
            kind=kind,
            source=source,
            subject=answer.subject,
            text=answer.text,
            now=now,
        )
        try:
            await self._sink.send_raw(mail, address)
        except Exception as exc:  # the outcome is recorded; an answer is not worth a retry
            log.warning("mail answer not sent (%s)", type(exc).__name__)
        return decision


__all__ = ["Answerer"]
