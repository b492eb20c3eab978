"""Inbound mail understanding (pure): what a mail is, which conversation, who, what text.

Two steps, so the I/O stays outside: ``read_mail`` turns raw bytes into ``MailFacts`` (never
raises: any charset, transfer encoding or broken structure yields what could be read); the
caller looks up the ids those facts point to (stored Message-IDs, token handles, member
addresses) and ``judge`` gives the verdict.

This is the inbox's reader until it moves to the trust pipeline (``bridge.mail.assess``); it
already reads the author (``bridge.mail.author``), HTML (``bridge.mail.html``) and quotes
(``bridge.mail.quotes``) as the pipeline does.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from bridge.core.delivery import Attachment
from bridge.mail import html, quotes, tokens
from bridge.mail.author import Author, read_author
from bridge.mail.body import decode_text
from bridge.mail.compose import TOKEN_REF_PREFIX
from bridge.mail.envelope import header_block, header_fields

PATIENT_DOMAIN = "patient.mssante.fr"
MAX_TEXT_CHARS = 100_000


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    REFUSED = "refused"
    #: A new mail to the bridge's address that started a SPICO conversation (``newconv``).
    CREATED = "created"


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What a mail says about itself (nothing verified yet)."""

    message_id: str
    from_address: str
    subject: str
    #: In-Reply-To first, then References from the most recent.
    references: tuple[str, ...]
    recipients: tuple[str, ...]
    auto_reply: bool
    bounce: bool
    bounced_recipients: tuple[str, ...]
    text: str
    attachments: tuple[Attachment, ...] = ()
    dropped_attachments: int = 0
    unreadable: bool = False
    #: For a bounce: the Message-ID of the mail that could not be delivered, when it says.
    bounced_message_id: str | None = None
    #: The To and Cc addresses (lower-case, in order): who the writer addressed.
    addressed: tuple[str, ...] = ()
    #: The ``Authentication-Results`` headers (RFC 8601) the receiving servers added.
    authentication_results: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the store knows about the ids a mail points to (filled by the caller)."""

    #: Stored Message-ID → (conversation, member of that thread).
    messages: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Token handle → (conversation, member the token was issued to).
    handles: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Normalised subject → (conversation, member) among the sender's threads.
    subjects: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Conversation → {lower-case address: member id} of its members.
    members: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str | None = None
    conversation_id: str | None = None
    member_id: str | None = None
    text: str = ""
    attachments: tuple[Attachment, ...] = ()

    @property
    def answer_refusal(self) -> bool:
        """Whether the sender should get the one polite answer (never for loops)."""
        return self.verdict is Verdict.REFUSED and self.reason not in (None, "loop")


# --- reading -----------------------------------------------------------------------------------

_MSGID_RE = re.compile(r"<[^<>\s]+>")
_AUTO_SUBJECT_RE = re.compile(
    r"^\s*(r[ée]ponse automatique|absence du bureau|absent\b|out of (the )?office|"
    r"automatic reply|auto(matic)?[- ]?reply|autoreply|abwesenheit|vacation|"
    r"message d'absence|je suis absent)",
    re.IGNORECASE,
)
_BOUNCE_FROM_RE = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= char <= "\udcff" for char in text):  # raw 8-bit header: UTF-8 or latin-1
        raw = text.encode("ascii", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return " ".join(text.split())


def _all_headers(message: Message, name: str) -> tuple[str, ...]:
    try:
        return tuple(" ".join(str(v).split()) for v in message.get_all(name) or [])
    except Exception:
        return ()


def _addresses(message: Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        try:
            values.extend(str(v) for v in message.get_all(name) or [])
        except Exception:
            continue
    return [addr.strip().lower() for _, addr in getaddresses(values) if "@" in addr]


def _part_text(part: Message) -> str:
    """The part's text whatever its declared, missing or wrong charset (``decode_text``)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_text(payload, part.get_content_charset())


def html_to_text(markup: str) -> str:
    """HTML → plain text (``bridge.mail.html``: linear, entities kept; quotes become ``>``
    lines for ``strip_quotes``)."""
    return html.html_to_text(markup)


def strip_quotes(text: str) -> str:
    """The new part of a reply: only a trailing quoted block and a short signature removed
    (``bridge.mail.quotes``)."""
    return quotes.strip_quotes(text, max_chars=MAX_TEXT_CHARS).text


