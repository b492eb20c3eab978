"""Delivery status notifications (pure): a DSN counts only when it matches a mail we sent.

Anyone can write a DSN-shaped mail. One counts (the address marked failing, a notice posted)
only for the recipients whose ``Final-Recipient`` is an address the bridge sent the reported
original to: the original's ``Message-ID`` (from the returned headers, ``text/rfc822-headers``
or ``message/rfc822``) must be one the bridge made (unguessable) and recorded as sent to that
recipient. Only ``Action: failed`` recipients are failures (``delayed``, ``delivered``,
``relayed`` and ``expanded`` are not).
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from bridge.mail.body import count_containers
from bridge.mail.envelope import header_block, header_fields
from bridge.mail.limits import MailLimits

_MSGID = re.compile(r"<[^<>\s]{1,400}>")
MAX_RECIPIENTS = 100
#: The parts of a report that matter are small: a larger one is not read.
MAX_REPORT_PART_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DsnReport:
    #: The reported original's Message-ID, when the report returns its headers.
    original_message_id: str | None
    #: ``Final-Recipient`` addresses with ``Action: failed`` (lower-case).
    failed_recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DsnMatch:
    original_message_id: str | None
    #: The failed recipients the bridge did send the original to: these count.
    recipients: tuple[str, ...]

    @property
    def counts(self) -> bool:
        return bool(self.recipients)


def _address(value: str) -> str | None:
    kind, _, address = value.partition(";")
    if kind.strip().lower() != "rfc822":
        return None
    cleaned = address.strip().strip("<>").strip().lower()
    return cleaned if cleaned.count("@") == 1 else None


def _recipient_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    return []


def _original_id(part: Message) -> str | None:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        value = str(inner.get("Message-ID", "")) if isinstance(inner, Message) else ""
    else:
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return None
        fields = header_fields(header_block(data[:MAX_REPORT_PART_BYTES]))
        value = next((v for n, v in fields if n.lower() == "message-id"), "")
    found = _MSGID.findall(value[:1000])
    return found[0] if found else None


def read_dsn(raw: bytes, limits: MailLimits | None = None) -> DsnReport | None:
    """The failed recipients and original Message-ID of a DSN; None when it cannot be read
    within the limits (then it counts for nothing)."""
    limits = limits or MailLimits()
    if (
        len(raw) > limits.max_mail_bytes
        or count_containers(raw) > limits.max_containers
        or raw.count(b"\n--") > limits.max_dash_lines
    ):
        return None
    try:
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    except Exception:
        return None
    failed: list[str] = []
    original: str | None = None
    parts = message.get_payload() if message.is_multipart() else []
    for part in parts if isinstance(parts, list) else []:
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            for block in _recipient_blocks(part)[: MAX_RECIPIENTS + 1]:
                action = str(block.get("Action", "")).strip().lower()
                address = _address(str(block.get("Final-Recipient", "")))
                if action == "failed" and address:
                    failed.append(address)
        elif content_type in ("text/rfc822-headers", "message/rfc822") and original is None:
            original = _original_id(part)
    return DsnReport(original, tuple(dict.fromkeys(failed))[:MAX_RECIPIENTS])


def match_dsn(report: DsnReport, sent_to: Callable[[str, str], bool]) -> DsnMatch:
    """The recipients for which ``sent_to(message_id, recipient)`` says the bridge sent the
    reported original to that recipient; none without an original Message-ID."""
    original = report.original_message_id
    if original is None:
        return DsnMatch(None, ())
    matched = tuple(r for r in report.failed_recipients if sent_to(original, r))
    return DsnMatch(original, matched)


__all__ = ["DsnMatch", "DsnReport", "match_dsn", "read_dsn"]
