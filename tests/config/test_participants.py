"""``participants:`` entries: a valid idNat and at least one destination."""

from __future__ import annotations

from tests.config.cases import MINIMAL, PARTICIPANTS_HEADER, Check, only_error, prefix


def test_bad_id_nat_is_an_error(check: Check) -> None:
    code, errors, _ = check(
        MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "12345"\n    mail: a@ch.mssante.fr\n'
    )
    assert code == 2
    assert "idNat" in only_error(errors, 10, "participants[0].spico_id")


def test_participant_needs_a_destination(check: Check) -> None:
    text = MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "810000000009"\n    delivery: mail\n'
    code, errors, _ = check(text)
    assert code == 2
    assert errors == [
        prefix(10, "participants[0]") + "give matrix_user, mail or both for this professional",
        prefix(11, "participants[0].delivery") + "delivery mail needs mail",
    ]
