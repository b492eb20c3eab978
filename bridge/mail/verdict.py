"""What the inbox decides about one mail (plain data): typed verdicts and refusal reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.mail.author import AuthorProblem
from bridge.mail.body import Body, BodyProblem
from bridge.mail.dsn import DsnMatch
from bridge.mail.envelope import EnvelopeProblem


class Reason(StrEnum):
    """Why the inbox itself does not pass a mail on; what its readers refuse a mail for is
    their own problem enum (``RefusalReason`` is all of them). Values are stable: audited."""

    #: The parsing worker went over its time budget (``bridge.mail.budget``).
    OVER_BUDGET = "over_budget"
    #: The parsing worker died on the mail (memory cap) or answered nonsense.
    WORKER_FAILED = "worker_failed"
    # Who.
    LOOP = "loop"
    UNTRUSTED_DOMAIN = "untrusted_domain"
    PATIENT_MAILBOX = "patient_mailbox"
    UNAUTHENTICATED = "unauthenticated"
    # Which conversation (``bridge.mail.threads``).
    NO_TOKEN = "no_token"
    FORGED_TOKEN = "forged_token"
    EXPIRED_TOKEN = "expired_token"
    #: A valid token of another member than the author (tokens travel in References).
    NOT_TOKEN_HOLDER = "not_token_holder"
    #: The token's member is no longer a member of the conversation.
    MEMBER_REMOVED = "member_removed"
    # What.
    EMPTY = "empty"
    #: SPICO refused the post (not a member any more, a closed conversation…).
    SPICO_REFUSED = "spico_refused"


#: Why a mail is refused: bounded work (``envelope``, ``body``: no author needed, refused before
#: anything is read), its author (``author``), or the inbox's own reasons. Values are distinct
#: across the four: the audit tells them apart by value alone.
RefusalReason = EnvelopeProblem | AuthorProblem | BodyProblem | Reason


@dataclass(frozen=True, slots=True)
class Sender:
    """An author that passed the trust checks."""

    address: str
    #: True when the operator's server vouched for it; False when the policy is ``none``
    #: (the operator's choice: such a sender is still answered).
    authenticated: bool


@dataclass(frozen=True, slots=True)
class Refused:
    reason: RefusalReason
    #: The author's addr-spec once read (None before: nobody may be answered).
    author: str | None = None
    #: Whether the author passed the trust checks (trust space, authentication policy):
    #: only then may the bridge answer (``bridge.mail.answers``).
    answerable: bool = False
    conversation_id: str | None = None
    member_id: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A reply to pass on to SPICO as ``member_id`` in ``conversation_id``."""

    sender: Sender
    conversation_id: str
    member_id: str
    body: Body


@dataclass(frozen=True, slots=True)
class NewConversation:
    """A new mail to the bridge's own address (``bridge.mail.newconv`` reads the request)."""

    sender: Sender
    subject: str
    addressed: tuple[str, ...]
    body: Body


@dataclass(frozen=True, slots=True)
class Automatic:
    """An auto-reply, out-of-office or list mail: recorded, never answered."""

    author: str | None


@dataclass(frozen=True, slots=True)
class Bounce:
    """A DSN; ``match.counts`` only when it reports a mail the bridge sent that recipient."""

    match: DsnMatch


Verdict = Accepted | NewConversation | Refused | Automatic | Bounce


__all__ = [
    "Accepted",
    "Automatic",
    "Bounce",
    "NewConversation",
    "Reason",
    "RefusalReason",
    "Refused",
    "Sender",
    "Verdict",
]
