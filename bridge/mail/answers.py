"""Answers to refused mails (pure): whom, what, how often. Answers are not a relay.

* Whom: only an author in the trust space whom the operator's server authenticated (a forged
  ``From`` would make the bridge's official address write to a victim), never for automatic
  mail, bounces or loops, never when the author could not be read.
* What: the bridge's own words only. Nothing the sender wrote is repeated: no subject, no
  address, no body (otherwise the answer carries the attacker's text from an official
  address). The answer carries ``Auto-Submitted: auto-replied`` (``bridge.mail.compose``).
* How often: at most ``per_address`` answers to one address per ``per_address_window`` and
  ``total`` answers per ``total_window`` (``AnswerLimits``, from the config).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bridge.core.i18n import choose
from bridge.mail.verdict import Reason, Refused


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
_NEVER_ANSWERED = frozenset({Reason.LOOP, Reason.OVER_BUDGET})


def may_answer(refusal: Refused) -> bool:
    """Whether this refusal may be answered at all (rate limits aside)."""
    return (
        refusal.author is not None and refusal.answerable and refusal.reason not in _NEVER_ANSWERED
    )


def answer_decision(
    refusal: Refused, *, sent_to_address: int, sent_in_total: int, limits: AnswerLimits
) -> AnswerDecision:
    """Send or not, given how many answers already went to this address within
    ``limits.per_address_window`` and to anyone within ``limits.total_window``."""
    if not may_answer(refusal):
        return AnswerDecision.NOT_ANSWERED
    if sent_to_address >= limits.per_address:
        return AnswerDecision.ADDRESS_LIMIT
    if sent_in_total >= limits.total:
        return AnswerDecision.TOTAL_LIMIT
    return AnswerDecision.SEND


SUBJECT = {"fr": "Message non transmis à SPICO", "en": "Message not passed on to SPICO"}
PARTLY_SUBJECT = {
    "fr": "Message transmis en partie à SPICO",
    "en": "Message partly passed on to SPICO",
}

_WHY = {
    "fr": {
        Reason.NO_TOKEN: "il ne répond à aucun message de SPICO : répondez au message reçu",
        Reason.FORGED_TOKEN: "le lien de réponse est invalide : répondez au message reçu",
        Reason.EXPIRED_TOKEN: "le lien de réponse a expiré : répondez depuis SPICO",
        Reason.NOT_TOKEN_HOLDER: "il répond avec le lien de réponse d'un autre participant : "
        "répondez au message que vous avez reçu vous-même",
        Reason.MEMBER_REMOVED: "vous ne participez plus à cette conversation",
        Reason.EMPTY: "il ne contient aucun texte",
        Reason.TOO_MANY_CONTAINERS: "sa structure est trop complexe",
        Reason.TOO_MANY_PARTS: "il contient trop de parties",
        Reason.TOO_DEEP: "sa structure est trop complexe",
        Reason.TOO_MANY_ATTACHMENTS: "il contient trop de pièces jointes",
        Reason.TEXT_TOO_LARGE: "son texte est trop long",
        Reason.HTML_TOO_LARGE: "sa mise en forme est trop volumineuse : envoyez-le en texte brut",
        Reason.HTML_TOO_COMPLEX: "sa mise en forme est trop complexe : envoyez-le en texte brut",
        Reason.UNREADABLE: "il n'a pas pu être lu",
    },
    "en": {
        Reason.NO_TOKEN: "it does not answer a SPICO mail: reply to the mail you received",
        Reason.FORGED_TOKEN: "the reply link is invalid: reply to the mail you received",
        Reason.EXPIRED_TOKEN: "the reply link has expired: answer from SPICO",
        Reason.NOT_TOKEN_HOLDER: "it answers with another member's reply link: reply to the "
        "mail you received yourself",
        Reason.MEMBER_REMOVED: "you are no longer a member of this conversation",
        Reason.EMPTY: "it contains no text",
        Reason.TOO_MANY_CONTAINERS: "its structure is too complex",
        Reason.TOO_MANY_PARTS: "it has too many parts",
        Reason.TOO_DEEP: "its structure is too complex",
        Reason.TOO_MANY_ATTACHMENTS: "it has too many attachments",
        Reason.TEXT_TOO_LARGE: "its text is too long",
        Reason.HTML_TOO_LARGE: "its formatting is too large: send it as plain text",
        Reason.HTML_TOO_COMPLEX: "its formatting is too complex: send it as plain text",
        Reason.UNREADABLE: "it could not be read",
    },
}
_GENERIC = {"fr": "il n'a pas pu être accepté", "en": "it could not be accepted"}
_BODY = {
    "fr": "Bonjour,\n\nVotre message reçu le {when} n'a pas été transmis à SPICO : {why}.\n\n"
    "-- \nSPICO (message automatique)\n",
    "en": "Hello,\n\nYour mail received on {when} was not passed on to SPICO: {why}.\n\n"
    "-- \nSPICO (automatic message)\n",
}
_DROPPED = {
    "fr": "Bonjour,\n\nVotre message reçu le {when} a été transmis à SPICO, mais {what}.\n\n"
    "-- \nSPICO (message automatique)\n",
    "en": "Hello,\n\nYour mail received on {when} was passed on to SPICO, but {what}.\n\n"
    "-- \nSPICO (automatic message)\n",
}
_DROPPED_WHAT = {
    "fr": {
        "text": "son texte était trop long : la fin n'a pas été transmise",
        "attachments": "des pièces jointes trop volumineuses n'ont pas été transmises",
        "parts": "une partie illisible n'a pas été transmise",
    },
    "en": {
        "text": "its text was too long: the end was not passed on",
        "attachments": "attachments over the size limit were not passed on",
        "parts": "an unreadable part was not passed on",
    },
}


def refusal_text(reason: Reason, language: str, received: str) -> tuple[str, str]:
    """(subject, body) of the answer to a refusal: the bridge's words and the date the mail
    was received (``received``, formatted by the caller), nothing the sender wrote."""
    lang = choose(language)
    why = _WHY[lang].get(reason, _GENERIC[lang])
    return SUBJECT[lang], _BODY[lang].format(when=received, why=why)


def dropped_text(what: str, language: str, received: str) -> tuple[str, str]:
    """(subject, body) telling the author that part of an accepted mail was left out;
    ``what`` is ``text``, ``attachments`` or ``parts``."""
    lang = choose(language)
    return PARTLY_SUBJECT[lang], _DROPPED[lang].format(
        when=received, what=_DROPPED_WHAT[lang][what]
    )


__all__ = [
    "PARTLY_SUBJECT",
    "SUBJECT",
    "AnswerDecision",
    "AnswerLimits",
    "answer_decision",
    "dropped_text",
    "may_answer",
    "refusal_text",
]
