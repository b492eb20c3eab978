"""Answers go only to authenticated authors in the trust space, quote nothing, rate-limited."""

from __future__ import annotations

import pytest

from bridge.mail.answers import (
    AnswerDecision,
    AnswerLimits,
    answer_decision,
    dropped_text,
    may_answer,
    refusal_text,
)
from bridge.mail.verdict import Reason, Refused

LIMITS = AnswerLimits(per_address=3, total=10)
AUTHOR = "anne.martin@sandbox.mssante.fr"


def decide(refusal: Refused, to_address: int = 0, total: int = 0) -> AnswerDecision:
    return answer_decision(refusal, sent_to_address=to_address, sent_in_total=total, limits=LIMITS)


def test_only_authors_that_passed_the_trust_checks() -> None:
    assert decide(Refused(Reason.FORGED_TOKEN, AUTHOR, True)) is AnswerDecision.SEND
    assert decide(Refused(Reason.UNAUTHENTICATED, AUTHOR, False)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(Reason.UNTRUSTED_DOMAIN, AUTHOR)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(Reason.ADDRESS_IN_NAME)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(Reason.LOOP, AUTHOR, True)) is AnswerDecision.NOT_ANSWERED
    assert not may_answer(Refused(Reason.OVER_BUDGET, AUTHOR, True))


def test_rate_limits_per_address_and_in_total() -> None:
    refusal = Refused(Reason.NO_TOKEN, AUTHOR, True)
    assert decide(refusal, to_address=2, total=9) is AnswerDecision.SEND
    assert decide(refusal, to_address=3) is AnswerDecision.ADDRESS_LIMIT
    assert decide(refusal, total=10) is AnswerDecision.TOTAL_LIMIT


@pytest.mark.parametrize("reason", list(Reason))
@pytest.mark.parametrize("language", ["fr", "en"])
def test_refusal_texts_hold_only_the_bridges_words(reason: Reason, language: str) -> None:
    subject, body = refusal_text(reason, language, "25/11/2026 10:30")
    assert "@" not in subject + body and "25/11/2026 10:30" in body
    assert subject in ("Message non transmis à SPICO", "Message not passed on to SPICO")


def test_the_author_is_told_what_was_left_out() -> None:
    for what in ("text", "attachments", "parts"):
        subject, body = dropped_text(what, "fr", "hier")
        assert "partie" in subject and "hier" in body