def _walk_body(message: Message, max_bytes: int) -> tuple[str, list[Attachment], int]:
    plain: str | None = None
    markup: str | None = None
    attachments: list[Attachment] = []
    dropped = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = None
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        if (
            disposition == "attachment"
            or (filename and disposition != "inline")
            or (filename and not content_type.startswith("text/"))
        ):
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            if len(data) > max_bytes:
                dropped += 1
                continue
            attachments.append(Attachment(str(filename or "piece-jointe"), content_type, data))
            continue
        if content_type == "text/plain" and plain is None:
            plain = _part_text(part)
        elif content_type == "text/html" and markup is None:
            markup = _part_text(part)
    if plain is not None and plain.strip():
        text = plain
    elif markup is not None:
        text = html_to_text(markup)
    else:
        text = plain or ""
    return text[:MAX_TEXT_CHARS], attachments, dropped


def _bounced_id(message: Message) -> str | None:
    """The returned original's Message-ID (``text/rfc822-headers`` or ``message/rfc822``)."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("text/rfc822-headers", "message/rfc822"):
            text = str(part.get_payload()) if content_type == "message/rfc822" else _part_text(part)
            match = re.search(r"(?im)^message-id:\s*(<[^<>\s]+>)", text)
            if match:
                return match.group(1)
    return None


def _bounce_facts(message: Message) -> tuple[bool, list[str]]:
    content_type = message.get_content_type()
    report = content_type == "multipart/report" and (
        (message.get_param("report-type") or "").lower() == "delivery-status"
    )
    recipients: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            report = True
            raw = part.as_string() if not part.is_multipart() else ""
            for sub in part.get_payload() if part.is_multipart() else []:
                raw += str(sub)
            for match in re.finditer(r"(?im)^final-recipient:\s*rfc822;\s*<?([^\s>]+)>?", raw):
                recipients.append(match.group(1).lower())
    return report, recipients


def read_mail(raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024) -> MailFacts:
    """Parse a raw mail; never raises (what cannot be read is left empty)."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:
        message = None
    fallback_id = "<sha256." + hashlib.sha256(raw).hexdigest()[:40] + "@unknown>"
    if message is None:
        return MailFacts(fallback_id, "", "", (), (), False, False, (), "", unreadable=True)
    found = _MSGID_RE.findall(_header(message, "Message-ID"))
    message_id = found[0] if found else fallback_id
    # The author as mail servers read it (one From, one mailbox, no address in the name);
    # empty when there is none: the mail is then refused as unreadable.
    from_values = [v for n, v in header_fields(header_block(raw)) if n.lower() == "from"]
    author = read_author(from_values)
    from_address = author.address if isinstance(author, Author) else ""
    subject = _header(message, "Subject")
    references = _MSGID_RE.findall(_header(message, "In-Reply-To"))
    references += list(reversed(_MSGID_RE.findall(_header(message, "References"))))
    recipients = _addresses(message, "Delivered-To", "X-Original-To", "To", "Cc")
    auto_submitted = _header(message, "Auto-Submitted").lower()
    precedence = _header(message, "Precedence").lower()
    auto_reply = (
        (auto_submitted not in ("", "no"))
        or bool(_header(message, "X-Autoreply") or _header(message, "X-Autorespond"))
        or precedence in ("bulk", "auto_reply", "list", "junk")
        or bool(_AUTO_SUBJECT_RE.match(subject))
    )
    try:
        bounce, bounced = _bounce_facts(message)
        if not bounce and _BOUNCE_FROM_RE.match(from_address) and message.is_multipart():
            bounce = True
        text, attachments, dropped = _walk_body(message, max_attachment_bytes)
        bounced_id = _bounced_id(message) if bounce else None
        unreadable = False
    except Exception:
        bounce, bounced, text, attachments, dropped, unreadable = False, [], "", [], 0, True
        bounced_id = None
    return MailFacts(
        message_id=message_id[:400],
        from_address=from_address,
        subject=subject,
        references=tuple(dict.fromkeys(references)),
        recipients=tuple(dict.fromkeys(recipients)),
        auto_reply=auto_reply,
        bounce=bounce,
        bounced_recipients=tuple(dict.fromkeys(bounced)),
        text=text,
        attachments=tuple(attachments),
        dropped_attachments=dropped,
        unreadable=unreadable,
        bounced_message_id=bounced_id,
        addressed=tuple(dict.fromkeys(_addresses(message, "To", "Cc"))),
        authentication_results=_all_headers(message, "Authentication-Results"),
    )


def _base_address(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local.partition('+')[0]}@{domain}"


