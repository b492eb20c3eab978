"""Self-service links (pure): a professional links their Matrix account by proving that they
read the MSSanté mailbox the SPICO directory holds for them.

``lier <RPPS | idNat | adresse>`` mails a one-time code to the directory's address (never to an
address the user typed); ``code 123456`` completes the link. The rules live here: what may be
linked (the config's ``participants`` win, one account per professional and one professional
per account, allowed homeservers), the code's life (15 minutes, 5 tries), the rate limits per
Matrix user and per professional, and the constant-time comparison. The Matrix commands
(``bridge.matrix.commands.groups.link``) are the shell; the mail world sends the code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bridge.core.identifiers import IdentifierError, parse_id_nat, parse_rpps
from bridge.core.model import Participant, spico_ids_by_matrix_user

#: How long a code may be used.
CODE_TTL = timedelta(minutes=15)
#: Wrong codes tolerated before the code is burnt.
MAX_TRIES = 5
#: Digits of a code.
CODE_DIGITS = 6
#: Codes sent in the last ``RATE_WINDOW``, per Matrix user and per professional.
RATE_WINDOW = timedelta(hours=1)
MAX_CODES_PER_USER = 3
MAX_CODES_PER_PROFESSIONAL = 3


def code_digest(salt: str, code: str) -> str:
    """What is stored of a code: an HMAC keyed by the row's own random salt (the code itself
    is never kept once mailed, never logged)."""
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def code_matches(digest: str, salt: str, typed: str) -> bool:
    """Whether ``typed`` is the code, compared in constant time."""
    return hmac.compare_digest(digest, code_digest(salt, normalised_code(typed)))


def normalised_code(typed: str) -> str:
    """The code as typed, spaces and dashes removed ("123 456" is "123456")."""
    return "".join(c for c in typed if c not in " -\u00a0")


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Who the user says they are: an MSSanté address or an idNat (an RPPS becomes one)."""

    kind: Literal["address", "id_nat"]
    value: str


def parse_target(word: str) -> LinkTarget | None:
    """``lier``'s argument: an address (with ``@``), an idNat, or an 11-digit RPPS; None when
    it is none of them."""
    word = word.strip()
    if "@" in word:
        local, _, domain = word.rpartition("@")
        if local and "." in domain and not any(c.isspace() for c in word):
            return LinkTarget("address", word.lower())
        return None
    for parse in (parse_id_nat, parse_rpps):
        try:
            return LinkTarget("id_nat", parse(word).id_nat)
        except IdentifierError:
            continue
    return None


def server_of(matrix_user: str) -> str:
    return matrix_user.partition(":")[2]


def server_allowed(matrix_user: str, allowed: Collection[str], own_server: str) -> bool:
    """Users of the listed homeservers may link (none listed: the bridge's own server only)."""
    return server_of(matrix_user) in (set(allowed) or {own_server})


LinkRefusal = Literal[
    "pinned",  # the config's participants name this professional: the admin decides
    "user_pinned",  # the config maps this Matrix account already
    "already_yours",  # this account is linked to this professional already
    "user_linked",  # this account is linked to another professional: unlink first
    "taken",  # another account is linked to this professional: it must unlink first
]


def link_refusal(
    spico_id: str,
    matrix_user: str,
    configured: Mapping[str, Participant],
    links: Mapping[str, str],
) -> LinkRefusal | None:
    """Why ``matrix_user`` may not link ``spico_id`` (None: they may ask for a code).

    ``configured`` is the config's participants by SPICO id (pinned or forbidden by the admin);
    ``links`` the stored links {SPICO id: Matrix user}."""
    if spico_id in configured:
        return "pinned"
    if any(p.matrix_user == matrix_user for p in configured.values()):
        return "user_pinned"
    linked = links.get(spico_id)
    if linked == matrix_user:
        return "already_yours"
    if matrix_user in links.values():
        return "user_linked"
    if linked is not None:
        return "taken"
    return None


def rate_limited(sent_to_user: int, sent_for_professional: int) -> bool:
    """Whether one more code would exceed a rate limit (codes of the last ``RATE_WINDOW``)."""
    return sent_to_user >= MAX_CODES_PER_USER or sent_for_professional >= MAX_CODES_PER_PROFESSIONAL


CodeCheck = Literal["ok", "wrong", "expired", "exhausted", "none"]


@dataclass(frozen=True, slots=True)
class Challenge:
    """A code waiting to be typed (what the store keeps of it)."""

    id: int
    spico_id: str
    digest: str
    salt: str
    expires_at: datetime
    tries: int


def check_code(challenge: Challenge | None, typed: str, now: datetime) -> CodeCheck:
    """The verdict on a typed code. A code past its life or its tries is never compared."""
    if challenge is None:
        return "none"
    if now >= challenge.expires_at:
        return "expired"
    if challenge.tries >= MAX_TRIES:
        return "exhausted"
    if code_matches(challenge.digest, challenge.salt, typed):
        return "ok"
    return "exhausted" if challenge.tries + 1 >= MAX_TRIES else "wrong"


def with_links(configured: Mapping[str, Participant], links: Mapping[str, str]) -> dict[str, str]:
    """{Matrix user: SPICO id}: the config's participants (``configured``, by SPICO id) plus
    the stored links {SPICO id: Matrix user} of professionals the config does not name, to
    accounts it does not map."""
    mapped = spico_ids_by_matrix_user(configured.values())
    for spico_id, user in links.items():
        if spico_id not in configured and user not in mapped:
            mapped[user] = spico_id
    return mapped
