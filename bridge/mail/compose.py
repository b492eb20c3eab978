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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

SUBJECT_PREFIX = "[SPICO]"
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


def patient_tag(patient: Mapping[str, Any] | None, policy: str) -> str:
    """How the patient shows in a subject (initials by default: data minimisation)."""
    if not patient or policy == "none":
        return ""
    first = str(patient.get("first_name") or "").strip()
    last = str(patient.get("last_name") or "").strip()
    if policy == "initials":
        initials = "".join(f"{name[0].upper()}." for name in (first, last) if name)
        return initials
    if policy == "id":
        return str(patient.get("id") or "")
    birth = str(patient.get("birth_date") or "")
    return " ".join(part for part in (last.upper(), first, birth) if part)


def subject_line(subject: str, patient: Mapping[str, Any] | None, policy: str) -> str:
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
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = Address(f"{from_name} (via {sender.display_name})", addr_spec=sender.address)
    mail["To"] = Address(recipient_name or "", addr_spec=recipient)
    mail["Reply-To"] = Address(sender.display_name, addr_spec=sender.reply_address(token))
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = mid
    references = [token_reference(token, sender.domain)]
    if thread is not None:
        mail["In-Reply-To"] = thread.last_message_id
        chain = [thread.root_message_id]
        if thread.last_message_id != thread.root_message_id:
            chain.append(thread.last_message_id)
        references = chain + references
    mail["References"] = " ".join(references)
    if sender.mss_nil:
        mail["X-MSS-NIL"] = sender.mss_nil
    return mail


def _attachment_lines(attachments: Sequence[Mapping[str, Any]], french: bool) -> str:
    if not attachments:
        return ""
    title = "Pièces jointes (dans SPICO) :" if french else "Attachments (in SPICO):"
    lines = [
        f"- {a.get('filename', '?')} ({int(a.get('size') or 0) // 1024 + 1} Ko)"
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
    conversation: Mapping[str, Any],
    message: Mapping[str, Any],
    token: str,
    thread: Thread | None,
    patient_policy: str,
    now: datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """A conversation message as a mail of the member's thread (text + HTML alternatives).

    ``attachments`` are (filename, content type, bytes) to attach; the message's attachment
    metadata is listed in the text either way (SPICO keeps the files).
    """
    mid = message_id(key, sender.domain, "message", str(message.get("id")), member_id)
    subject = subject_line(
        str(conversation.get("subject") or ""), conversation.get("patient"), patient_policy
    )
    if thread is not None:
        subject = "Re: " + subject
    mail = _base(sender, author_name, recipient, recipient_name, subject, mid, token, thread, now)
    body = str(message.get("body") or "")
    listed = _attachment_lines(message.get("attachments") or [], french=True)
    footer = "Répondez à ce message pour répondre dans la conversation SPICO."
    text = f"{body}{listed}\n\n-- \n{footer}\n"
    mail.set_content(text, charset="utf-8")
    mail.add_alternative(
        f"<html><body>{_html_paragraphs(body + listed)}"
        f"<hr><p><small>{html.escape(footer)}</small></p></body></html>",
        subtype="html",
        charset="utf-8",
    )
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=filename,
        )
    return mail


