"""What a mail's header block says (pure, bounded): the facts the trust checks need.

The header block is split into fields here, line by line, the way an MTA reads it (a field
name, optional spaces, a colon; continuation lines start with a space or tab; the block ends at
the first line that is neither). The stdlib parser drops a ``From :`` line (it takes it for an
mbox separator), which would hide a second ``From``; this reader counts it. Nothing of the body
is read: the body is parsed only once the author is trusted (``bridge.mail.body``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from bridge.mail.author import Author, AuthorProblem, decoded, read_author
from bridge.mail.limits import MailLimits

_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_MSGID = re.compile(r"<[^<>\s]{1,400}>")
_AUTO_SUBJECT = re.compile(
    r"\s*(r[ée]ponse automatique|absence du bureau|absent\b|out of (the )?office|"
    r"automatic reply|auto(matic)?[- ]?reply|autoreply|abwesenheit|vacation|"
    r"message d'absence|je suis absent)",
    re.IGNORECASE,
)
MAX_SUBJECT_CHARS = 2000
MAX_REFERENCES = 100
MAX_ADDRESS_FIELD_CHARS = 16 * 1024
MAX_ADDRESSES = 200


class EnvelopeProblem(StrEnum):
    TOO_LARGE = "too_large"
    HEADER_TOO_LARGE = "header_too_large"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The header facts of one mail (nothing verified yet but the author's syntax)."""

    message_id: str
    author: Author | AuthorProblem
    subject: str
    #: In-Reply-To first, then References from the most recent.
    references: tuple[str, ...]
    #: Delivered-To, X-Original-To, To, Cc (lower-case, in order, once each).
    recipients: tuple[str, ...]
    #: To and Cc: whom the writer addressed.
    addressed: tuple[str, ...]
    #: Auto-Submitted, X-Autoreply, Precedence, an out-of-office subject.
    automatic: bool
    #: ``multipart/report; report-type=delivery-status`` (a DSN, read by ``bridge.mail.dsn``).
    delivery_report: bool
    #: The ``Authentication-Results`` and ``Received`` fields, in order (for
    #: ``bridge.mail.authentication``).
    trace: tuple[tuple[str, str], ...]


def _text(raw: bytes) -> str:
    """A header value's bytes: UTF-8 when valid (RFC 6532), else latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def header_block(raw: bytes) -> bytes:
    """The bytes up to the first empty line (all of them when there is none)."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    ends = [i for i in (crlf, lf) if i >= 0]
    return raw[: min(ends)] if ends else raw


def header_fields(block: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) of every field, in order, as an MTA splits them."""
    fields: list[tuple[str, list[bytes]]] = []
    for index, line in enumerate(block.split(b"\n")):
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
                continue
            break
        match = _FIELD.match(line)
        if match is None:
            if index == 0 and line.startswith(b"From "):
                continue  # an mbox separator line
            break
        fields.append((match.group(1).decode("ascii"), [line[match.end() :]]))
    return [(name, _text(b"".join(parts)).strip()) for name, parts in fields]


def _values(fields: Sequence[tuple[str, str]], name: str) -> list[str]:
    wanted = name.lower()
    return [value for field_name, value in fields if field_name.lower() == wanted]


def _addresses(fields: Sequence[tuple[str, str]], *names: str) -> list[str]:
    values = [v[:MAX_ADDRESS_FIELD_CHARS] for name in names for v in _values(fields, name)]
    try:
        pairs = getaddresses(values)
    except Exception:
        return []
    found = [address.strip().lower() for _, address in pairs if "@" in address]
    return list(dict.fromkeys(found))[:MAX_ADDRESSES]


def _first(fields: Sequence[tuple[str, str]], name: str) -> str:
    values = _values(fields, name)
    return values[0] if values else ""


def _is_delivery_report(content_type: str) -> bool:
    message = Message()
    message["Content-Type"] = content_type[:2000]
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type") or "").lower() == "delivery-status"
    )


def fallback_message_id(raw: bytes) -> str:
    return "<sha256." + hashlib.sha256(raw).hexdigest()[:40] + "@unknown>"


def read_envelope(raw: bytes, limits: MailLimits | None = None) -> Envelope | EnvelopeProblem:
    """The header facts of a raw mail, or which cap it is over (checked before parsing)."""
    limits = limits or MailLimits()
    if len(raw) > limits.max_mail_bytes:
        return EnvelopeProblem.TOO_LARGE
    block = header_block(raw[: limits.max_header_bytes + 4])
    if len(block) > limits.max_header_bytes:
        return EnvelopeProblem.HEADER_TOO_LARGE
    fields = header_fields(block)
    ids = _MSGID.findall(_first(fields, "Message-ID")[:1000])
    subject = " ".join(decoded(_first(fields, "Subject")[:MAX_SUBJECT_CHARS]).split())
    references = _MSGID.findall(_first(fields, "In-Reply-To")[:4000])
    references += list(reversed(_MSGID.findall(_first(fields, "References")[:40_000])))
    auto_submitted = _first(fields, "Auto-Submitted").lower()
    precedence = _first(fields, "Precedence").strip().lower()
    automatic = (
        auto_submitted not in ("", "no")
        or bool(_values(fields, "X-Autoreply") or _values(fields, "X-Autorespond"))
        or precedence in ("bulk", "auto_reply", "list", "junk")
        or _AUTO_SUBJECT.match(subject) is not None
    )
    trace = tuple(
        (name, value)
        for name, value in fields
        if name.lower() in ("authentication-results", "received")
    )
    return Envelope(
        message_id=ids[0] if ids else fallback_message_id(raw),
        author=read_author(_values(fields, "From"), limits),
        subject=subject,
        references=tuple(dict.fromkeys(references))[:MAX_REFERENCES],
        recipients=tuple(_addresses(fields, "Delivered-To", "X-Original-To", "To", "Cc")),
        addressed=tuple(_addresses(fields, "To", "Cc")),
        automatic=automatic,
        delivery_report=_is_delivery_report(_first(fields, "Content-Type")),
        trace=trace,
    )


def read_envelopes(
    headers: list[bytes], limits: MailLimits | None = None
) -> list[Envelope | EnvelopeProblem]:
    """``read_envelope`` of several mails' header blocks: one trip to the parsing worker for a
    whole batch (what a flood of mail costs is then its header blocks, not round trips)."""
    return [read_envelope(header, limits) for header in headers]


__all__ = [
    "Envelope",
    "EnvelopeProblem",
    "fallback_message_id",
    "header_block",
    "header_fields",
    "read_envelope",
    "read_envelopes",
]
