"""Outbound mail composition (pure): one thread per (conversation, member).

Why each header: ``Message-ID`` is derived (HMAC) from the SPICO message and the member, so a
retried delivery produces the same mail (receivers dedupe) and nobody can guess ids to thread
into a conversation; ``In-Reply-To``/``References`` chain the member's thread; ``Reply-To``
carries the signed reply token as a sub-address, and ``References`` carries it again for clients
that answer to ``From``; ``X-MSS-NIL`` is required by MSSanté on every mail sent.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from bridge.core.i18n import fallbacks
from bridge.core.model import ConversationView
from bridge.core.views import AttachmentView, MessageView, PatientView, patient_tag
from bridge.mail import mime, texts
from bridge.mail.mime import Header

SUBJECT_PREFIX = "[SPICO]"
#: What a mail to ``bridge+<action>.TOKEN@…`` asks: stop this conversation's mails, follow
#: this conversation by mail, follow every conversation by mail (``bridge.store.preferences``).
MAIL_ACTIONS = ("stop", "follow", "all")
ACTION_SEPARATOR = "."
TOKEN_REF_PREFIX = "rt."
#: The built-in templates, shipped inside the package (a wheel install has them too).
DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class Sender:
    """The bridge's mailbox and how its mails present themselves."""

    address: str
    display_name: str = "SPICO"
    mss_nil: str | None = None
    web_url: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    def reply_address(self, token: str) -> str:
        local, _, domain = self.address.partition("@")
        return f"{local}+{token}@{domain}"

    def action_address(self, action: str, token: str) -> str:
        """Where a member writes to change their mail (``stop``, ``follow``, ``all``): the
        reply token says which conversation and member, and is checked like a reply's."""
        return self.reply_address(f"{action}{ACTION_SEPARATOR}{token}")


@dataclass(frozen=True, slots=True)
class Thread:
    """Where the next mail of a member's thread is chained."""

    root_message_id: str
    last_message_id: str


def _digest(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def message_id(key: bytes, domain: str, kind: str, source: str, member_id: str) -> str:
    """Deterministic and unguessable: the same delivery always gets the same Message-ID."""
    return f"<spico.{_digest(key, kind, source, member_id)}@{domain}>"


def token_reference(token: str, domain: str) -> str:
    return f"<{TOKEN_REF_PREFIX}{token}@{domain}>"


def subject_line(subject: str, patient: PatientView | None, policy: str) -> str:
    tag = patient_tag(patient, policy)
    text = " ".join(part for part in (SUBJECT_PREFIX, tag, subject.strip()) if part)
    return " ".join(text.split())  # no newlines can reach the header


def _html_paragraphs(text: str) -> str:
    return "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in text.split("\n\n")
        if block.strip()
    )


def _base(
    sender: Sender,
    from_name: str,
    recipient: str,
    recipient_name: str | None,
    subject: str,
    mid: str,
    token: str,
    thread: Thread | None,
    now: datetime,
) -> list[Header]:
    references = [token_reference(token, sender.domain)]
    fields = [
        ("From", mime.mailbox(f"{from_name} (via {sender.display_name})", sender.address)),
        ("To", mime.mailbox(recipient_name, recipient)),
        ("Reply-To", mime.mailbox(sender.display_name, sender.reply_address(token))),
        ("Subject", subject),
        ("Date", format_datetime(now.astimezone(UTC))),
        ("Message-ID", mid),
    ]
    if thread is not None:
        fields.append(("In-Reply-To", mime.message_ids(thread.last_message_id)))
        chain = [thread.root_message_id]
        if thread.last_message_id != thread.root_message_id:
            chain.append(thread.last_message_id)
        references = chain + references
    fields.append(("References", mime.message_ids(*references)))
    if sender.mss_nil:
        fields.append(("X-MSS-NIL", sender.mss_nil))
    # Mail clients show an "unsubscribe" button: it stops this conversation's mails.
    fields.append(("List-Unsubscribe", f"<mailto:{sender.action_address('stop', token)}>"))
    return fields


def _boundary(mid: str) -> str:
    """The parts' boundary, derived from the Message-ID: the same mail is the same bytes."""
    return hashlib.sha256(mid.encode()).hexdigest()[:24]


def choice_lines(sender: Sender, token: str, language: str, *, follow: bool = False) -> str:
    """The footer's addresses that change the member's mail: stop this conversation's mails,
    follow every conversation by mail (and, on a notification, follow this one)."""
    lines = []
    if follow:
        lines.append(
            texts.text(language, "choice_follow", address=sender.action_address("follow", token))
        )
    lines.append(texts.text(language, "choice_stop", address=sender.action_address("stop", token)))
    lines.append(texts.text(language, "choice_all", address=sender.action_address("all", token)))
    return "\n".join(lines)


def _attachment_lines(attachments: Sequence[AttachmentView], language: str) -> str:
    if not attachments:
        return ""
    title = texts.text(language, "attachments_in_spico")
    lines = [
        texts.text(
            language,
            "attachment_size",
            name=a.filename or "?",
            kilobytes=a.size // 1024 + 1,
        )
        for a in attachments
    ]
    return "\n\n" + title + "\n" + "\n".join(lines)


