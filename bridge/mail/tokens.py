"""Signed reply tokens (pure): who may answer which conversation by mail, until when.

A token rides in the ``Reply-To`` sub-address (``bridge+TOKEN@domain``) and in ``References``.
It must fit a local part (≤ 64 characters with ``bridge+``) and survive clients that change the
case of addresses, so it is 20 bytes in lower-case base32 (32 characters):

* 2 bytes: expiry, in days since 1970-01-01;
* 8 bytes: the thread handle, a hash of (conversation, member), which the bridge records when it
  sends, to find the conversation and member back (ids are too long to carry themselves);
* 10 bytes: HMAC-SHA256 (key from a secret file) over expiry, conversation and member,
  truncated to 80 bits: forging one takes ~2^80 tries, and each try is a mail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

EPOCH = date(1970, 1, 1)
TOKEN_LENGTH = 32
MAC_BYTES = 10
HANDLE_BYTES = 8
#: A token where the bridge puts it: a sub-address, or a ``References`` id ``<rt.TOKEN@…>``.
TOKEN_RE = re.compile(r"(?<![a-z2-7])[a-z2-7]{32}(?![a-z2-7])", re.IGNORECASE)


class TokenCheck(StrEnum):
    OK = "ok"
    FORGED = "forged"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Token:
    """A decoded (not yet verified) token."""

    expires: date
    handle: str
    mac: bytes
    text: str


def thread_handle(conversation_id: str, member_id: str) -> str:
    """The public handle of a (conversation, member) thread: 16 hex characters."""
    digest = hashlib.sha256(f"{conversation_id}\x00{member_id}".encode()).digest()
    return digest[:HANDLE_BYTES].hex()


def _mac(key: bytes, days: int, conversation_id: str, member_id: str) -> bytes:
    message = f"spico-reply-v1\x00{days}\x00{conversation_id}\x00{member_id}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def issue(key: bytes, conversation_id: str, member_id: str, expires: date) -> str:
    """A token for ``member_id`` to answer ``conversation_id`` until ``expires`` (inclusive)."""
    days = max(0, min((expires - EPOCH).days, 0xFFFF))
    raw = (
        days.to_bytes(2, "big")
        + bytes.fromhex(thread_handle(conversation_id, member_id))
        + _mac(key, days, conversation_id, member_id)
    )
    return base64.b32encode(raw).decode("ascii").lower()


def decode(text: str) -> Token | None:
    """The token's parts, or None when ``text`` is not shaped like a token."""
    if len(text) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.b32decode(text.upper())
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 2 + HANDLE_BYTES + MAC_BYTES:
        return None
    days = int.from_bytes(raw[:2], "big")
    handle = raw[2 : 2 + HANDLE_BYTES].hex()
    return Token(EPOCH + timedelta(days=days), handle, raw[2 + HANDLE_BYTES :], text.lower())


def verify(
    key: bytes, token: Token, conversation_id: str, member_id: str, today: date
) -> TokenCheck:
    """Whether ``token`` was issued by us for this thread, and is still valid ``today``."""
    days = (token.expires - EPOCH).days
    good = hmac.compare_digest(token.mac, _mac(key, days, conversation_id, member_id))
    if not good or token.handle != thread_handle(conversation_id, member_id):
        return TokenCheck.FORGED
    if today > token.expires:
        return TokenCheck.EXPIRED
    return TokenCheck.OK


def find_tokens(text: str) -> list[str]:
    """Candidate tokens in an address or header (order kept, duplicates removed)."""
    seen: dict[str, None] = {}
    for match in TOKEN_RE.finditer(text or ""):
        seen.setdefault(match.group(0).lower(), None)
    return list(seen)
