"""The new text of a reply (pure, linear): only a trailing quoted block is removed.

A line starting with ``>`` in the middle of new text stays (``> 2 g/j de paracétamol :
ARRÊTER`` is a prescription, not a quote). What is removed, and only when it ends the text:

* an attribution line (``Le … a écrit :``, ``On … wrote:``, up to three wrapped lines, naming
  a date or an address as clients do) followed by nothing but ``>`` lines and blank lines, or
  a block of ``>`` lines that starts with such an attribution (Apple Mail);
* a known separator and everything after it: ``-----Original Message-----``,
  ``-------- Message d'origine --------``, an Outlook header block (``De : … / Envoyé : … /
  À : … / Objet : …``, at least two of those fields, possibly after a line of underscores);
  Outlook writes the original below it without ``>``;
* then a signature: a ``-- `` line (RFC 3676; a bare ``--`` may be a separator in the
  text, so it stays) followed by at most ``MAX_SIGNATURE_LINES`` non-blank
  lines, and a last line such as ``Envoyé de mon iPhone``.

When text follows a quote (inline or bottom-posted answers), nothing is removed: the quote
stays with the answers. Forwarded messages (``---------- Forwarded message ---------``) are
content, not quotes, and stay. The text is cut to ``max_chars`` at most, and then ``dropped``
says so: the author is told.

Libraries tried: ``mail-parser-reply`` takes minutes on 100 KB of ``On … wrote`` (quadratic
regexes); ``quotequail`` is fast but treats an interleaved answer after an attribution as
quote (silent loss). Here each line costs a few bounded string operations; a line that may
be a marker is examined further, at most ``MAX_MARKER_CHECKS`` of them (a text made of
markers is then kept whole: not finding a quote never loses text).
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_SIGNATURE_LINES = 8
#: Longer lines are never attributions or separators (bounds the per-line work).
MAX_MARKER_CHARS = 400
_ATTRIBUTION_WINDOW = 3
#: Lines that look like markers examined at most: past that, the text is kept whole.
MAX_MARKER_CHECKS = 5000
_HEADER_BLOCK_WINDOW = 6


class Stripped(NamedTuple):
    text: str
    #: True when part of the new text could not be kept (cut to the length limit).
    dropped: bool


_ATTRIBUTION_ENDS = (
    "a écrit :",
    "a ecrit :",
    "a écrit:",
    "a ecrit:",
    "wrote:",
    "wrote :",
    "schrieb:",
    "escribió:",
    "ha scritto:",
    "escreveu:",
)
_ATTRIBUTION_STARTS = ("le ", "on ", "am ", "el ", "il ", "em ")
_DATE = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}")
_SEPARATORS = re.compile(
    r"-{2,}\s*(original message|message d.origine|mensaje original|urspr.ngliche nachricht)"
    r"\s*-{2,}",
)
_UNDERSCORES = re.compile(r"_{8,}")
_FIELD_NAME = re.compile(r"\**\s*([^\s:*]{1,12}(?:\s[^\s:*]{1,12})?)\s*\**\s*:")
_HEADER_START = frozenset({"de", "from", "von"})
_HEADER_FOLLOW = frozenset(
    {
        *("envoyé", "envoye", "sent", "date", "à", "a", "to", "objet", "subject", "cc"),
        *("gesendet", "an", "betreff", "envoyé le", "sent on"),
    }
)
_MOBILE_SIGNATURES = (
    "envoyé de mon",
    "envoye de mon",
    "envoyé depuis mon",
    "sent from my",
    "get outlook for",
    "obtenir outlook pour",
    "télécharger outlook pour",
)


def _normal(line: str) -> str:
    """Lower-case, spaces (including no-break ones) collapsed, for marker tests only."""
    return " ".join(line.replace("\u00a0", " ").replace("\u202f", " ").split()).casefold()


def _is_attribution(text: str) -> bool:
    if len(text) > MAX_MARKER_CHARS or not text.endswith(_ATTRIBUTION_ENDS):
        return False
    if not text.startswith(_ATTRIBUTION_STARTS) and _DATE.search(text) is None:
        return False
    # Clients always name a date or an address: "Le patient a écrit :" is prose.
    return "@" in text or any(char.isdigit() for char in text)


def _field(line: str) -> str | None:
    """The header-field name a line of an Outlook header block starts with (``De``)."""
    if len(line) > MAX_MARKER_CHARS:
        return None
    match = _FIELD_NAME.match(line)
    return match.group(1) if match else None


class _Lines:
    """The lines with their normal forms and field names computed once, when first asked."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._normal: dict[int, str] = {}
        self._fields: dict[int, str | None] = {}

    def normal(self, index: int) -> str:
        found = self._normal.get(index)
        if found is None:
            found = self._normal[index] = _normal(self.lines[index][: MAX_MARKER_CHARS + 1])
        return found

    def field(self, index: int) -> str | None:
        if index not in self._fields:
            line = self.lines[index]
            self._fields[index] = _field(self.normal(index)) if ":" in line else None
        return self._fields[index]

    def header_block(self, index: int) -> bool:
        if self.field(index) not in _HEADER_START:
            return False
        following = range(index + 1, min(index + _HEADER_BLOCK_WINDOW, len(self.lines)))
        return sum(1 for i in following if self.field(i) in _HEADER_FOLLOW) >= 2


