"""One inbound mail, judged in the order the trust boundary needs (pure).

``assess(raw, context)`` runs the steps below in order; each returns what the next needs or a
verdict, and nothing later runs once a verdict is reached. The inbox runs the same steps one by
one (the two parsing steps in the worker, ``bridge.mail.budget``; the store lookups between):

1. ``read_envelope`` (worker): caps on the whole mail and the header block, then the header
   fields, the author's syntax (``bridge.mail.author``);
2. DSN-shaped mails: ``read_dsn`` (worker) and ``match_dsn`` (a DSN counts only for a mail the
   bridge sent to that recipient);
3. ``screen``: author readable, not the bridge itself, not automatic, in the trust space,
   authenticated per ``require`` (``bridge.mail.authentication``);
4. ``find_thread`` / ``is_new_conversation`` (``bridge.mail.threads``), with the store's
   ``ThreadLookup`` for the candidates of the envelope;
5. only then ``read_body`` (worker): quote stripping, HTML conversion, attachment decoding.

Configuration arrives as ``MailTrustSettings`` (plain, frozen), built by the inbox from the
config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from bridge.mail.answers import AnswerLimits
from bridge.mail.authentication import (
    DEFAULT_SHARED_SUFFIXES,
    AuthReason,
    Requirement,
    check_authentication,
)
from bridge.mail.author import Author
from bridge.mail.body import Body, BodyProblem, read_body
from bridge.mail.dsn import DsnMatch, match_dsn, read_dsn
from bridge.mail.envelope import Envelope, EnvelopeProblem, read_envelope
from bridge.mail.limits import MailLimits
from bridge.mail.threads import ThreadLookup, ThreadMatch, find_thread, is_new_conversation
from bridge.mail.verdict import (
    Accepted,
    Automatic,
    Bounce,
    NewConversation,
    Reason,
    Refused,
    Sender,
    Verdict,
)

PATIENT_DOMAIN = "patient.mssante.fr"


@dataclass(frozen=True, slots=True)
class MailTrustSettings:
    """What the inbox needs from ``mail.*`` (built from the config in the inbox)."""

    own_address: str
    #: The operator's server's authserv-id (``mail.authentication.authserv_id``).
    authserv_id: str | None = None
    require: Requirement = Requirement.NONE
    #: Suffixes shared by many organisations, on top of the Public Suffix List.
    shared_suffixes: tuple[str, ...] = DEFAULT_SHARED_SUFFIXES
    allow_patient_mailboxes: bool = False
    limits: MailLimits = field(default_factory=MailLimits)
    answers: AnswerLimits = field(default_factory=AnswerLimits)


@dataclass(frozen=True, slots=True)
class AssessContext:
    settings: MailTrustSettings
    #: The reply-token HMAC key.
    key: bytes
    today: date
    #: The trust space (``bridge.mail.trust.TrustSpace.is_trusted``).
    is_trusted: Callable[[str], bool]
    #: The store's answers for an envelope's candidates (``bridge.mail.threads``).
    lookup: Callable[[Envelope], ThreadLookup] = lambda _envelope: ThreadLookup()
    #: Whether the bridge sent the mail with this Message-ID to this recipient (DSNs).
    sent_to: Callable[[str, str], bool] = lambda _message_id, _recipient: False


def _is_patient(address: str) -> bool:
    domain = address.rpartition("@")[2]
    return domain == PATIENT_DOMAIN or domain.endswith("." + PATIENT_DOMAIN)


def _is_own(address: str, own_address: str) -> bool:
    local, _, domain = address.partition("@")
    return f"{local.partition('+')[0]}@{domain}" == own_address.lower()


def screen(
    envelope: Envelope, settings: MailTrustSettings, is_trusted: Callable[[str], bool]
) -> Sender | Verdict:
    """Who wrote: the authenticated author in the trust space, or the verdict on the mail."""
    author = envelope.author
    if not isinstance(author, Author):
        return Refused(author)
    address = author.address
    if _is_own(address, settings.own_address):
        return Refused(Reason.LOOP, address)
    if envelope.automatic:
        return Automatic(address)
    if _is_patient(address) and not settings.allow_patient_mailboxes:
        return Refused(Reason.PATIENT_MAILBOX, address)
    if not is_trusted(address):
        return Refused(Reason.UNTRUSTED_DOMAIN, address)
    check = check_authentication(
        envelope.trace,
        author.domain,
        require=settings.require,
        authserv_id=settings.authserv_id,
        shared_suffixes=settings.shared_suffixes,
    )
    if not check.passed:
        return Refused(Reason.UNAUTHENTICATED, address)
    return Sender(address, authenticated=check.reason is not AuthReason.NOT_REQUIRED)


def conclude(
    sender: Sender, found: ThreadMatch | NewConversation | Refused, body: Body | BodyProblem
) -> Verdict:
    """The verdict once the body is read."""
    if isinstance(found, Refused):
        return found
    if isinstance(body, BodyProblem):
        if isinstance(found, ThreadMatch):
            return Refused(body, sender.address, True, found.conversation_id, found.member_id)
        return Refused(body, sender.address, True)
    if isinstance(found, NewConversation):
        return NewConversation(sender, found.subject, found.addressed, body)
    if not body.text and not body.attachments:
        return Refused(Reason.EMPTY, sender.address, True, found.conversation_id, found.member_id)
    return Accepted(sender, found.conversation_id, found.member_id, body)


def place(
    envelope: Envelope, sender: Sender, lookup: ThreadLookup, context: AssessContext
) -> ThreadMatch | NewConversation | Refused:
    """Which conversation and member (or a new conversation), before the body is read."""
    own = context.settings.own_address
    found = find_thread(
        envelope, sender.address, lookup, key=context.key, today=context.today, own_address=own
    )
    if isinstance(found, ThreadMatch):
        return found
    if found is Reason.NO_TOKEN and is_new_conversation(envelope, sender.address, lookup, own):
        return NewConversation(sender, envelope.subject, envelope.addressed, Body(""))
    return Refused(found, sender.address, True)


def assess(raw: bytes, context: AssessContext) -> Verdict:
    """The verdict on one raw mail; never raises for any input."""
    limits = context.settings.limits
    envelope = read_envelope(raw, limits)
    if isinstance(envelope, EnvelopeProblem):
        return Refused(envelope)
    if envelope.delivery_report:
        report = read_dsn(raw, limits)
        if report is None:  # unreadable within limits: counts for nothing
            return Bounce(DsnMatch(None, ()))
        return Bounce(match_dsn(report, context.sent_to))
    screened = screen(envelope, context.settings, context.is_trusted)
    if not isinstance(screened, Sender):
        return screened
    found = place(envelope, screened, context.lookup(envelope), context)
    if isinstance(found, Refused):
        return found
    return conclude(screened, found, read_body(raw, limits))


__all__ = [
    "PATIENT_DOMAIN",
    "AssessContext",
    "MailTrustSettings",
    "assess",
    "conclude",
    "place",
    "screen",
]
