"""Which conversation a mail answers, and as which member (pure).

A reply token authenticates its *holder*: the member it was issued to must be the author of
the mail that carries it (tokens travel in ``References`` to everyone a reply is forwarded or
copied to), and must still be a member of the conversation. The token is found in the
sub-address (``bridge+TOKEN@domain``) or in a ``<rt.TOKEN@domain>`` reference; the store's
answers arrive as ``ThreadLookup`` (plain data the inbox fills from the candidates below).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from bridge.mail import tokens
from bridge.mail.compose import ACTION_SEPARATOR, MAIL_ACTIONS, TOKEN_REF_PREFIX
from bridge.mail.envelope import Envelope
from bridge.mail.verdict import Reason

_REPLY_PREFIX = re.compile(r"\s*(re|tr|fw|fwd|aw|réf|ref)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ThreadLookup:
    """What the store knows about the ids a mail points to (filled by the inbox)."""

    #: Message-IDs the bridge sent → (conversation, member it was sent to).
    messages: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Token handle → (conversation, member the token was issued to).
    handles: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Normalised subject → (conversation, member) among the author's threads.
    subjects: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Conversation → {lower-case address: member id} of its current members.
    members: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    conversation_id: str
    member_id: str


def _base_address(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local.partition('+')[0]}@{domain}"


def _sub_addresses(envelope: Envelope, own_address: str) -> list[tuple[str | None, str]]:
    """(action, text) after ``+`` in recipients that are the bridge's own address: an action
    address is ``bridge+<action>.TOKEN@…`` (``compose.MAIL_ACTIONS``)."""
    own = own_address.lower()
    found = []
    for recipient in envelope.recipients:
        local = recipient.partition("@")[0]
        if _base_address(recipient) == own and "+" in local:
            text = local.partition("+")[2]
            action, dot, token = text.partition(ACTION_SEPARATOR)
            action = action.lower()
            found.append((action, token) if dot and action in MAIL_ACTIONS else (None, text))
    return list(dict.fromkeys(found))


def sub_address_tokens(envelope: Envelope, own_address: str) -> list[str]:
    """Texts after ``+`` (and after an action) in recipients that are the bridge's own
    address."""
    return list(dict.fromkeys(text for _, text in _sub_addresses(envelope, own_address)))


def mail_action(envelope: Envelope, own_address: str) -> str | None:
    """The action a mail asks by its address (``stop``, ``follow``, ``all``), or None for a
    reply. It is honoured only once the token is found to be held by the authenticated author,
    like a reply's (``bridge.mail.receiver``)."""
    actions = [a for a, _ in _sub_addresses(envelope, own_address) if a is not None]
    return actions[0] if actions else None


def reference_tokens(envelope: Envelope) -> list[str]:
    found = []
    for reference in envelope.references:
        inner = reference.strip("<>")
        if inner.lower().startswith(TOKEN_REF_PREFIX):
            found.append(inner[len(TOKEN_REF_PREFIX) :].partition("@")[0].lower())
    return list(dict.fromkeys(found))


def decoded_tokens(envelope: Envelope, own_address: str) -> list[tokens.Token]:
    texts = sub_address_tokens(envelope, own_address) + reference_tokens(envelope)
    decoded = (tokens.decode(text) for text in dict.fromkeys(texts))
    return [token for token in decoded if token is not None]


def candidate_handles(envelope: Envelope, own_address: str) -> list[str]:
    """The token handles the inbox looks up (``ThreadLookup.handles``)."""
    return list(dict.fromkeys(t.handle for t in decoded_tokens(envelope, own_address)))


def normalise_subject(subject: str) -> str:
    text = subject
    while True:
        match = _REPLY_PREFIX.match(text)
        if match is None or not match.group(0):
            break
        text = text[match.end() :]
    return " ".join(text.split()).casefold()


_TOKEN_PROBLEM_ORDER = (
    Reason.NOT_TOKEN_HOLDER,
    Reason.MEMBER_REMOVED,
    Reason.EXPIRED_TOKEN,
    Reason.FORGED_TOKEN,
)


def find_thread(
    envelope: Envelope,
    author: str,
    lookup: ThreadLookup,
    *,
    key: bytes,
    today: date,
    own_address: str,
) -> ThreadMatch | Reason:
    """The (conversation, member) of the one token held by ``author``, or why none."""
    problems: set[Reason] = set()
    found = decoded_tokens(envelope, own_address)
    for token in found:
        bound = lookup.handles.get(token.handle)
        if bound is None:
            problems.add(Reason.FORGED_TOKEN)
            continue
        conversation, member = bound
        check = tokens.verify(key, token, conversation, member, today)
        if check is tokens.TokenCheck.FORGED:
            problems.add(Reason.FORGED_TOKEN)
            continue
        if check is tokens.TokenCheck.EXPIRED:
            problems.add(Reason.EXPIRED_TOKEN)
            continue
        members = lookup.members.get(conversation, {})
        if member not in members.values():
            problems.add(Reason.MEMBER_REMOVED)
            continue
        if members.get(author) != member:
            problems.add(Reason.NOT_TOKEN_HOLDER)
            continue
        return ThreadMatch(conversation, member)
    if not found:
        return Reason.NO_TOKEN
    return next(reason for reason in _TOKEN_PROBLEM_ORDER if reason in problems)


def _bridge_made(reference: str, own_address: str) -> bool:
    inner = reference.strip("<>").lower()
    domain = own_address.rpartition("@")[2].lower()
    return (inner.startswith("spico.") and inner.endswith("@" + domain)) or inner.startswith(
        TOKEN_REF_PREFIX
    )


def is_new_conversation(
    envelope: Envelope, author: str, lookup: ThreadLookup, own_address: str
) -> bool:
    """A new mail naming the bridge's own address (not a sub-address) in To or Cc, carrying no
    token-shaped sub-address and answering no mail of the bridge. A mail whose subject matches
    one of the author's threads and that names nobody else is a reply whose client lost the
    headers: not a new conversation."""
    own = own_address.lower()
    if not own or own not in envelope.addressed:
        return False
    if sub_address_tokens(envelope, own) or reference_tokens(envelope):
        return False
    if any(r in lookup.messages or _bridge_made(r, own) for r in envelope.references):
        return False
    others = member_addresses(envelope.addressed, author, own)
    return not (normalise_subject(envelope.subject) in lookup.subjects and not others)


def member_addresses(addressed: Sequence[str], author: str, own_address: str) -> list[str]:
    """To/Cc addresses but the bridge's own (any sub-address) and the author's, in order."""
    own = own_address.lower()
    return [
        address
        for address in dict.fromkeys(a.lower() for a in addressed)
        if address != author and _base_address(address) != own
    ]


__all__ = [
    "ThreadLookup",
    "ThreadMatch",
    "candidate_handles",
    "decoded_tokens",
    "find_thread",
    "is_new_conversation",
    "mail_action",
    "member_addresses",
    "normalise_subject",
    "reference_tokens",
    "sub_address_tokens",
]
