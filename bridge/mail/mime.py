"""The wire form (RFC 5322 + MIME) of the mails the bridge writes, built directly as bytes.

Why not ``email.message.EmailMessage``: its policy parses every header value into a tree and
refolds it when the mail is flattened, ~2 ms per mail, more than everything else the mail sink
does once the store is fast. The bridge's mails have one fixed shape (a few address and
identifier headers, a subject, text + HTML alternatives, maybe attachments), so they are
written here in one pass:

- a header value made of printable ASCII is folded at spaces (lines ≤ 78 where the words
  allow); anything else (accents, control characters, a word too long to fold) is written as
  RFC 2047 ``B`` encoded-words, which hold any text and can never break out of the header;
- display names are quoted strings (or encoded-words); addresses and Message-IDs are checked
  against a conservative grammar and refused (``ValueError``) otherwise;
- text parts are quoted-printable UTF-8, attachments base64; boundaries start with ``=_``,
  which neither encoding can produce, so no part can contain them.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Sequence

#: RFC 5322 says lines SHOULD stay within 78 characters (998 at most).
LINE = 78
#: The longest encoded-word is 75 characters: ``=?utf-8?b?`` + base64 of 45 bytes + ``?=``.
_WORD_BYTES = 45
#: Line ends as Python's own ``as_bytes``; ``aiosmtplib`` sends CRLF (it normalizes them).
_EOL = "\n"

_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
#: atext (RFC 5322 §3.2.3) and spaces: a display name that needs no quoting.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*\Z")
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


def mailbox(name: str | None, addr_spec: str) -> str:
    """``Name <addr>`` (``addr`` alone without a name), the name quoted or encoded; a name is
    shown, never interpreted: control characters (line breaks…) become spaces."""
    spec = address(addr_spec)
    if name and not _PRINTABLE.match(name):
        name = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if not name:
        return spec
    return f"{_phrase(name)} <{spec}>"


def message_ids(*ids: str) -> str:
    """Message-IDs for ``In-Reply-To``/``References``; ``ValueError`` on anything else."""
    for value in ids:
        if not is_message_id(value):
            raise ValueError("not a Message-ID")
    return " ".join(ids)


def _phrase(name: str) -> str:
    if _ATOMS.match(name) and len(name) <= LINE - 20:
        return " ".join(name.split()) or '""'
    if _PRINTABLE.match(name) and len(name) <= LINE - 20:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return encoded_words(name)


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 ``B`` encoded-words (UTF-8): decoders join adjacent encoded-words
    without the whitespace between them, so the header can be folded between any two. Each
    is cut before a space where one is near (Python's own address parser keeps the whitespace
    between encoded-words: it then shows one space too many rather than a word cut in two)."""
    data = text.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # never split a character
        space = data.rfind(b" ", start + 1, end)
        if end < len(data) and space > start + _WORD_BYTES // 2:
            end = space
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return " ".join(words) or '""'


def _fold(name: str, value: str) -> str:
    """``Name: value`` folded at its spaces, lines within ``LINE`` where the words allow."""
    lines = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > LINE and len(line) > len(name) + 1:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    lines.append(line)
    return _EOL.join(lines)


def headers(fields: Sequence[Header]) -> str:
    """The header block: each field folded; the subject (free text) encoded where needed, any
    other field refused (``ValueError``) unless it is printable ASCII."""
    out = []
    for name, value in fields:
        if name == "Subject":
            if not _PRINTABLE.match(value) or any(len(w) > LINE - 2 for w in value.split(" ")):
                value = encoded_words(value)
        elif not _PRINTABLE.match(value):
            raise ValueError(f"{name}: not printable ASCII")
        out.append(_fold(name, value))
    return _EOL.join(out) + _EOL


def _text_part(subtype: str, text: str) -> str:
    body = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(body).decode("ascii")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{_EOL}'
        f"Content-Transfer-Encoding: quoted-printable{_EOL}{_EOL}"
        f"{encoded}{'' if encoded.endswith(_EOL) else _EOL}"  # as set_content: a last line end
    )


def _content_type(value: str) -> str:
    maintype, _, subtype = value.partition("/")
    if _TOKEN.match(maintype) and _TOKEN.match(subtype) and maintype.lower() != "multipart":
        return f"{maintype}/{subtype}".lower()
    return "application/octet-stream"


def _filename(name: str) -> str:
    """RFC 2231 (UTF-8, percent-encoded): any file name, never a broken header; control
    characters become spaces (a name is shown, never interpreted)."""
    shown = "".join(c if c.isprintable() else " " for c in name).strip() or "piece-jointe"
    return "filename*=utf-8''" + urllib.parse.quote(shown, safe="")


def _attachment(filename: str, content_type: str, data: bytes) -> str:
    encoded = base64.encodebytes(data).decode("ascii")
    return (
        f"Content-Type: {_content_type(content_type)}{_EOL}"
        f"Content-Transfer-Encoding: base64{_EOL}"
        f"Content-Disposition: attachment;{_EOL} {_filename(filename)}{_EOL}{_EOL}"
        f"{encoded}"
    )


def _multipart(subtype: str, boundary: str, parts: Sequence[str]) -> str:
    # The line end before a delimiter belongs to the delimiter, not to the part.
    body = "".join(f"--{boundary}{_EOL}{part}{_EOL}" for part in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{_EOL}{_EOL}'
        f"{body}--{boundary}--{_EOL}"
    )


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
    body = _text_part("plain", text)
    if html is not None:
        body = _multipart("alternative", f"=_a{boundary}", [body, _text_part("html", html)])
    if attachments:
        files = [_attachment(*attachment) for attachment in attachments]
        body = _multipart("mixed", f"=_m{boundary}", [body, *files])
    return (headers([*fields, ("MIME-Version", "1.0")]) + body).encode("ascii")
