"""The wire form (RFC 5322 + MIME) of the mails the bridge writes: the bridge's safety policy,
the header encoding of the standard library's ``email.header``, the body encodings of
``binascii``/``base64`` (C), and the MIME framing written here.

Why not ``email.message``/``email.mime`` for the whole mail: ``EmailMessage``'s policy parses
every header value into a tree and refolds it when the mail is flattened (~2 ms per mail);
the legacy ``email.mime`` classes still cost ~0.45 ms of a ~0.65 ms mail on the bench machine
(their quoted-printable encoder is pure Python, and the generator refolds every part header).
What is left to write by hand is the framing only: two or three header lines per part and
the boundary lines between parts (RFC 2046 §5.1.1); every encoding stays the library's. The
policy, stated here before anything reaches the wire:

- addresses and Message-IDs are checked against a conservative grammar and refused
  (``ValueError``) otherwise; any header value but the subject must be printable ASCII
  (folding would turn a line break in a value into a fold, not refuse it);
- display names, subjects and file names are shown, never interpreted: their control
  characters (line breaks…) become spaces (in names and file names, any character that does
  not print); non-ASCII (or, for a subject, a word too long to fold) is written as RFC 2047
  encoded-words, which can never break out of the header;
- file names are RFC 2231 (UTF-8, percent-encoded), shortened past 60 characters; content
  types are tokens, else ``application/octet-stream``;
- text parts are quoted-printable UTF-8, attachments base64; boundaries start with ``=_``,
  which neither encoding can produce (quoted-printable writes ``=`` as ``=3D`` or a soft
  line break ``=`` + line end), so no part can contain them.

Two things of the headers stay by hand, small: a non-ASCII display name is cut into
encoded-words before its spaces (``Header`` cuts anywhere, and Python's own address parser
then reads a cut word as two: ``_encoded_phrase``); a long ASCII value is folded at its spaces
(``_folded``: ``Header`` folds the same way at ~0.15 ms a field, and ``compat32`` moves a first
word too long for the first line to a line of its own, read back with a leading space).
Encoded values (non-ASCII subjects) are ``Header.encode()``'s.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from email.charset import Charset
from email.header import Header as EncodedHeader
from email.utils import encode_rfc2231, formataddr

#: RFC 5322 says lines SHOULD stay within 78 characters (998 at most).
LINE = 78
#: The headers' line ends. The framing below writes ``\n`` as literals, the line end the body
#: encoders (``binascii``, ``base64``) write too: the whole mail ends its lines the same way;
#: ``aiosmtplib`` sends CRLF (it normalizes them).
_EOL = "\n"
#: Headers: encoded-words, Q or B whichever is shorter.
_UTF8 = Charset("utf-8")

#: A display name's words up to this many characters make one encoded-word (usually within
#: 75 characters; ``Header`` cuts a longer one where it must).
_PIECE = 30

_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
#: What a subject may not hold: C0/C1 controls, line and paragraph separators (``Header``
#: would cut the value into lines there).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Longer file names are shortened (extension kept): percent-encoded (≤ 12 characters each)
#: they stay within a line's 998 characters: the ``Content-Disposition`` line is written whole
#: (no RFC 2231 continuations).
_FILE_NAME = 60
#: A plain ASCII mailbox (no quoted local part, no comments): all the bridge writes to.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+\-/=?^_`{|}~]{1,64}@[A-Za-z0-9.\-\[\]:]{1,255}\Z")
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,400}>\Z")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,64}\Z")
#: A word with the blanks before it: where a long value may be folded (before the blanks).
_BLANKS_AND_WORD = re.compile(r" *[^ ]+")

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
        return value  # nothing to fold (most fields)
    return _folded(value, LINE - len(name) - 2)


def _folded(value: str, first: int) -> str:
    """Printable ASCII ``value`` folded at its spaces (RFC 5322 §2.2.3: a line end put before
    a space, which unfolding removes): within ``first`` characters on the header's first line
    and ``LINE`` on the next ones. A word (with the blanks before it) longer than its line
    stays whole, and the first one on the first line (moved to a line of its own, a parser
    would read a leading space); blanks at the end stay on the last line, so no line is only
    blanks.

    By hand: ``Header.encode`` folds the same way but cost ~0.15 ms per field on the bench
    machine (two fields of every mail, References and List-Unsubscribe, are long)."""
    chunks = _BLANKS_AND_WORD.findall(value)  # each but the first starts with its blanks
    if not chunks:
        return value
    pieces = [chunks[0]]
    length, limit = len(chunks[0]), first
    for chunk in chunks[1:]:
        if length + len(chunk) > limit:
            pieces.append(_EOL)
            length, limit = 0, LINE
        pieces.append(chunk)
        length += len(chunk)
    pieces.append(value[sum(map(len, chunks)) :])  # the blanks after the last word
    return "".join(pieces)


def headers(fields: Sequence[Header]) -> str:
    """The header block: each field checked, encoded and folded by :func:`_value`."""
    return "".join(f"{name}: {_value(name, value)}{_EOL}" for name, value in fields)


def _text_part(subtype: str, text: str) -> bytes:
    """A text part: UTF-8, quoted-printable (readable, and it cannot produce a boundary's
    ``=_``), ending with a line end (as ``set_content`` does)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n"
    ).encode("ascii") + binascii.b2a_qp(text.encode("utf-8"), istext=True)


def _content_type(value: str) -> tuple[str, str]:
    maintype, _, subtype = value.partition("/")
    if _TOKEN.match(maintype) and _TOKEN.match(subtype) and maintype.lower() != "multipart":
        return maintype.lower(), subtype.lower()
    return "application", "octet-stream"


def _attachment(filename: str, content_type: str, data: bytes) -> bytes:
    """A file: base64 in lines of 76, its name always RFC 2231 (UTF-8, percent-encoded: any
    name, never a broken header)."""
    shown = _shown(filename).strip() or "piece-jointe"
    if len(shown) > _FILE_NAME:
        stem, dot, extension = shown.rpartition(".")
        extension = dot + extension if stem and len(extension) <= 10 else ""
        shown = shown[: _FILE_NAME - len(extension) - 1].rstrip() + "…" + extension
    maintype, subtype = _content_type(content_type)
    return (
        f"Content-Type: {maintype}/{subtype}\n"
        "Content-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; filename*={encode_rfc2231(shown, 'utf-8', '')}\n\n"
    ).encode("ascii") + base64.encodebytes(data)


def _multipart(subtype: str, boundary: str, parts: Sequence[bytes]) -> bytes:
    """RFC 2046 §5.1.1: each part after ``--boundary``, the line end before a boundary line
    being the boundary's (each part ends with its own line end), then ``--boundary--``."""
    delimiter = f"--{boundary}\n".encode("ascii")
    return b"".join(
        (
            f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode("ascii"),
            *(delimiter + part + b"\n" for part in parts),
            f"--{boundary}--\n".encode("ascii"),
        )
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
    return headers(fields).encode("ascii") + b"MIME-Version: 1.0\n" + body
