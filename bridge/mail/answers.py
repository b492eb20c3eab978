"""Answers to inbound mails (pure): whom, what, how often. Answers are not a relay.

* Whom: only an author in the trust space whom the operator's server authenticated (a forged
  ``From`` would make the bridge's official address write to a victim), never for automatic
  mail, bounces or loops, never when the author could not be read. (With ``require: none`` the
  operator vouches for every sender: a local test server.)
* What: the bridge's own words only (``bridge.mail.texts``). Nothing the sender wrote is
  repeated: no subject, no address, no body, not even the mail's Message-ID (otherwise the
  answer carries the attacker's text from an official address); only when the bridge received
  it. The answer carries ``Auto-Submitted: auto-replied`` (``compose.compose_answer``).
* How often: at most ``per_address`` answers to one address per ``per_address_window`` and
  ``total`` answers per ``total_window`` (``AnswerLimits``, from ``mail.answers``), counted from
  the audit rows of the answers sent (``mail.answer``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bridge.mail import texts
from bridge.mail.verdict import Reason, RefusalReason, Refused

#: The audit action of every answer sent (the rate limits count these rows).
ANSWER_ACTION = "mail.answer"


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    per_address: int = 3
    per_address_window: timedelta = timedelta(hours=24)
    total: int = 60
    total_window: timedelta = timedelta(hours=1)


class AnswerDecision(StrEnum):
    SEND = "send"
    #: Not the kind of refusal that is answered (unknown or unauthenticated author, loop).
    NOT_ANSWERED = "not_answered"
    ADDRESS_LIMIT = "address_limit"
    TOTAL_LIMIT = "total_limit"


#: Refusals never answered even to an authenticated author: the bridge's own mail coming
#: back, and over-budget mails (a mail that stalls the parser gets no second round).
_NEVER_ANSWERED = frozenset({Reason.LOOP, Reason.OVER_BUDGET, Reason.WORKER_FAILED})


def may_answer(refusal: Refused) -> bool:
    """Whether this refusal may be answered at all (rate limits aside)."""
    return (
        refusal.author is not None and refusal.answerable and refusal.reason not in _NEVER_ANSWERED
    )


def answer_decision(
    *, answerable: bool, sent_to_address: int, sent_in_total: int, limits: AnswerLimits
) -> AnswerDecision:
    """Send or not, given whether the mail may be answered at all and how many answers already
    went to this address within ``limits.per_address_window`` and to anyone within
    ``limits.total_window``."""
    if not answerable:
        return AnswerDecision.NOT_ANSWERED
    if sent_to_address >= limits.per_address:
        return AnswerDecision.ADDRESS_LIMIT
    if sent_in_total >= limits.total:
        return AnswerDecision.TOTAL_LIMIT
    return AnswerDecision.SEND


@dataclass(frozen=True, slots=True)
class Answer:
    """What an answer says: its subject and text (the bridge's words only)."""

    subject: str
    text: str


def _letter(language: str, *paragraphs: str) -> str:
    lines = [texts.text(language, "hello"), "", *paragraphs]
    return "\n".join([*lines, "", "-- ", texts.text(language, "answer_signature"), ""])


def refusal_answer(reason: RefusalReason, language: str, received: datetime) -> Answer:
    """Why a reply was not passed on, and what to do."""
    why = texts.find(language, f"refusal_reason_{reason.value}") or texts.text(
        language, "refusal_reason_other"
    )
    body = texts.text(language, "refused_body", received=received, why=why)
    return Answer(texts.text(language, "refused_subject"), _letter(language, body))


@dataclass(frozen=True, slots=True)
class Dropped:
    """What of an accepted mail was left out (``bridge.mail.body.Body``)."""

    text: bool = False
    #: Attachments over ``mail.max_attachment_bytes``.
    attachments: int = 0
    unreadable_parts: int = 0
    #: Attachments beyond the first ``mail.max_attachments``.
    too_many: int = 0

    def __bool__(self) -> bool:
        return self.text or any((self.attachments, self.unreadable_parts, self.too_many))


def choice_answer(language: str, key: str, subject: str) -> Answer:
    """Tells a member which mail choice now applies (``choice_done_<action>``, or
    ``choice_pinned`` when the config decides); the subject is the conversation's in SPICO."""
    return Answer(
        texts.text(language, "choice_subject"),
        _letter(language, texts.text(language, key, subject=subject)),
    )


def dropped_answer(
    dropped: Dropped,
    language: str,
    received: datetime,
    *,
    max_attachment_bytes: int,
    max_attachments: int,
) -> Answer:
    """Tells the author that part of an accepted mail was left out (never cut silently)."""
    lines = [texts.text(language, "partly_body", received=received)]
    if dropped.text:
        lines.append(texts.text(language, "partly_text"))
    if dropped.attachments:
        megabytes = f"{max_attachment_bytes / (1024 * 1024):.1f}"
        lines.append(
            texts.text(
                language, "attachments_too_large", count=dropped.attachments, limit=megabytes
            )
        )
    if dropped.too_many:
        lines.append(
            texts.text(
                language, "attachments_too_many", count=dropped.too_many, limit=max_attachments
            )
        )
    if dropped.unreadable_parts:
        lines.append(texts.text(language, "partly_parts", count=dropped.unreadable_parts))
    lines += ["", texts.text(language, "partly_howto")]
    return Answer(texts.text(language, "partly_subject"), _letter(language, "\n".join(lines)))


def new_conversation_answer(
    *,
    reason: str,
    language: str,
    received: datetime,
    bridge_address: str,
    address_problems: Sequence[str] = (),
    spico_code: str | None = None,
    max_members: int = 30,
) -> Answer:
    """Why a new-conversation mail started nothing, and how to write one. The addresses at
    fault are counted by kind, never repeated; SPICO's code is explained, its own sentence
    (which may quote the request) is not."""
    sentence = texts.find(language, f"newconv_reason_{reason}", max_members=max_members)
    sentence = sentence or texts.text(language, "refusal_reason_other")
    if reason == "spico_refused" and spico_code:
        explanation = texts.find(language, f"spico_code_{spico_code}")
        if explanation:
            sentence = texts.text(
                language, "reason_explained", reason=sentence, explanation=explanation
            )
    paragraphs = [texts.text(language, "newconv_refused", received=received, reason=sentence)]
    if address_problems:
        counts = Counter(address_problems)
        lines = [texts.text(language, "addresses_title")]
        lines += [
            texts.text(
                language,
                "address_count",
                count=count,
                problem=texts.find(language, f"address_{why}") or why,
            )
            for why, count in counts.items()
        ]
        paragraphs += ["", "\n".join(lines)]
    paragraphs += ["", texts.text(language, "newconv_howto", address=bridge_address)]
    return Answer(texts.text(language, "newconv_refused_title"), _letter(language, *paragraphs))


__all__ = [
    "ANSWER_ACTION",
    "Answer",
    "AnswerDecision",
    "AnswerLimits",
    "Dropped",
    "answer_decision",
    "dropped_answer",
    "may_answer",
    "new_conversation_answer",
    "refusal_answer",
]
