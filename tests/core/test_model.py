"""The participant mapping between SPICO ids and Matrix users, both ways (pure)."""

from __future__ import annotations

from bridge.config import ParticipantConfig as ConfiguredParticipant
from bridge.core.model import Participant, matrix_users_by_spico_id, spico_ids_by_matrix_user


def test_matrix_users_and_spico_ids_map_both_ways() -> None:
    participants = [
        Participant("810000000009", matrix_user="@jean:test"),
        Participant("810000000017", mail="anne@sandbox.mssante.fr"),  # mail only
    ]
    by_user = spico_ids_by_matrix_user(participants)
    assert by_user == {"@jean:test": "810000000009"}
    assert matrix_users_by_spico_id(by_user) == {"810000000009": "@jean:test"}


def test_the_configs_entries_map_the_same_way() -> None:
    entries = [ConfiguredParticipant(spico_id="810000000009", matrix_user="@jean:test")]
    assert spico_ids_by_matrix_user(entries) == {"@jean:test": "810000000009"}
