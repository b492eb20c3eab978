"""Starting a SPICO conversation by mail (pure): read what a new mail asks.

A professional writes a *new* mail (not a reply) to the bridge's own address: the subject
becomes the conversation's subject, every other To/Cc address a member (found in the SPICO
directory by MSSanté address), the new text the first message, and an optional line
``Patient : <patient id or INS>`` links the patient. It is all or nothing: one address that
cannot be a member, a missing subject, a patient that cannot be found, and no conversation is
created; the sender gets an answer saying what to fix (``bridge.mail.answers``).

Which mails ask for a new conversation is decided with the other trust checks
(``bridge.mail.threads.is_new_conversation``). Everything here is plain data in, plain data
out; ``bridge.mail.starting`` does the lookups (through the ``SpicoComposer``) and SPICO itself
decides what it allows (delegations, patient access): nothing here lets through what SPICO
would refuse.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bridge.core.composer import DirectoryEntry, PatientEntry
from bridge.core.delivery import Attachment
from bridge.core.identifiers import IdentifierError, parse_ins
from bridge.mail import texts
from bridge.mail.assess import PATIENT_DOMAIN
from bridge.mail.body import Body
from bridge.mail.threads import member_addresses

#: SPICO's limit on a subject (openapi.yaml ``Subject``).
MAX_SUBJECT_CHARS = 200
#: More addresses than this in one mail is not a care team: refused (and bounds the lookups).
MAX_MEMBERS = 30

PatientKind = Literal["id", "ins"]
#: Why an address cannot be a member.
AddressProblemKind = Literal["unknown", "untrusted", "structure"]


@dataclass(frozen=True, slots=True)
class PatientRef:
    """The patient a ``Patient :`` line names: a SPICO patient id or an INS (compact)."""

    kind: PatientKind
    value: str


@dataclass(frozen=True, slots=True)
class AddressProblem:
    address: str
    why: AddressProblemKind


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no conversation was created; ``reason`` picks the answer's sentence.

    Reasons: ``sender_unknown``, ``sender_no_account``,
    ``no_subject``, ``no_members``, ``too_many_members``, ``empty``, ``addresses`` (see
    ``addresses``), ``several_patients``, ``invalid_ins``, ``patient_not_found``,
    ``spico_refused`` (``code`` and ``message`` are SPICO's).
    """

    reason: str
    addresses: tuple[AddressProblem, ...] = ()
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """What a new-conversation mail asks for, before any lookup."""

    subject: str
    body: str
    addresses: tuple[str, ...]
    patient: PatientRef | None = None
    attachments: tuple[Attachment, ...] = field(default=())


# --- the Patient line --------------------------------------------------------------------------

_PATIENT_LINE = re.compile(r"^\s*\**\s*patiente?\s*\**\s*:\s*\**\s*(?P<value>.+?)\s*\**\s*$", re.I)
_INS_SHAPE = re.compile(r"^[0-9][0-9AB\s.]+[0-9]$", re.I)
_PATIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-:.]{0,63}$")


def _patient_value(value: str) -> PatientRef | str | None:
    """A PatientRef, ``"invalid_ins"`` for an INS-shaped value with a wrong key, or None when
    the line is ordinary text (``Patient : stable``)."""
    compact = re.sub(r"[\s.]", "", value).upper()
    if _INS_SHAPE.match(value) and len(compact) == 15:
        try:
            return PatientRef("ins", parse_ins(compact))
        except IdentifierError:
            return "invalid_ins"
    if _PATIENT_ID.match(value) and any(char.isdigit() for char in value):
        return PatientRef("id", value)
    return None


def extract_patient(text: str) -> tuple[str, PatientRef | None, str | None]:
    """The text without its ``Patient :`` line(s), the patient named, and a problem
    (``several_patients``, ``invalid_ins``) when the lines cannot be used."""
    kept: list[str] = []
    found: list[PatientRef] = []
    problem: str | None = None
    for line in text.split("\n"):
        match = _PATIENT_LINE.match(line)
        value = _patient_value(match.group("value")) if match else None
        if value is None:
            kept.append(line)
            continue
        if isinstance(value, str):
            problem = problem or value
        elif value not in found:
            found.append(value)
    if len(found) > 1:
        problem = "several_patients"
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return body, (found[0] if found else None), problem