def _last_unquoted(lines: list[str]) -> int:
    """The index of the last line that is neither blank nor a ``>`` line (-1: none)."""
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].lstrip()
        if stripped and stripped[0] != ">":
            return index
    return -1


def _trailing_quote_start(lines: list[str]) -> int:
    """Where the trailing quoted block begins (``len(lines)`` when there is none)."""
    count = len(lines)
    last_unquoted = _last_unquoted(lines)
    marked = _Lines(lines)
    checks = 0
    for index, line in enumerate(lines):
        # Cheap tests first: every marker holds one of these.
        if ":" not in line and "--" not in line and "__" not in line:
            continue
        stripped = line.strip()
        if not stripped or stripped[0] == ">" or len(stripped) > MAX_MARKER_CHARS:
            continue
        checks += 1
        if checks > MAX_MARKER_CHECKS:
            break  # a text made of markers: keep it whole (nothing is lost)
        if stripped.startswith("--") and _SEPARATORS.match(marked.normal(index)):
            return index
        if ":" in stripped and marked.header_block(index):
            return index
        if stripped[0] == "_" and _UNDERSCORES.fullmatch(stripped):
            if any(marked.header_block(i) for i in range(index + 1, min(index + 3, count))):
                return index
            continue
        joined = ""
        for width in range(1, _ATTRIBUTION_WINDOW + 1):
            last = index + width - 1
            if last >= count or last > last_unquoted or not lines[last].strip():
                break
            joined = f"{joined} {marked.normal(last)}" if joined else marked.normal(last)
            ends_block = last == last_unquoted and lines[last].rstrip().endswith(":")
            if ends_block and _is_attribution(joined):
                return index
    return _quoted_attribution(lines, last_unquoted + 1)


def _quoted_attribution(lines: list[str], start: int) -> int:
    """Apple Mail quotes the attribution too (``> Le … a écrit :``): the trailing ``>`` block
    starts with it. Returns where that block starts, or ``len(lines)``."""
    count = len(lines)
    first = start
    while first < count and not lines[first].strip():
        first += 1
    joined = ""
    for last in range(first, min(first + _ATTRIBUTION_WINDOW, count)):
        unquoted = lines[last].lstrip().lstrip(">").strip()
        if not unquoted or len(unquoted) > MAX_MARKER_CHARS:
            break
        joined = f"{joined} {_normal(unquoted)}" if joined else _normal(unquoted)
        if _is_attribution(joined):
            return first
    return count


def _signature_start(lines: list[str], end: int) -> int:
    """Where a short ``-- `` signature before ``end`` begins (``end`` when none)."""
    non_blank = 0
    for index in range(end - 1, -1, -1):
        line = lines[index].rstrip("\r")
        if line == "-- ":
            return index
        if line.strip():
            non_blank += 1
            if non_blank > MAX_SIGNATURE_LINES:
                return end
    return end


def strip_quotes(text: str, max_chars: int = 100_000) -> Stripped:
    """The new text of a reply and whether any of it had to be dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    end = _trailing_quote_start(lines)
    end = _signature_start(lines, end)
    kept = lines[:end]
    while kept and not kept[-1].strip():
        kept.pop()
    if kept and _normal(kept[-1]).startswith(_MOBILE_SIGNATURES):
        kept.pop()
    new_text = "\n".join(kept).strip()
    if len(new_text) > max_chars:
        return Stripped(new_text[:max_chars].rstrip(), True)
    return Stripped(new_text, False)


__all__ = ["MAX_SIGNATURE_LINES", "Stripped", "strip_quotes"]