def load_template(templates_dir: Path | None, name: str, language: str) -> str:
    """``<name>.<language>.txt`` from the configured folder, else the built-in one; English
    when the language has none."""
    for folder in (templates_dir, DEFAULT_TEMPLATES):
        if folder is None:
            continue
        for lang in (language, "en"):
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
    conversation: Mapping[str, Any],
    messages: Sequence[NotifiedMessage],
    source: str,
    token: str,
    thread: Thread | None,
    patient_policy: str,
    template: str,
    now: datetime,
) -> EmailMessage:
    """An inactive-user notification (one message) or digest (several), as automatic mail.

    The template's first line is ``Subject: …``; both use ``string.Template`` placeholders
    ($who, $subject, $patient_tag, $messages, $link, $count).
    """
    who = ", ".join(dict.fromkeys(m.author_name for m in messages)) or "SPICO"
    subject = str(conversation.get("subject") or "")
    tag = patient_tag(conversation.get("patient"), patient_policy)
    link = f"{sender.web_url or ''}/conversations/{conversation.get('id')}"
    rendered_messages = "\n\n".join(
        f"{m.author_name} ({m.created_at[:16].replace('T', ' ')}) :\n{m.body}" for m in messages
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
        subject_text = subject_line(subject, conversation.get("patient"), patient_policy)
    mid = message_id(key, sender.domain, "notify", source, member_id)
    mail = _base(sender, who, recipient, recipient_name, subject_text, mid, token, thread, now)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(text, charset="utf-8")
    mail.add_alternative(
        f"<html><body>{_html_paragraphs(text)}</body></html>", subtype="html", charset="utf-8"
    )
    return mail


def compose_refusal(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    original_id: str,
    original_subject: str,
    reason: str,
    now: datetime,
) -> EmailMessage:
    """The one polite answer to a refused mail (automatic: never answered in turn)."""
    mail = EmailMessage()
    mail["From"] = Address(sender.display_name, addr_spec=sender.address)
    mail["To"] = recipient
    subject = " ".join(original_subject.split())[:150]
    mail["Subject"] = f"Non distribué / Not delivered: {subject}"
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = message_id(key, sender.domain, "refusal", original_id, recipient)
    if original_id:
        mail["In-Reply-To"] = original_id
        mail["References"] = original_id
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    if sender.mss_nil:
        mail["X-MSS-NIL"] = sender.mss_nil
    mail.set_content(
        "Bonjour,\n\nVotre message n'a pas été transmis à la conversation SPICO : "
        f"{REASONS_FR.get(reason, reason)}.\n\n"
        "Your message was not passed on to the SPICO conversation: "
        f"{REASONS_EN.get(reason, reason)}.\n\n-- \nSPICO\n",
        charset="utf-8",
    )
    return mail


REASONS_FR = {
    "no_token": "il ne répond à aucun message de SPICO (répondez au message reçu)",
    "forged_token": "le lien de réponse est invalide",
    "expired_token": "le lien de réponse a expiré ; répondez depuis SPICO",
    "stranger": "votre adresse n'est pas celle d'un participant de la conversation",
    "untrusted_domain": "votre domaine n'appartient pas à l'espace de confiance MSSanté",
    "empty": "il ne contient aucun texte",
    "spico_refused": "SPICO l'a refusé",
}
REASONS_EN = {
    "no_token": "it does not answer a SPICO mail (reply to the mail you received)",
    "forged_token": "the reply link is invalid",
    "expired_token": "the reply link has expired; answer from SPICO",
    "stranger": "your address is not a member's of the conversation",
    "untrusted_domain": "your domain is outside the MSSanté trust space",
    "empty": "it contains no text",
    "spico_refused": "SPICO refused it",
}


# --- starting a conversation by mail (bridge/mail/newconv.py) ---------------------------------

NEWCONV_REASONS = {
    "fr": {
        "sender_unknown": "votre adresse n'est pas celle d'un professionnel de l'annuaire SPICO",
        "sender_no_account": "vous n'avez pas de compte SPICO",
        "no_subject": "l'objet est obligatoire : il devient le sujet de la conversation",
        "no_members": "il ne nomme aucun participant : mettez leurs adresses MSSanté en "
        "destinataires ou en copie (pour répondre à une conversation, répondez au message "
        "reçu de SPICO)",
        "too_many_members": "il nomme trop de participants (au plus {max_members})",
        "empty": "il ne contient aucun texte : le texte devient le premier message",
        "addresses": "certaines adresses ne peuvent pas être des participants",
        "several_patients": "plusieurs lignes « Patient : » nomment des patients différents ; "
        "une conversation concerne au plus un patient",
        "invalid_ins": "l'INS de la ligne « Patient : » est invalide (sa clé ne correspond pas)",
        "patient_not_found": "le patient de la ligne « Patient : » n'est pas dans votre file "
        "active SPICO : indiquez son identifiant SPICO, ou ajoutez-le à votre file active",
        "spico_refused": "SPICO l'a refusé",
    },
    "en": {
        "sender_unknown": "your address is not a professional's in the SPICO directory",
        "sender_no_account": "you have no SPICO account",
        "no_subject": "the subject is required: it becomes the conversation's subject",
        "no_members": "it names no member: put their MSSanté addresses in To or Cc (to answer "
        "a conversation, reply to the mail you received from SPICO)",
        "too_many_members": "it names too many members (at most {max_members})",
        "empty": "it contains no text: the text becomes the first message",
        "addresses": "some addresses cannot be members",
        "several_patients": 'several "Patient:" lines name different patients; a '
        "conversation is about one patient at most",
        "invalid_ins": 'the INS on the "Patient:" line is invalid (its key does not match)',
        "patient_not_found": 'the patient on the "Patient:" line is not in your SPICO active '
        "files: give their SPICO patient id, or add them to your active files",
        "spico_refused": "SPICO refused it",
    },
}
NEWCONV_ADDRESS_PROBLEMS = {
    "fr": {
        "unknown": "absente de l'annuaire SPICO (vérifiez l'adresse MSSanté du professionnel)",
        "untrusted": "hors de l'espace de confiance MSSanté",
        "structure": "adresse d'une structure : une conversation SPICO réunit des "
        "professionnels, écrivez à l'adresse personnelle de l'un d'eux",
    },
    "en": {
        "unknown": "not in the SPICO directory (check the professional's MSSanté address)",
        "untrusted": "outside the MSSanté trust space",
        "structure": "a structure's address: a SPICO conversation is between professionals, "
        "use the personal address of one of them",
    },
}
#: SPICO's refusal codes (openapi.yaml) as a sentence; SPICO's own sentence follows.
NEWCONV_SPICO_CODES = {
    "fr": {
        "no_patient_access": "vous n'avez pas accès à ce patient (ni cercle de soins, ni file "
        "active)",
        "not_found": "un élément est introuvable (patient ou participant)",
        "unknown_member": "un participant n'existe pas dans SPICO",
        "no_delegation": "vous ne pouvez pas agir pour ce compte",
        "no_account": "un compte SPICO manque",
        "idempotency_mismatch": "ce message a déjà servi à une autre demande",
    },
    "en": {
        "no_patient_access": "you have no access to this patient (neither care circle nor "
        "active files)",
        "not_found": "something could not be found (patient or member)",
        "unknown_member": "a member does not exist in SPICO",
        "no_delegation": "you may not act for this account",
        "no_account": "a SPICO account is missing",
        "idempotency_mismatch": "this mail was already used for another request",
    },
}
NEWCONV_HOWTO = {
    "fr": "Aucune conversation n'a été créée et personne n'a reçu votre message. Pour démarrer "
    "une conversation SPICO par messagerie : écrivez un nouveau message à {address}, avec "
    "l'objet de la conversation, les adresses MSSanté des participants en destinataires ou en "
    "copie, votre premier message, et si besoin une ligne « Patient : <identifiant SPICO ou "
    "INS> ».",
    "en": "No conversation was created and nobody received your mail. To start a SPICO "
    "conversation by mail: write a new mail to {address}, with the conversation's subject, the "
    "members' MSSanté addresses in To or Cc, your first message, and if needed a line "
    '"Patient: <SPICO patient id or INS>".',
}


def new_conversation_refusal_text(
    *,
    reason: str,
    language: str,
    bridge_address: str,
    addresses: Sequence[tuple[str, str]] = (),
    code: str | None = None,
    spico_message: str | None = None,
    max_members: int = 30,
) -> str:
    """The answer's text: why no conversation was created, which addresses, how to fix it."""
    lang = "en" if language == "en" else "fr"
    colon = " :" if lang == "fr" else ":"  # French typography: a space before the colon
    sentence = NEWCONV_REASONS[lang].get(reason, reason).format(max_members=max_members)
    if reason == "spico_refused" and code:
        explained = NEWCONV_SPICO_CODES[lang].get(code)
        if explained:
            sentence += f"{colon} {explained}"
        if spico_message:
            sentence += f" (« {spico_message} »)" if lang == "fr" else f' ("{spico_message}")'
    opening = (
        "Votre message n'a pas démarré de conversation SPICO"
        if lang == "fr"
        else "Your mail did not start a SPICO conversation"
    )
    lines = ["Bonjour," if lang == "fr" else "Hello,", "", f"{opening}{colon} {sentence}."]
    if addresses:
        problems = NEWCONV_ADDRESS_PROBLEMS[lang]
        lines += ["", "Adresses en cause :" if lang == "fr" else "Addresses concerned:"]
        lines += [f"- {address}{colon} {problems.get(why, why)}" for address, why in addresses]
    lines += ["", NEWCONV_HOWTO[lang].format(address=bridge_address), "", "-- ", "SPICO", ""]
    return "\n".join(lines)


def _answer_base(
    *, key: bytes, sender: Sender, recipient: str, kind: str, source: str, now: datetime
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = Address(sender.display_name, addr_spec=sender.address)
    mail["To"] = recipient
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = message_id(key, sender.domain, kind, source, recipient)
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    if sender.mss_nil:
        mail["X-MSS-NIL"] = sender.mss_nil
    return mail


def compose_new_conversation_refusal(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    original_id: str,
    original_subject: str,
    text: str,
    language: str,
    now: datetime,
) -> EmailMessage:
    """The answer to a new-conversation mail that started nothing (automatic mail)."""
    mail = _answer_base(
        key=key,
        sender=sender,
        recipient=recipient,
        kind="newconv-refusal",
        source=original_id,
        now=now,
    )
    subject = " ".join(original_subject.split())[:150]
    title = "Conversation non créée" if language != "en" else "Conversation not started"
    mail["Subject"] = f"{title} : {subject}" if language != "en" else f"{title}: {subject}"
    if not subject:
        mail.replace_header("Subject", title)
    if original_id:
        mail["In-Reply-To"] = original_id
        mail["References"] = original_id
    mail.set_content(text, charset="utf-8")
    return mail


def compose_new_conversation_created(
    *,
    key: bytes,
    sender: Sender,
    recipient: str,
    member_id: str,
    conversation_id: str,
    subject: str,
    patient: Mapping[str, Any] | None,
    patient_linked: bool,
    members: Sequence[str],
    original_id: str,
    token: str,
    patient_policy: str,
    language: str,
    now: datetime,
) -> EmailMessage:
    """The confirmation to the professional who started a conversation by mail: the root of
    their thread (Reply-To carries their reply token), so they can go on by mail."""
    mid = message_id(key, sender.domain, "created", conversation_id, member_id)
    line = subject_line(subject, patient, patient_policy)
    mail = _base(sender, "SPICO", recipient, None, line, mid, token, None, now)
    del mail["From"]
    mail["From"] = Address(sender.display_name, addr_spec=sender.address)
    if original_id:
        mail["In-Reply-To"] = original_id
        mail.replace_header("References", f"{original_id} {mail['References']}")
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    who = ", ".join(members)
    if language == "en":
        text = (
            f'Your SPICO conversation "{subject}" has been started with: {who}.\n'
            + ("The patient is linked to it.\n" if patient_linked else "")
            + "\nThe members receive your message through SPICO."
            + "\n\n-- \nReply to this mail to write in the SPICO conversation.\n"
        )
    else:
        text = (
            f"Votre conversation SPICO « {subject} » est créée avec : {who}.\n"
            + ("Le patient y est lié.\n" if patient_linked else "")
            + "\nLes participants reçoivent votre message par SPICO."
            + "\n\n-- \nRépondez à ce message pour écrire dans la conversation SPICO.\n"
        )
    mail.set_content(text, charset="utf-8")
    mail.add_alternative(
        f"<html><body>{_html_paragraphs(text)}</body></html>", subtype="html", charset="utf-8"
    )
    return mail
