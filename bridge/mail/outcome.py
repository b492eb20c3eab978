"""How one inbound mail ended, and the typed refusals the inbox's steps raise.

Every step of the inbox (``bridge.mail.receiver``, ``bridge.mail.starting``) either returns what
the next one needs or raises one of these; ``Receiver.receive`` catches them in one place, where
the mail is recorded, audited and, when allowed, answered (Discourse's ``Email::Receiver`` /
``Email::Processor`` split). A server outage is not one of them: it propagates, and the mail is
offered again later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bridge.mail import answers
from bridge.mail.answers import Answer
from bridge.mail.newconv import MAX_MEMBERS, Refusal
from bridge.mail.verdict import Refused

#: Audit actions of the inbox.
MAIL_IN = "mail.in"
NEW_CONVERSATION = "mail.new_conversation"


class Handled(StrEnum):
    """What became of a mail (``mail_messages.verdict``; audited as the outcome)."""

    ACCEPTED = "accepted"
    CREATED = "created"
    REFUSED = "refused"
    AUTOMATIC = "auto_reply"
    BOUNCE = "bounce"
    #: Over the parsing budget, or the worker failed on it: kept in the mailbox, not read.
    SET_ASIDE = "set_aside"


@dataclass(frozen=True, slots=True)
class Outcome:
    handled: Handled
    #: Why (a ``verdict.RefusalReason``, a new-conversation refusal, ``duplicate``, ``counts``…).
    reason: str | None = None
    conversation_id: str | None = None
    member_id: str | None = None
    spico_message_id: str | None = None
    action: str = MAIL_IN


class MailRefused(Exception):
    """A step refused the mail. ``author`` is set once the author was read; ``answerable``
    once it passed the trust checks (only then may the bridge answer)."""

    action = MAIL_IN
    #: The kind of answer (part of its Message-ID).
    answer_kind = "refusal"

    def __init__(
        self,
        reason: str,
        *,
        author: str | None = None,
        answerable: bool = False,
        conversation_id: str | None = None,
        member_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.author = author
        self.answerable = answerable
        self.conversation_id = conversation_id
        self.member_id = member_id
        #: What the audit row says (the reason, unless a step knows more).
        self.detail = detail or reason

    def answer(self, *, language: str, received: datetime, bridge_address: str) -> Answer:
        raise NotImplementedError

    def outcome(self) -> Outcome:
        return Outcome(
            Handled.REFUSED, self.reason, self.conversation_id, self.member_id, None, self.action
        )


class ReplyRefused(MailRefused):
    """A mail refused by the trust pipeline or by SPICO (``verdict.Refused``)."""

    def __init__(self, refused: Refused, *, detail: str | None = None) -> None:
        super().__init__(
            refused.reason.value,
            author=refused.author,
            answerable=answers.may_answer(refused),
            conversation_id=refused.conversation_id,
            member_id=refused.member_id,
            detail=detail,
        )
        self.refused = refused

    def answer(self, *, language: str, received: datetime, bridge_address: str) -> Answer:
        return answers.refusal_answer(self.refused.reason, language, received)


class NewConversationRefused(MailRefused):
    """A new-conversation mail from an authenticated sender that started nothing."""

    action = NEW_CONVERSATION
    answer_kind = "newconv-refusal"

    def __init__(self, author: str, refusal: Refusal, *, member_id: str | None = None) -> None:
        super().__init__(
            refusal.reason,
            author=author,
            answerable=True,
            member_id=member_id,
            detail=refusal.reason + (f":{refusal.code}" if refusal.code else ""),
        )
        self.refusal = refusal

    def answer(self, *, language: str, received: datetime, bridge_address: str) -> Answer:
        return answers.new_conversation_answer(
            reason=self.refusal.reason,
            language=language,
            received=received,
            bridge_address=bridge_address,
            address_problems=[problem.why for problem in self.refusal.addresses],
            spico_code=self.refusal.code,
            max_members=MAX_MEMBERS,
        )


class SetAside(Exception):
    """The mail cannot be read within the budget (or the worker died on it): set aside like a
    poison mail, never answered."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


__all__ = [
    "MAIL_IN",
    "NEW_CONVERSATION",
    "Handled",
    "MailRefused",
    "NewConversationRefused",
    "Outcome",
    "ReplyRefused",
    "SetAside",
]
