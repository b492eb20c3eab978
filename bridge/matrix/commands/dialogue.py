"""The guided dialogue of ``new`` (pure): a draft, the step it is at, and what an answer means.

The draft is stored as JSON in the user's command state after every step, so a dialogue
survives a restart. Steps, in order, skipping what is already known: members → patient (only
when the dialogue started with no argument at all) → subject (required) → first message →
confirmation. Resolving what the user typed (numbers, addresses, patients) is the executor's
I/O; it hands the resolved values back through :func:`with_members` and friends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from bridge.matrix.commands.parse import (
    CANCEL_WORDS,
    NONE_WORDS,
    YES_WORDS,
    Ref,
    parse_ref,
    parse_refs,
    tokenize,
)

Step = Literal["members", "patient", "subject", "message", "confirm"]
MAX_SUBJECT_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Draft:
    members: tuple[str, ...] = ()
    #: Display names of ``members`` (same order), for the summary.
    labels: tuple[str, ...] = ()
    patient_id: str | None = None
    patient_label: str | None = None
    ask_patient: bool = False
    patient_done: bool = False
    subject: str | None = None
    message: str | None = None
    #: Pre-filled from a care circle (the members prompt offers the circle).
    from_circle: bool = False
    #: When that circle was looked at (ISO 8601), while the patient is still the circle's.
    circle_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = list(self.members)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Draft | None:
        if not data:
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["members"] = tuple(known.get("members") or ())
        known["labels"] = tuple(known.get("labels") or ())
        return cls(**known)


def next_step(draft: Draft) -> Step:
    if not draft.members:
        return "members"
    if draft.ask_patient and not draft.patient_done:
        return "patient"
    if not draft.subject:
        return "subject"
    if not draft.message:
        return "message"
    return "confirm"


def complete(draft: Draft) -> bool:
    """Everything needed to create the conversation is there (confirmation aside)."""
    return next_step(draft) == "confirm"


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class Members:
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class PatientChoice:
    """``ref`` None: no patient."""

    ref: Ref | None


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True)
class Confirm:
    pass


@dataclass(frozen=True, slots=True)
class Invalid:
    """The answer does not fit the step: ``reason`` is a texts key (the step is asked again)."""

    reason: str
    length: int = 0


Answer = Cancel | Members | PatientChoice | Text | Confirm | Invalid


def interpret(step: Step, answer: str) -> Answer:
    """What an answer typed at ``step`` means."""
    stripped = answer.strip()
    if stripped.lower() in CANCEL_WORDS:
        return Cancel()
    if step == "members":
        refs = parse_refs([t.text for t in tokenize(stripped)])
        return Members(tuple(refs)) if refs else Invalid("members_missing")
    if step == "patient":
        if stripped.lower() in NONE_WORDS:
            return PatientChoice(None)
        ref = parse_ref(stripped)
        return PatientChoice(ref) if ref is not None else Invalid("patient_usage")
    if step == "subject":
        subject = " ".join(stripped.split())
        if not subject:
            return Invalid("subject_missing")
        if len(subject) > MAX_SUBJECT_LENGTH:
            return Invalid("subject_too_long", len(subject))
        return Text(subject)
    if step == "message":
        return Text(answer.strip("\n")) if stripped else Invalid("message_missing")
    if stripped.lower().rstrip("!. ") in YES_WORDS:
        return Confirm()
    return Invalid("confirm_expected")


def with_members(draft: Draft, ids: list[str], labels: list[str]) -> Draft:
    """Add members (a later answer adds to what the dialogue already has)."""
    members = list(draft.members)
    names = list(draft.labels)
    for member, label in zip(ids, labels, strict=True):
        if member not in members:
            members.append(member)
            names.append(label)
    return replace(draft, members=tuple(members), labels=tuple(names))


def with_patient(draft: Draft, patient_id: str | None, label: str | None) -> Draft:
    return replace(draft, patient_id=patient_id, patient_label=label, patient_done=True)


def with_text(draft: Draft, step: Step, value: str) -> Draft:
    if step == "subject":
        return replace(draft, subject=value)
    if step == "message":
        return replace(draft, message=value)
    return draft


def prompt_key(draft: Draft, step: Step) -> str:
    """The texts key that asks for ``step``."""
    if step == "members":
        return "ask_members_circle" if draft.from_circle and draft.patient_id else "ask_members"
    return f"ask_{step}"
