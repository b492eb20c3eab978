"""What the inbox decides about one mail (plain data): typed verdicts and refusal reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.mail.body import Body
from bridge.mail.dsn import DsnMatch


class Reason(StrEnum):
    """Why a mail is not passed on. Values are stable: they are audited."""

    # Bounded work (no author needed: refused before anything is read).
    TOO_LARGE = "too_large"
    HEADER_TOO_LARGE = "header_too_large"
    TOO_MANY_CONTAINERS = "too_many_containers"
    TOO_MANY_PARTS = "too_many_parts"
    TOO_DEEP = "too_deep"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    TEXT_TOO_LARGE = "text_too_large"
    HTML_TOO_LARGE = "html_too_large"
    HTML_TOO_COMPLEX = "html_too_complex"
    UNREADABLE = "unreadable"
    #: The parsing worker went over its time budget (``bridge.mail.budget``).
    OVER_BUDGET = "over_budget"
    # The author (``bridge.mail.author``).
    NO_FROM = "no_from"
    SEVERAL_FROM = "several_from"
    FROM_TOO_LONG = "from_too_long"
    NOT_ONE_MAILBOX = "not_one_mailbox"
    FROM_DEFECT = "from_defect"
    UNUSUAL_ADDRESS = "unusual_address"
    ADDRESS_IN_NAME = "address_in_name"
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


#: Refusals decided before the author is known: nobody to answer.
BEFORE_AUTHOR = frozenset(
    {
        Reason.TOO_LARGE,
        Reason.HEADER_TOO_LARGE,
        Reason.NO_FROM,
        Reason.SEVERAL_FROM,
        Reason.FROM_TOO_LONG,
        Reason.NOT_ONE_MAILBOX,
        Reason.FROM_DEFECT,
        Reason.UNUSUAL_ADDRESS,
        Reason.ADDRESS_IN_NAME,
    }
)


@dataclass(frozen=True, slots=True)
class Sender:
    """An author that passed the trust checks."""

    address: str
    #: True when the operator's server vouched for it; False when the policy is ``none``
    #: (the operator's choice: such a sender is still answered).
    authenticated: bool


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Reason
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
    "BEFORE_AUTHOR",
    "Accepted",
    "Automatic",
    "Bounce",
    "NewConversation",
    "Reason",
    "Refused",
    "Sender",
    "Verdict",
]
