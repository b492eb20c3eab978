"""The delivery contract's data: what a sink reads of a SPICO message, its conversation and
patient, parsed once by the hub from the journaled JSON (pure, frozen).

Sinks never dig into raw SPICO payloads: a field SPICO renames or leaves out is handled here,
once, instead of in each world. ``patient_tag`` is the one way a patient is shown outside
SPICO (room names and topics, mail subjects), per ``policy.*_patient_tag``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PatientView:
    """The patient a conversation is about (identity traits as SPICO gives them)."""

    id: str
    first_name: str = ""
    last_name: str = ""
    birth_date: str = ""


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """A file a message lists (its bytes stay in SPICO until a sink fetches them)."""

    id: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageView:
    """A SPICO conversation message: who posted it (``author_id``), who typed it under a
    delegation (``sent_by``), and whether it is a platform notice."""

    id: str
    body: str = ""
    author_id: str | None = None
    sent_by: str | None = None
    created_at: str = ""
    notice: bool = False
    attachments: tuple[AttachmentView, ...] = ()

    @property
    def writer_id(self) -> str | None:
        """The professional who wrote it: the delegate when there is one."""
        return self.sent_by or self.author_id


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def patient_view(data: Mapping[str, Any] | None) -> PatientView | None:
    """A patient from SPICO JSON (a conversation's ``patient``); None without one."""
    if not isinstance(data, Mapping) or not data:
        return None
    return PatientView(
        id=_text(data.get("id")),
        first_name=_text(data.get("first_name")).strip(),
        last_name=_text(data.get("last_name")).strip(),
        birth_date=_text(data.get("birth_date")),
    )


def _attachments(items: Iterable[Any]) -> tuple[AttachmentView, ...]:
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not item.get("id"):
            continue
        size = item.get("size")
        found.append(
            AttachmentView(
                id=str(item["id"]),
                filename=_text(item.get("filename")),
                content_type=_text(item.get("content_type")) or "application/octet-stream",
                size=size if isinstance(size, int) and size >= 0 else 0,
            )
        )
    return tuple(found)


def message_view(data: Mapping[str, Any] | None) -> MessageView | None:
    """A message from SPICO JSON (``Message`` of openapi.yaml); None when it is not one."""
    if not isinstance(data, Mapping) or not data:
        return None
    return MessageView(
        id=_text(data.get("id")),
        body=_text(data.get("body")),
        author_id=_text(data.get("author_id")) or None,
        sent_by=_text(data.get("sent_by")) or None,
        created_at=_text(data.get("created_at")),
        notice=data.get("kind") == "notice",
        attachments=_attachments(data.get("attachments") or ()),
    )


def event_message(payload: Mapping[str, Any] | None) -> MessageView | None:
    """The message an event carries (``data.message`` of a ``message.posted``), or None."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    return message_view(data.get("message") if isinstance(data, Mapping) else None)


def _initials(name: str) -> str:
    """First letter of each part of a compound name: "Jean-Pierre" → "J-P"."""
    parts = [p for p in name.replace("-", " - ").split() if p]
    return "".join(p if p == "-" else p[0].upper() for p in parts)


def patient_tag(patient: PatientView | None, policy: str) -> str | None:
    """How the patient shows outside SPICO: "J-P.D." (initials, the default: data
    minimisation), "Jean-Pierre DUPONT" (full), the SPICO patient id (id), or nothing (none, or
    no patient)."""
    if patient is None or policy == "none":
        return None
    if policy == "id":
        return patient.id or None
    first, last = patient.first_name, patient.last_name
    if policy == "full":
        return " ".join(p for p in (first, last.upper()) if p) or None
    initials = [i for i in (_initials(first), _initials(last)) if i]
    return "".join(f"{i}." for i in initials) or None
