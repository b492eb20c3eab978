"""The seeded directory: deterministic, large enough, and made of valid identifiers."""

from __future__ import annotations

from collections import Counter

import pytest

from bridge.core.identifiers import (
    INS_OID_TEST,
    parse_adeli,
    parse_finess,
    parse_id_nat,
    parse_ins,
    parse_rpps,
)
from bridge.spico.sandbox.seed import OCCITANIE_CITIES, SECRETARY, Directory, generate_directory

OCCITANIE_DEPARTMENTS = set(OCCITANIE_CITIES)


@pytest.fixture(scope="module")
def directory() -> Directory:
    return generate_directory(42)


def test_same_seed_gives_identical_directory(directory: Directory) -> None:
    assert generate_directory(42) == directory


def test_other_seed_gives_other_directory(directory: Directory) -> None:
    other = generate_directory(43)
    assert other.professionals[0] != directory.professionals[0]
    assert {p.id for p in other.professionals} != {p.id for p in directory.professionals}


def test_counts(directory: Directory) -> None:
    assert len(directory.professionals) >= 2000
    assert len(directory.structures) >= 50
    assert len(directory.patients) >= 200
    assert 80 <= len(directory.delegations) <= 140
    assert len(directory.resource_teams) >= 5
    assert len({p.profession for p in directory.professionals}) >= 10
    assert set(Counter(p.status for p in directory.professionals)) == {
        "online",
        "active",
        "absent",
        "inactive",
    }


def test_professional_identifiers_are_valid(directory: Directory) -> None:
    ids = [p.id for p in directory.professionals]
    assert len(set(ids)) == len(ids)
    adeli_share = sum(p.id_kind == "adeli" for p in directory.professionals) / len(ids)
    assert 0.10 <= adeli_share <= 0.20
    for professional in directory.professionals:
        parsed = parse_id_nat(professional.id)
        assert parsed.key_valid, professional.id
        assert parsed.kind == professional.id_kind
        if professional.id_kind == "rpps":
            assert professional.adeli is None
            assert parse_rpps(professional.rpps or "").key_valid
            assert professional.id == "8" + professional.rpps
        else:
            assert professional.rpps is None
            assert parse_adeli(professional.adeli or "").key_valid
            assert professional.id == "0" + professional.adeli
            assert professional.id[1:3] in OCCITANIE_DEPARTMENTS


def test_accounts_and_addresses(directory: Directory) -> None:
    professionals = directory.professionals
    without_account = [p for p in professionals if not p.has_account]
    assert 0.05 <= len(without_account) / len(professionals) <= 0.15
    assert all(p.status == "inactive" for p in without_account)
    addresses = [p.mssante_address for p in professionals] + [
        s.mssante_address for s in directory.structures
    ]
    assert len(set(addresses)) == len(addresses)
    assert all(
        a.endswith("@sandbox.mssante.fr") and a == a.lower() and a.isascii() for a in addresses
    )
    custom = generate_directory(42, mail_domain="test.mssante.fr")
    assert custom.professionals[0].mssante_address.endswith("@test.mssante.fr")


def test_structures_have_occitanie_finess(directory: Directory) -> None:
    assert {s.finess[:2] for s in directory.structures} == OCCITANIE_DEPARTMENTS
    for structure in directory.structures:
        assert parse_finess(structure.finess) == structure.finess
        assert structure.id == "1" + structure.finess
    structure_ids = {s.id for s in directory.structures}
    assert all(
        p.structure_id in structure_ids
        for p in directory.professionals
        if p.structure_id is not None
    )


def test_patients_have_valid_test_ins_and_care_circles(directory: Directory) -> None:
    accounts = {p.id for p in directory.professionals if p.has_account}
    circles: dict[str, list[str]] = {}
    for member in directory.care_circles:
        circles.setdefault(member.patient_id, []).append(member.professional_id)
    active_files = set(directory.active_files)
    for patient in directory.patients:
        assert parse_ins(patient.ins) == patient.ins
        assert patient.ins_oid == INS_OID_TEST
        assert patient.ins[0] == ("1" if patient.sex == "M" else "2")
        members = circles[patient.id]
        assert 2 <= len(members) <= 6
        assert len(set(members)) == len(members)
        assert set(members) <= accounts
        assert all((member, patient.id) in active_files for member in members)
    roles = Counter(m.role for m in directory.care_circles)
    assert roles["médecin traitant"] == len(directory.patients)


def test_delegations_and_teams(directory: Directory) -> None:
    by_id = {p.id: p for p in directory.professionals}
    for delegation in directory.delegations:
        assert by_id[delegation.holder_id].profession == SECRETARY
        assert by_id[delegation.account_id].has_account
    names = {team.name for team in directory.resource_teams}
    assert "Équipe mobile de soins palliatifs" in names
    assert "Dispositif d'appui à la coordination 31" in names
    for team in directory.resource_teams:
        assert len(team.members) >= 3
        assert all(by_id[member].has_account for member in team.members)
