"""How much work one inbound mail may cost (plain data, built from the config in the inbox).

Every cap is checked before the work it bounds: the whole mail and its header block before
any parsing, the count of MIME containers before the MIME tree is built, each part's size
before it is decoded, the HTML's size and element count while it is parsed. A mail over a cap
is refused with a typed reason (``bridge.mail.verdict.RefusalReason``), never cut silently; the
time budget is the last guard (``bridge.mail.budget``).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MailLimits:
    #: The whole raw mail (MSSanté operators accept ~25 MB; base64 adds a third).
    max_mail_bytes: int = 40 * MIB
    #: The header block (long Received chains and ARC sets stay far below).
    max_header_bytes: int = 128 * 1024
    #: One ``From`` value; a longer one is refused before it is parsed.
    max_from_chars: int = 2048
    #: MIME containers (``multipart/*``, ``message/rfc822``) counted in the raw bytes before
    #: the tree is built: nested multiparts cost the stdlib parser quadratic time.
    max_containers: int = 24
    #: Lines starting with ``--`` (boundary lines are among them), counted before parsing:
    #: ten thousand sibling parts cost the parser more than a budget.
    max_dash_lines: int = 1000
    #: Leaf parts, after parsing.
    max_parts: int = 100
    #: Nesting of MIME containers.
    max_depth: int = 8
    max_attachments: int = 20
    #: One attachment, decoded; a larger one is left out and counted (the author is told).
    max_attachment_bytes: int = 10 * MIB
    #: One text part (plain or HTML), as transmitted.
    max_text_part_bytes: int = 4 * MIB
    #: One HTML part, decoded.
    max_html_bytes: int = 2 * MIB
    #: HTML elements and nesting (HTML is read only when a mail has no plain-text part;
    #: Outlook's HTML-only replies stay far below).
    max_html_elements: int = 20_000
    max_html_depth: int = 200
    #: The new text handed to SPICO; longer is cut and the author told.
    max_text_chars: int = 100_000
    #: Wall-clock budget of the parsing worker for one stage of one mail.
    budget_seconds: float = 3.0


__all__ = ["MIB", "MailLimits"]
