"""SPICO → Matrix text (pure): patient tags, sender headers, message content, topics.

Everything here is plain data in, plain data out, so the wording and the HTML escaping are
tested without a homeserver. Patient identities appear only as the room policy allows
(initials by default: data minimisation).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The room name prefix / topic line of a patient, per ``policy.room_patient_tag``.
PATIENT_TAG_POLICIES = ("initials", "full", "id", "none")

STATUS_LABELS = {
    "fr": {
        "online": "en ligne",
        "active": "actif",
        "absent": "absent",
        "inactive": "inactif",
        None: "statut inconnu",
    },
    "en": {
        "online": "online",
        "active": "active",
        "absent": "away",
        "inactive": "inactive",
        None: "status unknown",
    },
}

TEXTS = {
    "fr": {
        "subject": "Sujet",
        "patient": "Patient",
        "members": "Participants",
        "topic_footer": "Conversation SPICO",
        "attachment": "Pièce jointe",
    },
    "en": {
        "subject": "Subject",
        "patient": "Patient",
        "members": "Members",
        "topic_footer": "SPICO conversation",
        "attachment": "Attachment",
    },
}


def _initial(name: str) -> str:
    """First letter of each part of a compound name: "Jean-Pierre" → "J-P"."""
    parts = [p for p in name.replace("-", " - ").split() if p]
    return "".join(p if p == "-" else p[0].upper() for p in parts)


def patient_tag(patient: Mapping[str, Any] | None, policy: str) -> str | None:
    """How the patient is shown in a room name/topic: "J.D." (initials), "Jean DUPONT" (full),
    the SPICO patient id (id), or nothing (none, or no patient)."""
    if not patient or policy == "none":
        return None
    if policy == "id":
        return str(patient.get("id") or "") or None
    first = str(patient.get("first_name") or "").strip()
    last = str(patient.get("last_name") or "").strip()
    if policy == "full":
        return " ".join(p for p in (first, last.upper()) if p) or None
    initials = [i for i in (_initial(first), _initial(last)) if i]
    return "".join(f"{i}." for i in initials) or None


def room_name(subject: str, tag: str | None) -> str:
    """ "[J.D.] Sujet" with a patient tag, the subject alone without."""
    subject = " ".join(subject.split()) or "(sans sujet)"
    return f"[{tag}] {subject}" if tag else subject


@dataclass(frozen=True, slots=True)
class Person:
    """What the room shows of a SPICO professional (from the bridge's directory cache)."""

    spico_id: str
    civility: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    profession: str | None = None
    status: str | None = None


def display_name(person: Person) -> str:
    """ "Dr Jean DUPONT"; the SPICO id when the directory does not know the person."""
    parts = [person.civility, person.first_name, (person.last_name or "").upper() or None]
    name = " ".join(p.strip() for p in parts if p and p.strip())
    return name or person.spico_id


def sender_header(author: Person, sent_by: Person | None = None) -> str:
    """ "Dr Jean DUPONT — Médecin généraliste" (+ who typed it under a delegation)."""
    header = display_name(author)
    if author.profession:
        header = f"{header} — {author.profession}"
    if sent_by is not None and sent_by.spico_id != author.spico_id:
        header = f"{header} (par {display_name(sent_by)})"
    return header


def _html_text(text: str) -> str:
    """Escaped text whose line breaks survive in HTML."""
    return "<br>".join(html.escape(line, quote=False) for line in text.split("\n"))


def message_content(
    header: str | None,
    body: str,
    *,
    notice: bool = False,
    attachments: Sequence[str] = (),
    language: str = "fr",
    spico_message_id: str | None = None,
) -> dict[str, Any]:
    """An ``m.room.message`` content: plain ``body`` and escaped HTML ``formatted_body``.

    ``attachments`` (file names) are listed when their bytes are not carried as media."""
    label = TEXTS.get(language, TEXTS["fr"])["attachment"]
    lines = [f"📎 {label} : {name}" for name in attachments]
    text = body.strip("\n")
    plain = "\n".join(p for p in ([header] if header else []) + [text] + lines if p != "")
    html_parts = []
    if header:
        html_parts.append(f"<p><strong>{html.escape(header, quote=False)}</strong></p>")
    if text:
        html_parts.append(f"<p>{_html_text(text)}</p>")
    if lines:
        html_parts.append("<p>" + "<br>".join(html.escape(x, quote=False) for x in lines) + "</p>")
    content: dict[str, Any] = {
        "msgtype": "m.notice" if notice else "m.text",
        "body": plain,
        "format": "org.matrix.custom.html",
        "formatted_body": "".join(html_parts),
    }
    if spico_message_id:
        content["fr.spico.message_id"] = spico_message_id
    return content


def notice_content(text: str) -> dict[str, Any]:
    """A bridge notice (refusals, "not carried to SPICO"): ``m.notice``, plain and HTML."""
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": _html_text(text),
    }


