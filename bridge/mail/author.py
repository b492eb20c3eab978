"""The author of a mail, read as mail servers read it (pure).

SPF, DKIM, DMARC and every client judge the ``From`` addr-spec; a bridge that reads anything
else (a display name, the first of several addresses) can be told another name than the one
that was authenticated. So: exactly one ``From`` field, holding exactly one mailbox (no group,
no list), parsed by the stdlib header registry without defects, with an ordinary addr-spec
(dot-atom local part in ASCII, a domain name). What a client would *show* (display name and
comments, encoded-words decoded, Unicode look-alikes folded by NFKC, invisible characters
removed) must not look like an address or a domain name unless it is that same addr-spec.
"""

from __future__ import annotations

import email.header
import email.policy
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bridge.mail.limits import MailLimits


class AuthorProblem(StrEnum):
    """Why a mail has no readable author (each is a refusal)."""

    NO_FROM = "no_from"
    SEVERAL_FROM = "several_from"
    FROM_TOO_LONG = "from_too_long"
    #: No mailbox, several, or a group.
    NOT_ONE_MAILBOX = "not_one_mailbox"
    #: The header registry found the value malformed.
    FROM_DEFECT = "from_defect"
    #: Quoted or non-ASCII local part, domain literal, no domain.
    UNUSUAL_ADDRESS = "unusual_address"
    #: The display name or a comment shows another address or a domain name.
    ADDRESS_IN_NAME = "address_in_name"


@dataclass(frozen=True, slots=True)
class Author:
    #: The addr-spec, lower-case: the identity everything downstream uses.
    address: str
    #: For the bridge's own words only (never an identity).
    display_name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


#: A period in an unquoted display name (``Dr. Anne Martin``) is obsolete syntax that every
#: server accepts; any other defect refuses the mail.
_HARMLESS_DEFECTS = ("period in 'phrase'",)
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Tokens of a shown name that read as a domain: ``x.mssante.fr``, ``chu-nantes.fr``.
_DOMAIN_TOKEN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.([a-z]{2,24})")
_DOMAIN_ENDINGS = frozenset(
    {
        *("fr", "com", "net", "org", "eu", "info", "io", "be", "ch", "de", "lu", "mc"),
        *("re", "gp", "mq", "gf", "yt", "pm", "nc", "pf", "wf", "bl", "mf", "tf"),
    }
)
_WORD_SEPARATORS = re.compile(r"[\s\"'()<>\[\],;:]+")


def decoded(value: str) -> str:
    """Every RFC 2047 encoded-word decoded, wherever it stands (what a lenient client shows);
    the From's shown name and the Subject are read this way."""
    try:
        chunks = email.header.decode_header(value)
    except Exception:
        return value
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        try:
            parts.append(chunk.decode(charset or "ascii", errors="replace"))
        except LookupError:
            parts.append(chunk.decode("latin-1"))
    # decode_header drops the spaces between an encoded-word and plain text: harmless here.
    return "".join(parts)


def _shown(text: str) -> str:
    """Look-alikes folded (NFKC: ``＠`` → ``@``), invisible format characters removed."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf").casefold()


def _address_like(word: str) -> bool:
    if "@" in word:
        return True
    match = _DOMAIN_TOKEN.fullmatch(word.strip("."))
    return match is not None and match.group(1) in _DOMAIN_ENDINGS


def _name_problem(raw_value: str, address: str) -> bool:
    """Whether what a client shows besides the addr-spec names another address or domain.

    Words equal to the addr-spec itself or to its domain are harmless
    (``"a@b.fr" <a@b.fr>``, ``Anne Martin (a@b.fr) <a@b.fr>``)."""
    target = _shown(address)
    own = (target, target.rpartition("@")[2])
    words = _WORD_SEPARATORS.split(_shown(decoded(raw_value)))
    return any(_address_like(w) for w in words if w and w not in own)


def _plain_domain(domain: str) -> str | None:
    """The domain in lower-case A-label form, or None when it is not a host name."""
    if not domain or domain.startswith("["):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return None
    return domain.lower()


def read_author(
    from_values: Sequence[str], limits: MailLimits | None = None
) -> Author | AuthorProblem:
    """The addr-spec of the one mailbox in the one ``From`` field, or why there is none.

    ``from_values`` holds every ``From`` field of the header block as found (unfolded),
    in order; a second field is a refusal even when it repeats the first.
    """
    limits = limits or MailLimits()
    if not from_values:
        return AuthorProblem.NO_FROM
    if len(from_values) > 1:
        return AuthorProblem.SEVERAL_FROM
    value = from_values[0]
    if len(value) > limits.max_from_chars:
        return AuthorProblem.FROM_TOO_LONG
    try:
        header = email.policy.default.header_factory("From", value)
        groups = header.groups  # type: ignore[attr-defined]
        defects = header.defects  # type: ignore[attr-defined]
    except Exception:
        return AuthorProblem.FROM_DEFECT
    if len(groups) != 1 or groups[0].display_name is not None:
        return AuthorProblem.NOT_ONE_MAILBOX
    addresses = groups[0].addresses
    if len(addresses) != 1:
        return AuthorProblem.NOT_ONE_MAILBOX
    if any(str(d) not in _HARMLESS_DEFECTS for d in defects):
        return AuthorProblem.FROM_DEFECT
    mailbox = addresses[0]
    local, domain = mailbox.username, mailbox.domain
    if not local.isascii() or not _DOT_ATOM.fullmatch(local) or mailbox.addr_spec[:1] == '"':
        return AuthorProblem.UNUSUAL_ADDRESS
    plain_domain = _plain_domain(domain)
    if plain_domain is None:
        return AuthorProblem.UNUSUAL_ADDRESS
    address = f"{local.lower()}@{plain_domain}"
    if _name_problem(value, address):
        return AuthorProblem.ADDRESS_IN_NAME
    return Author(address, str(mailbox.display_name or ""))


__all__ = ["Author", "AuthorProblem", "read_author"]