def compose_message(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    recipient_name: str | None,
    member_id: str,
    author_name: str,
    conversation: ConversationView,
    message: MessageView,
    token: str,
    thread: Thread | None,
    patient_policy: str,
    now: datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    language: str = "fr",
) -> bytes:
    """A conversation message as a mail of the member's thread (text + HTML alternatives).

    ``attachments`` are (filename, content type, bytes) to attach; the message's attachment
    metadata is listed in the text either way (SPICO keeps the files).
    """
    mid = message_id(key, sender.domain, "message", message.id, member_id)
    subject = subject_line(conversation.subject, conversation.patient, patient_policy)
    if thread is not None:
        subject = "Re: " + subject
    fields = _base(sender, author_name, recipient, recipient_name, subject, mid, token, thread, now)
    body = message.body
    listed = _attachment_lines(message.attachments, language)
    footer = texts.text(language, "message_footer") + "\n" + choice_lines(sender, token, language)
    return mime.render(
        fields,
        f"{body}{listed}\n\n-- \n{footer}\n",
        f"<html><body>{_html_paragraphs(body + listed)}"
        f"<hr><p><small>{html.escape(footer).replace(chr(10), '<br>')}</small></p></body></html>",
        boundary=_boundary(mid),
        attachments=attachments,
    )


def load_template(templates_dir: Path | None, name: str, language: str) -> str:
    """``<name>.<language>.txt`` from the configured folder, else the built-in one; the
    language is chosen as for every text (``bridge.core.i18n``: French when the bridge does
    not speak the one asked for, or when no template exists in it)."""
    for lang in fallbacks(language):
        for folder in (templates_dir, DEFAULT_TEMPLATES):
            if folder is None:
                continue
            path = folder / f"{name}.{lang}.txt"
            if path.is_file():
                return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"no mail template {name!r} for {language!r} (broken install?)")


@dataclass(frozen=True, slots=True)
class NotifiedMessage:
    author_name: str
    body: str
    created_at: str


def compose_notification(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    recipient_name: str | None,
    member_id: str,
    conversation: ConversationView,
    messages: Sequence[NotifiedMessage],
    source: str,
    token: str,
    thread: Thread | None,
    patient_policy: str,
    template: str,
    now: datetime,
    language: str = "fr",
) -> bytes:
    """An inactive-user notification (one message) or digest (several), as automatic mail.

    The template's first line is ``Subject: …``; both use ``string.Template`` placeholders
    ($who, $subject, $patient_tag, $messages, $link, $count).
    """
    who = ", ".join(dict.fromkeys(m.author_name for m in messages)) or "SPICO"
    subject = conversation.subject
    tag = patient_tag(conversation.patient, patient_policy) or ""
    link = f"{sender.web_url or ''}/conversations/{conversation.id}"
    rendered_messages = "\n\n".join(
        texts.text(
            language,
            "notified_message",
            author=m.author_name,
            at=m.created_at[:16].replace("T", " "),
            body=m.body,
        )
        for m in messages
    )
    values = {
        "who": who,
        "subject": subject,
        "patient_tag": tag,
        "messages": rendered_messages,
        "link": link,
        "count": str(len(messages)),
    }
    text = string.Template(template).safe_substitute(values)
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject_text = " ".join(first.partition(":")[2].split())
        text = rest.lstrip("\n")
    else:
        subject_text = subject_line(subject, conversation.patient, patient_policy)
    text = f"{text.rstrip()}\n\n{choice_lines(sender, token, language, follow=True)}\n"
    mid = message_id(key, sender.domain, "notify", source, member_id)
    fields = _base(sender, who, recipient, recipient_name, subject_text, mid, token, thread, now)
    fields += [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]
    return mime.render(
        fields, text, f"<html><body>{_html_paragraphs(text)}</body></html>", boundary=_boundary(mid)
    )


def compose_answer(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    kind: str,
    source: str,
    subject: str,
    text: str,
    now: datetime,
) -> bytes:
    """An automatic answer (``bridge.mail.answers``): the bridge's words only, never threaded
    to the sender's mail nor repeating its subject. The Message-ID is derived from ``kind``,
    ``source`` (what it answers) and the recipient: the same answer is the same mail."""
    mid = message_id(key, sender.domain, kind, source, recipient)
    fields = [
        ("From", mime.mailbox(sender.display_name, sender.address)),
        ("To", mime.mailbox(None, recipient)),
        ("Subject", subject),
        ("Date", format_datetime(now.astimezone(UTC))),
        ("Message-ID", mid),
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    if sender.mss_nil:
        fields.append(("X-MSS-NIL", sender.mss_nil))
    return mime.render(fields, text, None, boundary=_boundary(mid))


def compose_new_conversation_created(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    member_id: str,
    conversation_id: str,
    subject: str,
    patient: PatientView | None,
    patient_linked: bool,
    members: Sequence[str],
    original_id: str,
    token: str,
    patient_policy: str,
    language: str,
    now: datetime,
) -> bytes:
    """The confirmation to the professional who started a conversation by mail: the root of
    their thread (Reply-To carries their reply token), so they can go on by mail."""
    mid = message_id(key, sender.domain, "created", conversation_id, member_id)
    line = subject_line(subject, patient, patient_policy)
    fields = dict(_base(sender, "SPICO", recipient, None, line, mid, token, None, now))
    fields["From"] = mime.mailbox(sender.display_name, sender.address)
    if original_id and mime.is_message_id(original_id):  # the sender's, as their client wrote it
        fields["In-Reply-To"] = original_id
        fields["References"] = f"{original_id} {fields['References']}"
    fields["Auto-Submitted"] = "auto-replied"
    fields["X-Auto-Response-Suppress"] = "All"
    lines = [texts.text(language, "created_with", subject=subject, members=", ".join(members))]
    if patient_linked:
        lines.append(texts.text(language, "created_patient"))
    lines += ["", texts.text(language, "created_members"), "", "-- "]
    lines += [texts.text(language, "created_footer"), ""]
    body = "\n".join(lines)
    return mime.render(
        list(fields.items()),
        body,
        f"<html><body>{_html_paragraphs(body)}</body></html>",
        boundary=_boundary(mid),
    )
