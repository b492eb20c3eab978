"""French health identifiers (RPPS, ADELI, idNat, FINESS, NIR/INS) and the grammar of every
id that goes into a SPICO URL.

Format errors are refused (``IdentifierError``); a wrong Luhn key on RPPS/ADELI is only reported
(``key_valid=False``), because no official text documents that key and a real directory entry
must never be rejected for it (see domain.md). NIR keys use python-stdnum.

``checked_id`` is the one gate of URL ids (the SPICO client calls it for every path segment):
an id typed by a user, read from a mail or even answered by SPICO is sent only when it fits the
grammar of its kind (``bridge/spico/openapi.yaml``), so ``..``, ``/``, ``?`` or ``#`` can never
turn a path into another account's data. The refusal (``BadIdentifier``) names the kind only,
never the value (it may be anything a user pasted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

RPPS_LENGTH = 11
ADELI_LENGTH = 9
ID_NAT_RPPS_PREFIX = "8"
ID_NAT_ADELI_PREFIX = "0"

#: OIDs of the INS assigning authorities (NIR, NIA, test, demo).
INS_OID_NIR = "1.2.250.1.213.1.4.8"
INS_OID_NIA = "1.2.250.1.213.1.4.9"
INS_OID_TEST = "1.2.250.1.213.1.4.10"
INS_OID_DEMO = "1.2.250.1.213.1.4.11"

_DEPARTMENT = r"(?:\d{2}|2[AB])"
_ADELI_RE = re.compile(rf"^{_DEPARTMENT}\d{{7}}$")
_FINESS_RE = re.compile(rf"^{_DEPARTMENT}\d{{7}}$")
_INS_RE = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$")


class IdentifierError(ValueError):
    """An identifier whose format is wrong (the message says how)."""


#: The kinds of ids SPICO's URLs carry (``bridge/spico/openapi.yaml``).
IdKind = Literal[
    "professional", "structure", "directory", "patient", "conversation", "attachment", "team"
]

#: idNat: ``8`` + RPPS (11 digits) or ``0`` + ADELI (department, 7 digits).
ID_NAT_PATTERN = r"(?:8[0-9]{11}|0(?:[0-9]{2}|2[AB])[0-9]{7})"
#: A structure's id: ``1`` + FINESS.
STRUCTURE_ID_PATTERN = r"1(?:[0-9]{2}|2[AB])[0-9]{7}"
#: SPICO's opaque ids (patients, conversations, attachments, resource teams): letters, digits,
#: ``_`` and ``-``, starting with a letter or digit, at most 128 characters. No ``.``, ``/``,
#: ``%``, ``?``, ``#`` or space: nothing a URL resolves or splits.
OPAQUE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_ID_GRAMMARS: dict[str, re.Pattern[str]] = {
    "professional": re.compile(ID_NAT_PATTERN),
    "structure": re.compile(STRUCTURE_ID_PATTERN),
    "directory": re.compile(f"{ID_NAT_PATTERN}|{STRUCTURE_ID_PATTERN}"),
    "patient": re.compile(OPAQUE_ID_PATTERN),
    "conversation": re.compile(OPAQUE_ID_PATTERN),
    "attachment": re.compile(OPAQUE_ID_PATTERN),
    "team": re.compile(OPAQUE_ID_PATTERN),
}


class BadIdentifier(IdentifierError):
    """An id that does not fit the grammar of its ``kind``: it is never sent. The message
    names the kind only (the value may be anything a user pasted, or a patient record)."""

    def __init__(self, kind: IdKind) -> None:
        super().__init__(f"not a valid {kind} id")
        self.kind: IdKind = kind


def is_valid_id(kind: IdKind, value: object) -> bool:
    """Whether ``value`` fits the grammar of ``kind`` (whole string, no trailing newline)."""
    return isinstance(value, str) and _ID_GRAMMARS[kind].fullmatch(value) is not None


def checked_id(kind: IdKind, value: object) -> str:
    """``value`` when it fits the grammar of ``kind``; else :class:`BadIdentifier`."""
    if not is_valid_id(kind, value):
        raise BadIdentifier(kind)
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True)
class ProfessionalId:
    """A professional's national identifier, split into its parts."""

    kind: Literal["rpps", "adeli"]
    number: str
    key_valid: bool

    @property
    def id_nat(self) -> str:
        prefix = ID_NAT_RPPS_PREFIX if self.kind == "rpps" else ID_NAT_ADELI_PREFIX
        return prefix + self.number


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", str(value)).upper()


def _luhn_ok(digits: str) -> bool:
    return digits.isdigit() and luhn.is_valid(digits)


def parse_rpps(value: str) -> ProfessionalId:
    """Parse an 11-digit RPPS number; the Luhn key is checked but only reported."""
    number = _compact(value)
    if len(number) != RPPS_LENGTH or not number.isdigit():
        raise IdentifierError(
            f"an RPPS number has {RPPS_LENGTH} digits, got {len(number)} characters"
        )
    return ProfessionalId("rpps", number, _luhn_ok(number))


def parse_adeli(value: str) -> ProfessionalId:
    """Parse a 9-character ADELI number (department, including 2A/2B, then 7 digits)."""
    number = _compact(value)
    if not _ADELI_RE.match(number):
        raise IdentifierError("an ADELI number has 9 characters: a department code and 7 digits")
    return ProfessionalId("adeli", number, _luhn_ok(number))


def parse_id_nat(value: str) -> ProfessionalId:
    """Parse a professional idNat: ``8`` + RPPS or ``0`` + ADELI."""
    compact = _compact(value)
    if compact.startswith(ID_NAT_RPPS_PREFIX) and len(compact) == RPPS_LENGTH + 1:
        return parse_rpps(compact[1:])
    if compact.startswith(ID_NAT_ADELI_PREFIX) and len(compact) == ADELI_LENGTH + 1:
        return parse_adeli(compact[1:])
    raise IdentifierError(
        "a professional idNat is '8' followed by an 11-digit RPPS number "
        "or '0' followed by a 9-character ADELI number"
    )


def luhn_complete(payload: str) -> str:
    """Append the Luhn check digit to a string of digits (used to generate sandbox numbers)."""
    if not payload.isdigit():
        raise IdentifierError("a Luhn payload is made of digits only")
    return payload + luhn.calc_check_digit(payload)


def parse_finess(value: str) -> str:
    """Check a FINESS number's format (9 characters, department first) and return it compact."""
    number = _compact(value)
    if not _FINESS_RE.match(number):
        raise IdentifierError("a FINESS number has 9 characters: a department code and 7 digits")
    return number


def ins_key(first13: str) -> str:
    """The 2-digit key of a NIR/NIA: 97 - (number mod 97), Corsica 2A→19, 2B→18."""
    body = _compact(first13)
    if len(body) != 13:
        raise IdentifierError("the body of an INS has 13 characters")
    try:
        return stdnum_nir.calc_check_digits(body)
    except (ValidationError, ValueError) as exc:
        raise IdentifierError(f"not a valid INS body: {body!r}") from exc


def parse_ins(value: str) -> str:
    """Validate a NIR or NIA (15 characters with its key) and return it compact.

    python-stdnum checks NIRs; a NIA has the same key but may carry values stdnum refuses
    (e.g. a birth month outside 1-12), so the key is the authority here.
    """
    number = _compact(value)
    if not _INS_RE.match(number):
        raise IdentifierError("an INS has 15 characters: 13 for the number and a 2-digit key")
    if ins_key(number[:13]) != number[13:]:
        raise IdentifierError("the INS key does not match its number")
    return number
