"""Checks across participants: duplicate mappings, idNat keys, patients' own mailboxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from tests.config.cases import MINIMAL, PARTICIPANTS_HEADER, Check, only_error, prefix


@pytest.mark.parametrize(
    ("first", "second", "key", "line"),
    [
        (
            '  - spico_id: "810000000009"\n    matrix_user: "@a:localhost"\n',
            '  - spico_id: "8 10000 00000 9"\n    matrix_user: "@b:localhost"\n',
            "spico_id",
            12,
        ),
        (
            '  - spico_id: "810000000009"\n    matrix_user: "@a:localhost"\n',
            '  - spico_id: "810000000017"\n    matrix_user: "@a:localhost"\n',
            "matrix_user",
            13,
        ),
        (
            '  - spico_id: "810000000009"\n    mail: Dr.A@ch.mssante.fr\n',
            '  - spico_id: "810000000017"\n    mail: dr.a@CH.mssante.fr\n',
            "mail",
            13,
        ),
    ],
)
def test_duplicate_participant_mapping(
    check: Check, first: str, second: str, key: str, line: int
) -> None:
    code, errors, _ = check(MINIMAL + PARTICIPANTS_HEADER + first + second)
    assert code == 2
    message = only_error(errors, line, f"participants[1].{key}")
    first_line = line - 2
    assert message.startswith(f"duplicate mapping: {key} ")
    assert message.endswith(f"is already mapped by participants[0].{key} (line {first_line})")


def test_bad_luhn_key_is_only_a_warning(check: Check, workdir: Path) -> None:
    text = (
        MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "810000000001"\n    mail: a@ch.mssante.fr\n'
    )
    code, errors, out = check(text)
    assert code == 0
    assert len(errors) == 1
    assert errors[0].startswith(prefix(10, "participants[0].spico_id") + "warning: ")
    assert out.endswith(": OK\n")
    config = load_config(workdir / "bridge.yaml", environ={})
    assert config.warnings == (errors[0],)


def test_patient_mailbox_is_refused(check: Check) -> None:
    text = (
        MINIMAL
        + PARTICIPANTS_HEADER
        + '  - spico_id: "810000000009"\n    mail: 1234567890123@patient.mssante.fr\n'
    )
    code, errors, _ = check(text)
    assert code == 2
    assert "patient's own mailbox" in only_error(errors, 11, "participants[0].mail")
