"""Answers go only to authenticated authors in the trust space, quote nothing, rate-limited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from bridge.mail.answers import (
    AnswerDecision,
    AnswerLimits,
    Dropped,
    answer_decision,
    dropped_answer,
    may_answer,
    new_conversation_answer,
    refusal_answer,
)
from bridge.mail.author import AuthorProblem
from bridge.mail.body import BodyProblem
from bridge.mail.verdict import Reason, RefusalReason, Refused

LIMITS = AnswerLimits(per_address=3, total=10)
AUTHOR = "anne.martin@sandbox.mssante.fr"
RECEIVED = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def decide(refusal: Refused, to_address: int = 0, total: int = 0) -> AnswerDecision:
    return answer_decision(
        answerable=may_answer(refusal),
        sent_to_address=to_address,
        sent_in_total=total,
        limits=LIMITS,
    )


def test_only_authors_that_passed_the_trust_checks() -> None:
    assert decide(Refused(Reason.FORGED_TOKEN, AUTHOR, True)) is AnswerDecision.SEND
    assert decide(Refused(Reason.UNAUTHENTICATED, AUTHOR, False)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(Reason.UNTRUSTED_DOMAIN, AUTHOR)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(AuthorProblem.ADDRESS_IN_NAME)) is AnswerDecision.NOT_ANSWERED
    assert decide(Refused(Reason.LOOP, AUTHOR, True)) is AnswerDecision.NOT_ANSWERED
    assert not may_answer(Refused(Reason.OVER_BUDGET, AUTHOR, True))


def test_rate_limits_per_address_and_in_total() -> None:
    refusal = Refused(Reason.NO_TOKEN, AUTHOR, True)
    assert decide(refusal, to_address=2, total=9) is AnswerDecision.SEND
    assert decide(refusal, to_address=3) is AnswerDecision.ADDRESS_LIMIT
    assert decide(refusal, total=10) is AnswerDecision.TOTAL_LIMIT


@pytest.mark.parametrize("reason", [r for reasons in get_args(RefusalReason) for r in reasons])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_refusal_texts_hold_only_the_bridges_words(reason: RefusalReason, language: str) -> None:
    answer = refusal_answer(reason, language, RECEIVED)
    assert "@" not in answer.subject + answer.text
    assert "25/11/2026 à 10:30" in answer.text or "2026-11-25 at 10:30" in answer.text
    assert answer.subject in ("Message non transmis à SPICO", "Message not passed on to SPICO")
    assert "{" not in answer.text


def test_each_answered_reason_has_its_own_sentence() -> None:
    generic = refusal_answer(Reason.LOOP, "fr", RECEIVED).text
    for reason in (Reason.NOT_TOKEN_HOLDER, Reason.MEMBER_REMOVED, BodyProblem.HTML_TOO_COMPLEX):
        assert refusal_answer(reason, "fr", RECEIVED).text != generic


def test_the_author_is_told_what_was_left_out() -> None:
    def told(dropped: Dropped, language: str = "fr") -> str:
        answer = dropped_answer(
            dropped, language, RECEIVED, max_attachment_bytes=10 * 1024 * 1024, max_attachments=4
        )
        assert answer.subject in (
            "Message transmis en partie à SPICO",
            "Message partly passed on to SPICO",
        )
        return answer.text

    text = told(Dropped(True, 2, 1, 3))
    assert "trop long" in text and "2 pièce(s) jointe(s) de plus de 10.0 Mo" in text
    assert "3 pièce(s) jointe(s) au-delà des 4" in text and "1 partie(s) illisible(s)" in text
    english = told(Dropped(too_many=1), "en")
    assert "1 attachment(s) beyond the 4" in english and "too long" not in english
    assert not Dropped() and Dropped(unreadable_parts=1) and Dropped(too_many=2)


def test_a_new_conversation_answer_counts_the_addresses_and_never_repeats_them() -> None:
    answer = new_conversation_answer(
        reason="addresses",
        language="fr",
        received=RECEIVED,
        bridge_address="bridge@sandbox.mssante.fr",
        address_problems=["unknown", "structure", "unknown"],
    )
    assert answer.subject == "Conversation non créée"
    assert "- 2 adresse(s) absente(s) de l'annuaire SPICO" in answer.text
    assert "- 1 adresse(s) de structure" in answer.text
    assert answer.text.count("@") == 1, "only the bridge's own address, in the how-to"


def test_a_spico_refusal_is_explained_without_spicos_own_sentence() -> None:
    answer = new_conversation_answer(
        reason="spico_refused",
        language="en",
        received=RECEIVED,
        bridge_address="bridge@sandbox.mssante.fr",
        spico_code="no_patient_access",
    )
    assert "SPICO refused it: you have no access to this patient" in answer.text
