"""The wire form (RFC 5322 + MIME) of the mails the bridge writes: the bridge's safety policy
around the standard library's legacy ``email`` API, which does the MIME writing.

Why the legacy API (``email.mime``, ``email.header.Header``, ``email.charset``, ``compat32``)
and not ``email.message.EmailMessage``: the latter's policy parses every header value into a
tree and refolds it when the mail is flattened (~2 ms per mail, more than everything else the
mail sink does once the store is fast); the legacy API folds and encodes what it is given
(~0.3 ms). It trusts its input, so the policy is stated here, before anything reaches it:

- addresses and Message-IDs are checked against a conservative grammar and refused
  (``ValueError``) otherwise; any header value but the subject must be printable ASCII
  (``compat32`` would turn a line break in a value into a fold, not refuse it);
- display names, subjects and file names are shown, never interpreted: their control
  characters (line breaks…) become spaces (in names and file names, any character that does
  not print); non-ASCII (or, for a subject, a word too long to fold) is written as RFC 2047
  encoded-words, which can never break out of the header;
- file names are RFC 2231 (UTF-8, percent-encoded), shortened past 60 characters; content
  types are tokens, else ``application/octet-stream``;
- text parts are quoted-printable UTF-8, attachments base64; boundaries start with ``=_``,
  which neither encoding can produce, so no part can contain them.

Two things stay by hand, small: a non-ASCII display name is cut into encoded-words before its
spaces (``Header`` cuts anywhere, and Python's own address parser then reads a cut word as two:
``_encoded_phrase``); the header block is the fields' ``Header.encode()`` joined, not folded by
``compat32``, which moves a first word too long for the first line to a line of its own (read
back with a leading space: ``_value``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email import encoders, policy
from email.charset import QP, Charset
from email.header import Header as EncodedHeader
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

#: RFC 5322 says lines SHOULD stay within 78 characters (998 at most).
LINE = 78
#: Line ends as Python's own ``as_bytes``; ``aiosmtplib`` sends CRLF (it normalizes them).
_EOL = "\n"
_POLICY = policy.compat32.clone(linesep=_EOL, max_line_length=LINE)
#: Headers: encoded-words, Q or B whichever is shorter.
_UTF8 = Charset("utf-8")
#: Text parts: quoted-printable (readable, and it cannot produce a boundary's ``=_``).
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP

#: A display name's words up to this many characters make one encoded-word (usually within
#: 75 characters; ``Header`` cuts a longer one where it must).
_PIECE = 30

_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
#: What a subject may not hold: C0/C1 controls, line and paragraph separators (``Header``
#: would cut the value into lines there).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Longer file names are shortened (extension kept): percent-encoded (≤ 12 characters each)
#: they stay within a line's 998 characters, which ``compat32`` does not cut (no RFC 2231
#: continuations).
_FILE_NAME = 60
#: A plain ASCII mailbox (no quoted local part, no comments): all the bridge writes to.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+\-/=?^_`{|}~]{1,64}@[A-Za-z0-9.\-\[\]:]{1,255}\Z")
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,400}>\Z")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,64}\Z")

Header = tuple[str, str]


def is_message_id(value: str) -> bool:
    """``<…>`` of printable ASCII without spaces: what may go into a threading header."""
    return bool(_MESSAGE_ID.match(value))


def address(addr_spec: str) -> str:
    """``addr_spec`` as it goes on the wire; ``ValueError`` when it is not a plain mailbox."""
    if not _ADDRESS.match(addr_spec):
        raise ValueError("not a mail address the bridge writes to")
    return addr_spec


def _shown(text: str) -> str:
    """A name as shown: each character that does not print (controls, line breaks, format
    characters such as a right-to-left override) becomes a space."""
    if _PRINTABLE.match(text):
        return text
    return "".join(c if c.isprintable() else " " for c in text)


def mailbox(name: str | None, addr_spec: str) -> str:
    """``Name <addr>`` (``addr`` alone without a name), the name quoted or encoded; a name is
    shown, never interpreted: control characters (line breaks…) become spaces."""
    spec = address(addr_spec)
    name = " ".join(_shown(name).split()) if name else ""
    if not name:
        return spec
    if name.isascii():
        return formataddr((name, spec))
    return f"{_encoded_phrase(name)} <{spec}>"


def _encoded_phrase(name: str) -> str:
    """``name`` as encoded-words of at most 75 characters, on one line (the header is folded
    between them when the mail is written).

    Cut before a space, by hand: ``Header`` cuts anywhere, ``formataddr`` not at all (one word
    of any length), and Python's own address parser keeps the whitespace between encoded-words
    (RFC 2047 says drop it): a cut inside a word would read back as two words there."""
    pieces: list[str] = []
    for word in name.split(" "):
        if pieces and len(pieces[-1]) + 1 + len(word) <= _PIECE:
            pieces[-1] += " " + word
        else:
            pieces.append(" " + word if pieces else word)
    return " ".join(map(_encoded_word, pieces))


def _encoded_word(text: str) -> str:
    if len(text.encode()) <= 45:  # base64 of 45 bytes: one encoded-word of 72 characters
        return _UTF8.header_encode(text)
    return EncodedHeader(text, _UTF8, LINE - 3).encode(linesep=" ")  # several, cut where they must


def message_ids(*ids: str) -> str:
    """Message-IDs for ``In-Reply-To``/``References``; ``ValueError`` on anything else."""
    for value in ids:
        if not is_message_id(value):
            raise ValueError("not a Message-ID")
    return " ".join(ids)


def _value(name: str, value: str) -> str:
    """``value`` folded (and encoded) as the header ``name`` may hold it: the subject (free
    text) encoded where needed, any other value refused (``ValueError``) unless it is
    printable ASCII."""
    if name == "Subject":
        value = _CONTROL.sub(" ", value)
        first, *words = value.split(" ")
        if (
            not _PRINTABLE.match(value)
            or len(first) > LINE - len(name) - 2
            or any(len(w) > LINE - 1 for w in words)
        ):
            # A word too long for its line too: encoded-words of at most 75 characters
            # (RFC 2047) can be cut anywhere.
            return EncodedHeader(value, _UTF8, LINE - 2, name).encode(linesep=_EOL)
    elif not _PRINTABLE.match(value):
        raise ValueError(f"{name}: not printable ASCII")
    if len(name) + 2 + len(value) <= LINE:
        return value  # nothing to fold (most fields): not worth a ``Header``
    # Folded at its spaces. Without ``header_name`` (its length is taken off the lines
    # instead): with it, a first word too long for the first line goes to a line of its own,
    # and a parser then reads the value with a leading space.
    return EncodedHeader(value, maxlinelen=LINE - len(name) - 2).encode(linesep=_EOL)


def headers(fields: Sequence[Header]) -> str:
    """The header block: each field checked, encoded and folded by :func:`_value`."""
    return "".join(f"{name}: {_value(name, value)}{_EOL}" for name, value in fields)


def _text_part(subtype: str, text: str) -> MIMEText:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"  # as ``set_content``: a last line end
    return MIMEText(text, subtype, _UTF8_QP, policy=_POLICY)


def _content_type(value: str) -> tuple[str, str]:
    maintype, _, subtype = value.partition("/")
    if _TOKEN.match(maintype) and _TOKEN.match(subtype) and maintype.lower() != "multipart":
        return maintype.lower(), subtype.lower()
    return "application", "octet-stream"


def _attachment(filename: str, content_type: str, data: bytes) -> MIMEBase:
    part = MIMEBase(*_content_type(content_type), policy=_POLICY)
    part.set_payload(data)
    encoders.encode_base64(part)
    # Always RFC 2231 (a ``(charset, language, value)`` triple): any name, never a broken header.
    shown = _shown(filename).strip() or "piece-jointe"
    if len(shown) > _FILE_NAME:
        stem, dot, extension = shown.rpartition(".")
        extension = dot + extension if stem and len(extension) <= 10 else ""
        shown = shown[: _FILE_NAME - len(extension) - 1].rstrip() + "…" + extension
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", shown))
    return part


def _multipart(subtype: str, boundary: str, parts: Sequence[Message]) -> MIMEMultipart:
    return MIMEMultipart(subtype, boundary, parts, policy=_POLICY)


def render(
    fields: Sequence[Header],
    text: str,
    html: str | None,
    *,
    boundary: str,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """A whole mail: ``fields``, then the text (and HTML alternative, and attachments).

    ``boundary`` (ASCII letters and digits) makes the parts' boundaries, prefixed with ``=_``.
    """
    body: Message = _text_part("plain", text)
    if html is not None:
        body = _multipart("alternative", f"=_a{boundary}", [body, _text_part("html", html)])
    if attachments:
        files = [_attachment(*attachment) for attachment in attachments]
        body = _multipart("mixed", f"=_m{boundary}", [body, *files])
    for part in body.walk():
        if part is not body:
            del part["MIME-Version"]  # ``email.mime`` gives every part one; the mail's is enough
    # The mail's fields first, then the body's (MIME-Version, Content-Type…) as compat32 writes
    # them: its own folding would put a first word too long for the first line on a line of
    # its own (see _value).
    return headers(fields).encode("ascii") + body.as_bytes()