def status_label(status: str | None, language: str = "fr") -> str:
    labels = STATUS_LABELS.get(language, STATUS_LABELS["fr"])
    return labels.get(status, labels[None])


def topic(subject: str, tag: str | None, members: Sequence[Person], language: str = "fr") -> str:
    """Subject, patient tag and each member with their SPICO status (statuses show here)."""
    texts = TEXTS.get(language, TEXTS["fr"])
    lines = [f"{texts['subject']} : {' '.join(subject.split())}"]
    if tag:
        lines.append(f"{texts['patient']} : {tag}")
    people = ", ".join(f"{display_name(m)} ({status_label(m.status, language)})" for m in members)
    lines.append(f"{texts['members']} : {people}")
    lines.append(texts["topic_footer"])
    return "\n".join(lines)


#: Notices the bridge posts in portal rooms (French first: SPICO's users are French).
NOTICES = {
    "fr": {
        "unmapped": "⚠ Message non transmis à SPICO : votre compte Matrix n'est associé à "
        "aucun professionnel SPICO.",
        "not_member": "⚠ Message non transmis à SPICO : vous n'êtes pas participant de cette "
        "conversation SPICO.",
        "refused": "⚠ Message refusé par SPICO : {reason}",
        "edit": "⚠ Modification non transmise : SPICO ne permet pas de modifier un message. "
        "Envoyez un nouveau message si besoin.",
        "redaction": "⚠ Suppression non transmise : SPICO ne permet pas de supprimer un message.",
        "unsupported": "⚠ Ce type de message n'est pas transmis à SPICO.",
        "undecryptable": "⚠ Message chiffré illisible par le pont : il n'a pas été transmis à "
        "SPICO. Renvoyez-le (la clé de chiffrement n'est pas parvenue au pont).",
        "kicked": "Ce salon reflète la conversation SPICO : seuls ses participants peuvent y être.",
        "not_handled": "⚠ Le pont n'a pas pu traiter ce message (erreur interne, signalée à "
        "l'administrateur) : rien n'a été transmis à SPICO.",
    },
    "en": {
        "unmapped": "⚠ Not sent to SPICO: your Matrix account is not mapped to a SPICO "
        "professional.",
        "not_member": "⚠ Not sent to SPICO: you are not a member of this SPICO conversation.",
        "refused": "⚠ SPICO refused this message: {reason}",
        "edit": "⚠ Edit not carried: SPICO messages cannot be edited. Send a new message.",
        "redaction": "⚠ Deletion not carried: SPICO messages cannot be deleted.",
        "unsupported": "⚠ This kind of message is not carried to SPICO.",
        "undecryptable": "⚠ Encrypted message the bridge cannot read: not carried to SPICO. "
        "Please send it again (its key did not reach the bridge).",
        "kicked": "This room mirrors the SPICO conversation: only its members may be here.",
        "not_handled": "⚠ The bridge could not process this message (an internal error, logged "
        "for the administrator): nothing was carried to SPICO.",
    },
}


def notice_text(key: str, language: str = "fr", **values: str) -> str:
    return NOTICES.get(language, NOTICES["fr"])[key].format(**values)
