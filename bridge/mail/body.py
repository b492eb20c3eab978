"""The body of a mail (pure, bounded): its new text and its attachments.

Only called once the author, the trust space, the authentication and the thread are settled
(``bridge.mail.assess``). Caps come first: MIME containers are counted in the raw bytes before
the tree is built (the stdlib parser is quadratic in nested multiparts), then parts, depth,
attachment count and sizes are checked before anything is decoded. The MIME tree is built with
the ``compat32`` policy (ten times faster than ``default`` on many parts; only the few headers
needed here are read).

Text: within ``multipart/alternative`` the plain part is preferred (HTML when the plain one is
missing or blank); the texts of a ``multipart/mixed`` follow each other (Apple Mail splits the
text around inline images). Charsets: the declared one when it decodes the bytes; a declared
``us-ascii``/``latin-1``/``windows-1252`` whose bytes are valid UTF-8 with non-ASCII characters
is UTF-8 mislabelled, else windows-1252 (what a latin-1 label means in practice, as browsers
read it); otherwise UTF-8, then windows-1252, then latin-1 (which never fails).
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

from bridge.core.delivery import Attachment
from bridge.mail.envelope import header_block
from bridge.mail.html import HtmlTooComplex, html_to_text
from bridge.mail.limits import MailLimits
from bridge.mail.quotes import strip_quotes

DEFAULT_ATTACHMENT_NAME = "piece-jointe"
_CONTAINER = re.compile(rb"(?i)content-type:[ \t]*(?:\r?\n[ \t]+)?(?:multipart/|message/rfc822)")
_LATIN_LABELS = frozenset(
    {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
)


class BodyProblem(StrEnum):
    """Why a body cannot be read within the limits (each is a refusal)."""

    TOO_MANY_CONTAINERS = "too_many_containers"
    TOO_MANY_PARTS = "too_many_parts"
    TOO_DEEP = "too_deep"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    TEXT_TOO_LARGE = "text_too_large"
    HTML_TOO_LARGE = "html_too_large"
    HTML_TOO_COMPLEX = "html_too_complex"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Body:
    #: The new text (trailing quote and signature removed).
    text: str
    attachments: tuple[Attachment, ...] = ()
    #: Attachments left out because they were larger than the limit (the author is told).
    dropped_attachments: int = 0
    #: Part of the new text could not be kept (over the length limit; the author is told).
    dropped_text: bool = False
    #: A text part could not be read at all and was left out (the author is told).
    unreadable_parts: int = 0


class _Refused(Exception):
    def __init__(self, problem: BodyProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def decode_text(payload: bytes, declared: str | None) -> str:
    """Bytes of a text part as text, whatever the (declared, missing or wrong) charset."""
    label = (declared or "").strip().strip('"').lower()
    if label in _LATIN_LABELS or not label:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text  # plain ASCII, or UTF-8 (mislabelled or undeclared)
        # Latin-1 labels mean windows-1252 in practice (as browsers read them).
        label = "windows-1252"
    if label:
        try:
            return payload.decode(label)
        except (LookupError, UnicodeDecodeError):
            pass
    for fallback in ("utf-8", "windows-1252"):
        try:
            return payload.decode(fallback)
        except UnicodeDecodeError:
            continue
    return payload.decode("latin-1")


def _encoded_size(part: Message) -> int:
    payload = part.get_payload()
    return len(payload) if isinstance(payload, str | bytes) else 0


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if name is None:
        return None
    text = str(name)
    if any("\udc80" <= char <= "\udcff" for char in text):
        text = decode_text(text.encode("ascii", "surrogateescape"), "utf-8")
    return " ".join(text.split())[:255] or None


def _is_attachment(part: Message, filename: str | None) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    content_type = part.get_content_type()
    if disposition == "attachment":
        return True
    if filename and disposition != "inline":
        return True
    return bool(filename) and not content_type.startswith("text/")


class _Reader:
    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.parts = 0
        self.texts: list[str] = []
        self.attachments: list[Attachment] = []
        self.dropped = 0
        self.unreadable = 0

    def walk(self, part: Message, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise _Refused(BodyProblem.TOO_DEEP)
        content_type = part.get_content_type()
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list):
                return
            if content_type == "message/rfc822":
                self._attach(part, "message.eml", content_type)
                return
            if content_type == "multipart/alternative":
                chosen = _best_alternative(children)
                if chosen is not None:
                    self.walk(chosen, depth + 1)
                return
            for child in children:
                self.walk(child, depth + 1)
            return
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise _Refused(BodyProblem.TOO_MANY_PARTS)
        filename = _filename(part)
        if _is_attachment(part, filename):
            self._attach(part, filename or DEFAULT_ATTACHMENT_NAME, content_type)
        elif content_type in ("text/plain", "text/html"):
            self._text(part, content_type)

    def _attach(self, part: Message, filename: str, content_type: str) -> None:
        if len(self.attachments) + self.dropped >= self.limits.max_attachments:
            raise _Refused(BodyProblem.TOO_MANY_ATTACHMENTS)
        # base64 is 4/3 of the data: an encoded size far over the cap needs no decoding.
        if _encoded_size(part) > self.limits.max_attachment_bytes * 4 // 3 + 4096:
            self.dropped += 1
            return
        if part.is_multipart():
            data = part.as_bytes(policy=email.policy.compat32)
        else:
            data = _payload_bytes(part)
        if len(data) > self.limits.max_attachment_bytes:
            self.dropped += 1
            return
        self.attachments.append(Attachment(filename, content_type, data))

    def _text(self, part: Message, content_type: str) -> None:
        if _encoded_size(part) > self.limits.max_text_part_bytes:
            raise _Refused(BodyProblem.TEXT_TOO_LARGE)
        try:
            payload = _payload_bytes(part)
            text = decode_text(payload, part.get_content_charset())
        except Exception:
            self.unreadable += 1
            return
        if content_type == "text/html":
            if len(text) > self.limits.max_html_bytes:
                raise _Refused(BodyProblem.HTML_TOO_LARGE)
            try:
                text = html_to_text(text, self.limits)
            except HtmlTooComplex as exc:
                raise _Refused(BodyProblem.HTML_TOO_COMPLEX) from exc
        elif len(text) > self.limits.max_text_part_bytes:
            raise _Refused(BodyProblem.TEXT_TOO_LARGE)
        if text.strip():
            self.texts.append(text)


def _best_alternative(children: list[Message]) -> Message | None:
    """Plain text when it says something, else HTML, else the first structured part."""
    plain = [c for c in children if c.get_content_type() == "text/plain"]
    for child in plain:
        if decode_text(_payload_bytes(child), child.get_content_charset()).strip():
            return child
    for wanted in ("text/html",):
        for child in children:
            if child.get_content_type() == wanted:
                return child
    for child in children:
        if child.is_multipart():
            return child
    return plain[0] if plain else None


def _parse(raw: bytes) -> Message:
    """The MIME tree. A single-part mail skips the stdlib's line-by-line body parsing (its
    cost per line dominates for a large text): the header block is parsed, the rest is the
    payload as the parser would have stored it."""
    block = header_block(raw)
    rest = raw[len(block) :]
    separator = 4 if rest.startswith(b"\r\n\r\n") else 2 if rest.startswith(b"\n\n") else 0
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    headers = parser.parsebytes(block + b"\r\n\r\n", headersonly=True)
    if not separator or headers.get_content_maintype() in ("multipart", "message"):
        return parser.parsebytes(raw)
    headers.set_payload(rest[separator:].decode("ascii", "surrogateescape"))
    return headers


def count_containers(raw: bytes) -> int:
    """MIME containers declared in the raw bytes (an upper bound, counted before parsing)."""
    return sum(1 for _ in _CONTAINER.finditer(raw))


def read_body(raw: bytes, limits: MailLimits | None = None) -> Body | BodyProblem:
    """The new text and attachments of a mail, or why they cannot be read within limits."""
    limits = limits or MailLimits()
    for containers, _ in enumerate(_CONTAINER.finditer(raw), start=1):
        if containers > limits.max_containers:
            return BodyProblem.TOO_MANY_CONTAINERS
    if raw.count(b"\n--") > limits.max_dash_lines:
        return BodyProblem.TOO_MANY_PARTS
    try:
        message = _parse(raw)
    except Exception:
        return BodyProblem.UNREADABLE
    reader = _Reader(limits)
    try:
        reader.walk(message, 0)
    except _Refused as refused:
        return refused.problem
    except (RecursionError, MemoryError):
        return BodyProblem.UNREADABLE
    stripped = strip_quotes("\n\n".join(reader.texts), max_chars=limits.max_text_chars)
    return Body(
        text=stripped.text,
        attachments=tuple(reader.attachments),
        dropped_attachments=reader.dropped,
        dropped_text=stripped.dropped,
        unreadable_parts=reader.unreadable,
    )


def first_attachments(body: Body, limit: int) -> tuple[Body, int]:
    """The body with its first ``limit`` files only (``mail.max_attachments``: what one mail
    passes on), and how many were left out (the author is told)."""
    extra = max(len(body.attachments) - limit, 0)
    return dataclasses.replace(body, attachments=body.attachments[:limit]), extra


__all__ = [
    "Body",
    "BodyProblem",
    "count_containers",
    "decode_text",
    "first_attachments",
    "read_body",
]
