"""Starting a SPICO conversation by mail (pure): recognise the mail, read what it asks.

A professional writes a *new* mail (not a reply) to the bridge's own address: the subject
becomes the conversation's subject, every other To/Cc address a member (found in the SPICO
directory by MSSanté address), the new text the first message, and an optional line
``Patient : <patient id or INS>`` links the patient. It is all or nothing: one address that
cannot be a member, a missing subject, a patient that cannot be found, and no conversation is
created; the sender gets an answer naming what to fix.

Everything here is plain data in, plain data out; ``bridge.mail.inbound`` does the lookups
(through the ``SpicoComposer``) and SPICO itself decides what it allows (delegations, patient
access): nothing here lets through what SPICO would refuse.
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
from bridge.mail import parse, texts
from bridge.mail.compose import TOKEN_REF_PREFIX

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

    Reasons: ``unauthenticated`` (never answered), ``sender_unknown``, ``sender_no_account``,
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


# --- recognising the mail ----------------------------------------------------------------------


def _is_own(address: str, own_address: str) -> bool:
    return parse._base_address(address) == own_address.lower()


def _looks_like_ours(reference: str, own_address: str) -> bool:
    """A Message-ID the bridge made (``<spico.…@domain>``) or a token reference."""
    inner = reference.strip("<>").lower()
    domain = own_address.rpartition("@")[2].lower()
    return (inner.startswith("spico.") and inner.endswith("@" + domain)) or inner.startswith(
        TOKEN_REF_PREFIX
    )


def is_new_conversation(
    facts: parse.MailFacts,
    own_address: str,
    *,
    known_references: Iterable[str] = (),
    matched_thread: bool = False,
) -> bool:
    """Whether a mail asks to start a conversation rather than answer one.

    It must name the bridge's own address (not a ``+token`` sub-address) in To or Cc, carry no
    reply token anywhere, and not answer a mail of the bridge (no reference to a stored or
    bridge-made Message-ID). A mail whose subject matches one of the sender's threads and that
    names nobody else is a reply whose client lost the headers: it stays a refused reply.
    """
    own = own_address.lower()
    if not own or own not in facts.addressed:
        return False
    if parse.sub_address_tokens(facts, own) or parse.reference_tokens(facts):
        return False
    known = set(known_references)
    if any(ref in known or _looks_like_ours(ref, own) for ref in facts.references):
        return False
    return not (matched_thread and not member_addresses(facts, own))


def member_addresses(facts: parse.MailFacts, own_address: str) -> list[str]:
    """Every To/Cc address but the bridge's own (any sub-address) and the sender's, in order."""
    sender = facts.from_address.lower()
    return [
        address
        for address in dict.fromkeys(a.lower() for a in facts.addressed)
        if address != sender and not _is_own(address, own_address)
    ]


_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)", re.I)


def authentication_failed(facts: parse.MailFacts) -> bool:
    """Whether a receiving server says the sender's domain did not send it: ``dmarc=fail``,
    or both ``spf=fail`` and ``dkim=fail`` (and no ``dkim=pass``) in one
    ``Authentication-Results``. A forged header saying "fail" only hurts its forger; nothing
    here trusts a "pass". Without such headers (most MSSanté setups) nothing is concluded."""
    for header in facts.authentication_results:
        results: dict[str, set[str]] = {}
        for method, result in _RESULT.findall(header):
            results.setdefault(method.lower(), set()).add(result.lower())
        if "fail" in results.get("dmarc", set()):
            return True
        dkim = results.get("dkim", set())
        if "fail" in results.get("spf", set()) and "fail" in dkim and "pass" not in dkim:
            return True
    return False


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
    facts: parse.MailFacts, own_address: str, language: str = "fr"
) -> Request | Refusal:
    """Subject, first message (quotes and signature stripped, Patient line removed), member
    addresses and patient of a new-conversation mail, or why it cannot start one."""
    subject = clean_subject(facts.subject)
    if not subject:
        return Refusal("no_subject")
    addresses = member_addresses(facts, own_address)
    if not addresses:
        return Refusal("no_members")
    if len(addresses) > MAX_MEMBERS:
        return Refusal("too_many_members")
    body, patient, problem = extract_patient(parse.strip_quotes(facts.text))
    if problem is not None:
        return Refusal(problem)
    if not body:
        if not facts.attachments:
            return Refusal("empty")
        body = attachments_line(facts.attachments, language)
    return Request(subject, body, tuple(addresses), patient, facts.attachments)


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
    patient = domain == parse.PATIENT_DOMAIN or domain.endswith("." + parse.PATIENT_DOMAIN)
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
    "authentication_failed",
    "clean_subject",
    "extract_patient",
    "find_patient",
    "idempotency_key",
    "is_new_conversation",
    "member_addresses",
    "read_request",
    "resolve_members",
    "sender_problem",
    "trusted_address",
]
