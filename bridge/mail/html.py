"""HTML → plain text (pure, linear, bounded).

Parsed by libxml2's HTML5 tokenizer through lxml's pull parser, fed in chunks: entities are
decoded by the parser (``fix&eacute;`` → ``fixé``), the element count and depth are checked
while parsing, so 1 MB of ``<div `` or ``<br>`` costs milliseconds and a document over a cap
is refused (``HtmlTooComplex``), never cut silently. (The stdlib ``html.parser``, and so
``html2text``, is quadratic on unclosed tags: 100 KB of ``<div `` takes 35 s on 3.11.)

The text keeps what a reader sees: blocks on their own lines, paragraphs separated by a blank
line, list items as ``- ``, table cells separated by a space; ``<blockquote>`` content is
prefixed with ``> `` per level, the way clients write quotes in plain text, so the one quote
stripper (``bridge.mail.quotes``) decides for plain and HTML mails alike. Scripts, styles,
the head and comments are dropped; links and images give their text only.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from lxml import etree

from bridge.mail.limits import MailLimits

#: libxml2 stops at this depth (it then drops the rest): our cap must stay below it.
PARSER_DEPTH_CEILING = 255
_CHUNK = 16 * 1024
#: Start and end tags, comments: how many "<" one element may bring in ordinary HTML.
TAGS_PER_ELEMENT = 4

_SKIPPED = frozenset({"head", "script", "style", "title", "template", "noscript", "object"})
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol"})
_BLOCKS = _PARAGRAPHS | frozenset(
    {
        *("div", "li", "tr", "blockquote", "section", "article", "header", "footer", "main"),
        *("address", "center", "dl", "dt", "dd", "figure", "figcaption", "form", "hr"),
        *("body", "html", "nav", "aside", "caption", "fieldset", "details", "summary"),
    }
)
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\n\f]+")


class HtmlTooComplex(Exception):
    """More elements or deeper nesting than the limits allow (``what`` says which)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(slots=True)
class _Open:
    tag: str
    #: The element's own text is complete when its first child starts or when it ends.
    element: etree._Element | None = None
    text_done: bool = False


class _Writer:
    """Collects text into lines, with HTML's whitespace rules and quote prefixes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.pre_depth = 0
        self.skip_depth = 0
        self.blank_wanted = False

    def text(self, data: str | None) -> None:
        if not data or self.skip_depth:
            return
        if self.pre_depth:
            pieces = data.replace("\r\n", "\n").split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    self.newline(force=True)
                self._put(piece)
            return
        collapsed = _SPACES.sub(" ", data)
        if not self.current or self._last_char_is_space():
            collapsed = collapsed.lstrip(" ")
        self._put(collapsed)

    def _last_char_is_space(self) -> bool:
        for piece in reversed(self.current):
            if piece:
                return piece.endswith(" ")
        return True

    def _put(self, piece: str) -> None:
        if not piece:
            return
        if self.blank_wanted and self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(self._prefix().rstrip())
        self.blank_wanted = False
        if not self.current:
            self.current.append(self._prefix())
        self.current.append(piece)

    def _prefix(self) -> str:
        return "> " * self.quote_depth

    def newline(self, *, force: bool = False) -> None:
        if self.current:
            self.lines.append("".join(self.current).rstrip(" "))
            self.current = []
        elif force:
            self.lines.append(self._prefix().rstrip())

    def paragraph(self) -> None:
        self.newline()
        self.blank_wanted = True

    def result(self) -> str:
        self.newline()
        text = "\n".join(self.lines).replace("\u00a0", " ")
        return text.strip("\n")


def _start(writer: _Writer, tag: str) -> None:
    if tag in _SKIPPED:
        writer.skip_depth += 1
        return
    if tag == "br":
        writer.newline(force=True)
        return
    if tag in _PARAGRAPHS:
        writer.paragraph()
    elif tag in _BLOCKS:
        writer.newline()
    if tag == "blockquote":
        writer.quote_depth += 1
    elif tag == "pre":
        writer.pre_depth += 1
    elif tag == "li":
        writer.text("- ")
    elif tag in _CELLS and writer.current:
        writer.text(" ")


def _end(writer: _Writer, tag: str) -> None:
    if tag in _SKIPPED:
        writer.skip_depth = max(0, writer.skip_depth - 1)
        return
    if tag == "blockquote":
        writer.newline()
        writer.quote_depth = max(0, writer.quote_depth - 1)
    elif tag == "pre":
        writer.pre_depth = max(0, writer.pre_depth - 1)
    if tag in _PARAGRAPHS:
        writer.paragraph()
    elif tag in _BLOCKS:
        writer.newline()
    elif tag in _CELLS:
        writer.text(" ")


def html_to_text(markup: str, limits: MailLimits | None = None) -> str:
    """The text a reader sees in ``markup``; raises ``HtmlTooComplex`` over the caps."""
    limits = limits or MailLimits()
    # Every element costs at least one "<": far more of them than the element cap allows is
    # refused before parsing (counted in C, so a flood costs nothing).
    if markup.count("<") > TAGS_PER_ELEMENT * limits.max_html_elements:
        raise HtmlTooComplex("elements")
    max_depth = min(limits.max_html_depth, PARSER_DEPTH_CEILING - 1)
    parser = etree.HTMLPullParser(
        events=("start", "end"),
        recover=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    writer = _Writer()
    stack: list[_Open] = []
    #: The element just closed: its tail is complete only at the next event.
    closed: list[etree._Element] = []
    elements = 0

    def flush_tail() -> None:
        if closed:
            writer.text(closed.pop().tail)

    def drain() -> None:
        nonlocal elements
        for event, element in parser.read_events():
            tag = element.tag if isinstance(element.tag, str) else ""
            if event == "start":
                elements += 1
                if elements > limits.max_html_elements:
                    raise HtmlTooComplex("elements")
                if len(stack) + 1 > max_depth:
                    raise HtmlTooComplex("depth")
                flush_tail()
                if stack and not stack[-1].text_done:
                    parent = stack[-1]
                    parent.text_done = True
                    writer.text(parent.element.text if parent.element is not None else None)
                opened = _Open(tag.lower(), element)
                stack.append(opened)
                _start(writer, opened.tag)
            else:
                flush_tail()
                current = stack.pop() if stack else _Open(tag.lower())
                if not current.text_done:
                    writer.text(element.text)
                _end(writer, current.tag)
                closed.append(element)

    for offset in range(0, len(markup), _CHUNK):
        parser.feed(markup[offset : offset + _CHUNK])
        drain()
    # Nothing parseable (an empty document): the text read so far is all there is.
    with contextlib.suppress(etree.LxmlError):
        parser.close()
    drain()
    flush_tail()
    return writer.result()


__all__ = ["PARSER_DEPTH_CEILING", "HtmlTooComplex", "html_to_text"]
