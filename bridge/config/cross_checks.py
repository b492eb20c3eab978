"""Checks across entries, on the raw data: they run even when other sections are invalid, so
an admin sees a duplicate mapping together with every other problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic_core import PydanticCustomError

from bridge.config.problems import ConfigProblem, line_for
from bridge.config.values import check_email, check_id_nat, check_matrix_user
from bridge.core.identifiers import parse_id_nat

PATIENT_MAIL_DOMAIN = "patient.mssante.fr"


def check_participants_raw(
    data: Mapping[Any, Any], file: str, lines: Mapping[str, int]
) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """Duplicate mappings (errors), bad idNat keys (warnings), patient mailboxes (errors)."""
    problems: list[ConfigProblem] = []
    warnings: list[ConfigProblem] = []
    entries = data.get("participants")
    if not isinstance(entries, list):
        return problems, warnings
    mail_section = data.get("mail")
    allow_patient = (
        isinstance(mail_section, dict) and mail_section.get("allow_patient_mailboxes") is True
    )

    normalisers: dict[str, Callable[[str], str]] = {
        "spico_id": check_id_nat,
        "matrix_user": check_matrix_user,
        "mail": lambda value: check_email(value).casefold(),
    }
    seen: dict[str, dict[str, str]] = {key: {} for key in normalisers}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        for key, normalise in normalisers.items():
            value = entry.get(key)
            if not isinstance(value, str):
                continue
            try:
                normal = normalise(value)
            except PydanticCustomError:
                continue  # reported by the model
            path = f"participants[{index}].{key}"
            line = line_for(lines, path)
            first = seen[key].get(normal)
            if first is not None:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        path,
                        f"duplicate mapping: {key} {value!r} is already mapped by {first} "
                        f"(line {line_for(lines, first)})",
                    )
                )
            else:
                seen[key][normal] = path
            if key == "spico_id" and not parse_id_nat(value).key_valid:
                warnings.append(
                    ConfigProblem(
                        file,
                        line,
                        path,
                        "warning: the RPPS/ADELI check digit (Luhn key) does not match; "
                        "kept as given, check the number",
                    )
                )
            if key == "mail" and not allow_patient:
                domain = normal.rpartition("@")[2]
                if domain == PATIENT_MAIL_DOMAIN or domain.endswith("." + PATIENT_MAIL_DOMAIN):
                    problems.append(
                        ConfigProblem(
                            file,
                            line,
                            path,
                            "this is a patient's own mailbox (Mon espace santé); the bridge "
                            "does not send there unless mail.allow_patient_mailboxes is true",
                        )
                    )
    return problems, warnings
