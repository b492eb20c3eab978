"""SPICO → Matrix text (pure): patient tags, sender headers, message content, topics.

Everything here is plain data in, plain data out, so the wording and the HTML escaping are
tested without a homeserver. Patient identities appear only as the room policy allows
(initials by default: data minimisation).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.matrix import texts


def room_name(subject: str, tag: str | None, language: str = "fr") -> str:
    """ "[J.D.] Sujet" with a patient tag, the subject alone without."""
    subject = " ".join(subject.split()) or texts.text(language, "no_subject")
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


def ghost_display_name(person: Person) -> str:
    """A ghost's Matrix name: "Dr Jean DUPONT (Médecin généraliste)"."""
    name = display_name(person)
    return f"{name} ({person.profession})" if person.profession else name


#: SPICO status → Matrix presence (the status text goes with every one but "online").
_PRESENCE = {
    "online": "online",
    "active": "unavailable",
    "absent": "offline",
    "inactive": "offline",
}


def presence_of(status: str | None, language: str = "fr") -> tuple[str, str | None]:
    """(presence, status_msg) of a ghost for its professional's SPICO status: online → online;
    active → unavailable; absent, inactive or unknown → offline; the status in words as
    ``status_msg`` except when online."""
    presence = _PRESENCE.get(status or "", "offline")
    return presence, None if presence == "online" else status_label(status, language)


def sender_header(author: Person, sent_by: Person | None = None, language: str = "fr") -> str:
    """ "Dr Jean DUPONT — Médecin généraliste" (+ who typed it under a delegation)."""
    header = display_name(author)
    if author.profession:
        header = f"{header} — {author.profession}"
    if sent_by is not None and sent_by.spico_id != author.spico_id:
        header = texts.text(language, "sent_by", header=header, name=display_name(sent_by))
    return header


def sent_at(created_at: object) -> datetime | None:
    """A SPICO message's ``created_at`` (ISO 8601) as an aware UTC datetime, or None."""
    try:
        moment = datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def history_header(header: str | None, sent: datetime, language: str = "fr") -> str:
    """Relay mode's back-filled message: the bot cannot date it, so the header does."""
    return texts.text(language, "history_header", header=header or "", sent=sent)


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
    lines = [texts.text(language, "attachment_line", name=name) for name in attachments]
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
    """A SPICO status in words ("en ligne"); an unknown one says so."""
    return texts.find(language, f"status_{status}") or texts.text(language, "status_unknown")


def topic(subject: str, tag: str | None, members: Sequence[Person], language: str = "fr") -> str:
    """Subject, patient tag and each member with their SPICO status (statuses show here)."""
    lines = [texts.text(language, "topic_subject", subject=" ".join(subject.split()))]
    if tag:
        lines.append(texts.text(language, "topic_patient", tag=tag))
    people = ", ".join(f"{display_name(m)} ({status_label(m.status, language)})" for m in members)
    lines.append(texts.text(language, "topic_members", people=people))
    lines.append(texts.text(language, "topic_footer"))
    return "\n".join(lines)


def notice_text(key: str, language: str = "fr", **values: str) -> str:
    """A notice in a portal room (``key``: what ``bridge.matrix.inbound`` decided)."""
    return texts.text(language, f"notice_{key}", **values)


def megabytes(size: int, language: str = "fr") -> str:
    """A size in megabytes as the language writes it ("10.0 Mo")."""
    return texts.text(language, "size_megabytes", size=size / (1024 * 1024))