def sub_address_tokens(facts: MailFacts, own_address: str) -> list[str]:
    """Tokens in the recipients' sub-addresses (``bridge+TOKEN@domain``)."""
    own = own_address.lower()
    found = []
    for recipient in facts.recipients:
        local, _, _domain = recipient.partition("@")
        if _base_address(recipient) == own and "+" in local:
            found.append(local.partition("+")[2])
    return list(dict.fromkeys(found))


def reference_tokens(facts: MailFacts) -> list[str]:
    found = []
    for reference in facts.references:
        inner = reference.strip("<>")
        if inner.lower().startswith(TOKEN_REF_PREFIX):
            found.append(inner[len(TOKEN_REF_PREFIX) :].partition("@")[0].lower())
    return found


def candidate_handles(facts: MailFacts, own_address: str) -> list[str]:
    """Handles of every token-shaped string (for the caller's lookup)."""
    handles = []
    for text in sub_address_tokens(facts, own_address) + reference_tokens(facts):
        token = tokens.decode(text)
        if token is not None:
            handles.append(token.handle)
    return list(dict.fromkeys(handles))


def normalise_subject(subject: str) -> str:
    text = subject
    while True:
        stripped = re.sub(r"^\s*(re|tr|fw|fwd|aw|réf|ref)\s*:\s*", "", text, flags=re.IGNORECASE)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split()).casefold()


def judge(
    facts: MailFacts,
    lookup: Lookup,
    *,
    key: bytes,
    today: date,
    own_address: str,
    is_trusted: Callable[[str], bool],
    allow_patient_mailboxes: bool = False,
) -> Judgement:
    """The verdict on a mail, the conversation and member it belongs to, and its new text."""
    sender = facts.from_address
    if not sender or facts.unreadable:
        return Judgement(Verdict.REFUSED, "unreadable")
    if _base_address(sender) == own_address.lower():
        return Judgement(Verdict.REFUSED, "loop")
    if facts.bounce:
        return Judgement(Verdict.BOUNCE, "bounce")
    if facts.auto_reply:
        return Judgement(Verdict.AUTO_REPLY, "auto_reply")
    domain = sender.rpartition("@")[2]
    patient = domain == PATIENT_DOMAIN or domain.endswith("." + PATIENT_DOMAIN)
    if not is_trusted(sender) or (patient and not allow_patient_mailboxes):
        return Judgement(Verdict.REFUSED, "untrusted_domain")

    # Which conversation: stored Message-IDs, then tokens, then the subject.
    conversation: str | None = None
    for reference in facts.references:
        if reference in lookup.messages:
            conversation = lookup.messages[reference][0]
            break
    decoded = [
        t
        for t in (
            tokens.decode(text)
            for text in sub_address_tokens(facts, own_address) + reference_tokens(facts)
        )
        if t is not None
    ]
    if conversation is None:
        for token in decoded:
            if token.handle in lookup.handles:
                conversation = lookup.handles[token.handle][0]
                break
    if conversation is None:
        hit = lookup.subjects.get(normalise_subject(facts.subject))
        if hit is not None:
            conversation = hit[0]
    if conversation is None:
        return Judgement(Verdict.REFUSED, "forged_token" if decoded else "no_token")

    # The token must be ours, for this conversation, and still valid.
    check: tokens.TokenCheck | None = None
    holder: str | None = None
    for token in decoded:
        bound = lookup.handles.get(token.handle)
        if bound is None or bound[0] != conversation:
            check = check or tokens.TokenCheck.FORGED
            continue
        check = tokens.verify(key, token, conversation, bound[1], today)
        holder = bound[1]
        if check is tokens.TokenCheck.OK:
            break
    if check is None:
        return Judgement(Verdict.REFUSED, "no_token", conversation)
    if check is not tokens.TokenCheck.OK:
        return Judgement(Verdict.REFUSED, f"{check.value}_token", conversation)

    members = lookup.members.get(conversation, {})
    author = members.get(sender)
    if author is None:
        return Judgement(Verdict.REFUSED, "stranger", conversation, holder)
    text = strip_quotes(facts.text)
    if not text and not facts.attachments:
        return Judgement(Verdict.REFUSED, "empty", conversation, author)
    return Judgement(Verdict.ACCEPTED, None, conversation, author, text, facts.attachments)


__all__ = [
    "Judgement",
    "Lookup",
    "MailFacts",
    "Verdict",
    "candidate_handles",
    "html_to_text",
    "judge",
    "normalise_subject",
    "read_mail",
    "strip_quotes",
]
