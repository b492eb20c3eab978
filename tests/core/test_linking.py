"""The rules of self-service links (pure): targets, who may link, the code's life and tries,
the rate limits, and how links join the config's mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core import linking
from bridge.core.linking import Challenge, check_code, code_digest, link_refusal, with_links
from bridge.core.model import Participant

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PRO, OTHER = "810001234567", "810007654321"
ME, YOU = "@me:example.org", "@you:example.org"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Jeanne.Martin@Test.MSSante.fr", ("address", "jeanne.martin@test.mssante.fr")),
        ("810001234567", ("id_nat", "810001234567")),
        ("10001234567", ("id_nat", "810001234567")),
        ("dupont", None),
        ("@me:example.org", None),
        ("1234", None),
    ],
)
def test_a_target_is_an_address_an_id_nat_or_an_rpps(
    word: str, expected: tuple[str, str] | None
) -> None:
    target = linking.parse_target(word)
    assert (None if target is None else (target.kind, target.value)) == expected


def test_the_config_wins_and_one_account_per_professional() -> None:
    pinned = {PRO: Participant(PRO, matrix_user=YOU)}
    assert link_refusal(PRO, ME, pinned, {}) == "pinned"
    assert link_refusal(OTHER, YOU, pinned, {}) == "user_pinned"
    assert link_refusal(PRO, ME, {}, {PRO: ME}) == "already_yours"
    assert link_refusal(OTHER, ME, {}, {PRO: ME}) == "user_linked"
    assert link_refusal(PRO, ME, {}, {PRO: YOU}) == "taken"
    assert link_refusal(PRO, ME, {}, {}) is None


def test_links_join_the_mapping_unless_the_config_names_them() -> None:
    forbidden = {OTHER: Participant(OTHER, mail="x@test.mssante.fr")}
    assert with_links(forbidden, {PRO: ME, OTHER: YOU}) == {ME: PRO}
    pinned = {OTHER: Participant(OTHER, matrix_user=ME)}
    assert with_links(pinned, {PRO: ME}) == {ME: OTHER}


def test_servers_allowed() -> None:
    assert linking.server_allowed(ME, (), "example.org")
    assert not linking.server_allowed("@me:elsewhere.org", (), "example.org")
    assert linking.server_allowed("@me:elsewhere.org", ("elsewhere.org",), "example.org")


def _challenge(tries: int = 0, expires: timedelta = linking.CODE_TTL) -> Challenge:
    return Challenge(1, PRO, code_digest("salt", "123456"), "salt", NOW + expires, tries)


def test_a_code_is_good_for_its_life_and_its_tries() -> None:
    assert check_code(_challenge(), "123 456", NOW) == "ok"
    assert check_code(_challenge(), "123457", NOW) == "wrong"
    assert check_code(_challenge(tries=linking.MAX_TRIES - 1), "123457", NOW) == "exhausted"
    assert check_code(_challenge(tries=linking.MAX_TRIES), "123456", NOW) == "exhausted"
    assert check_code(_challenge(expires=timedelta(0)), "123456", NOW) == "expired"
    assert check_code(None, "123456", NOW) == "none"


def test_rate_limits_per_user_and_per_professional() -> None:
    assert not linking.rate_limited(0, 0)
    assert linking.rate_limited(linking.MAX_CODES_PER_USER, 0)
    assert linking.rate_limited(0, linking.MAX_CODES_PER_PROFESSIONAL)