# --- reading the request -----------------------------------------------------------------------


def clean_subject(subject: str) -> str:
    """The subject as SPICO will show it: one line, at most SPICO's length."""
    text = " ".join(subject.split())
    return text[:MAX_SUBJECT_CHARS].rstrip()


def attachments_line(attachments: Sequence[Attachment], language: str) -> str:
    """The first message of a mail with attachments and no text: what it carries."""
    names = ", ".join(a.filename for a in attachments)
    return texts.text(language, "attachments_named", names=names)


def read_request(
    *,
    subject: str,
    addressed: Sequence[str],
    author: str,
    body: Body,
    own_address: str,
    language: str = "fr",
) -> Request | Refusal:
    """Subject, first message (the body's new text, Patient line removed), member addresses
    (To/Cc but the bridge and the author) and patient of a new-conversation mail, or why it
    cannot start one. ``author`` is the authenticated addr-spec, never a display name."""
    cleaned = clean_subject(subject)
    if not cleaned:
        return Refusal("no_subject")
    addresses = member_addresses(addressed, author, own_address)
    if not addresses:
        return Refusal("no_members")
    if len(addresses) > MAX_MEMBERS:
        return Refusal("too_many_members")
    text, patient, problem = extract_patient(body.text)
    if problem is not None:
        return Refusal(problem)
    if not text:
        if not body.attachments:
            return Refusal("empty")
        text = attachments_line(body.attachments, language)
    return Request(cleaned, text, tuple(addresses), patient, body.attachments)


def sender_problem(entry: DirectoryEntry | None) -> Refusal | None:
    """The sender must be a professional of the directory holding a SPICO account."""
    if entry is None or entry.kind != "professional":
        return Refusal("sender_unknown")
    if not entry.has_account:
        return Refusal("sender_no_account")
    return None


def trusted_address(
    address: str, is_trusted: Callable[[str], bool], allow_patient_mailboxes: bool = False
) -> bool:
    """Inside the trust space (patients' own mailboxes only when enabled), as for senders."""
    domain = address.rpartition("@")[2].lower()
    patient = domain == PATIENT_DOMAIN or domain.endswith("." + PATIENT_DOMAIN)
    return is_trusted(address) and not (patient and not allow_patient_mailboxes)


def resolve_members(
    addresses: Sequence[str],
    entries: Mapping[str, DirectoryEntry | None],
    *,
    sender_id: str,
    trusted: Callable[[str], bool],
) -> tuple[list[str], list[AddressProblem]]:
    """Member ids for the addresses (in order, once each, not the sender), and every address
    that cannot be a member: outside the trust space, not in the directory, or a structure
    (SPICO conversations are between professionals)."""
    members: list[str] = []
    problems: list[AddressProblem] = []
    for address in addresses:
        if not trusted(address):
            problems.append(AddressProblem(address, "untrusted"))
            continue
        entry = entries.get(address)
        if entry is None:
            problems.append(AddressProblem(address, "unknown"))
        elif entry.kind != "professional":
            problems.append(AddressProblem(address, "structure"))
        elif entry.id != sender_id and entry.id not in members:
            members.append(entry.id)
    return members, problems


def find_patient(patients: Iterable[PatientEntry], ins: str) -> PatientEntry | None:
    """The patient of the sender's active files with this INS."""
    wanted = re.sub(r"[\s.]", "", ins).upper()
    for patient in patients:
        if re.sub(r"[\s.]", "", patient.ins).upper() == wanted:
            return patient
    return None


def idempotency_key(message_id: str) -> str:
    """SPICO's key for the creation: the mail's Message-ID (hashed when too long)."""
    key = f"mail:new:{message_id}"
    if len(key) <= 200:
        return key
    return "mail:new:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


__all__ = [
    "AddressProblem",
    "PatientRef",
    "Refusal",
    "Request",
    "attachments_line",
    "clean_subject",
    "extract_patient",
    "find_patient",
    "idempotency_key",
    "read_request",
    "resolve_members",
    "sender_problem",
    "trusted_address",
]
