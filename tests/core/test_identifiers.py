"""Identifier helpers: examples from the texts, and properties over generated numbers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.fr import nir

from bridge.core import identifiers as ids


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_generated_rpps_has_a_valid_key_and_round_trips_through_id_nat(payload: str) -> None:
    rpps = ids.luhn_complete(payload)
    parsed = ids.parse_rpps(rpps)
    assert parsed.key_valid
    assert parsed.id_nat == "8" + rpps
    assert ids.parse_id_nat(parsed.id_nat) == parsed


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(1, 9))
def test_changing_one_digit_of_an_rpps_is_reported_not_refused(payload: str, delta: int) -> None:
    rpps = ids.luhn_complete(payload)
    position = len(payload) // 2
    wrong = rpps[:position] + str((int(rpps[position]) + delta) % 10) + rpps[position + 1 :]
    parsed = ids.parse_rpps(wrong)
    assert parsed.number == wrong
    assert not parsed.key_valid


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_generated_adeli_round_trips_through_id_nat(payload: str) -> None:
    adeli = ids.luhn_complete(payload)
    parsed = ids.parse_id_nat("0" + adeli)
    assert parsed.kind == "adeli" and parsed.number == adeli and parsed.key_valid


@pytest.mark.parametrize(
    "value",
    ["", "8123", "91234567890", "8" + "1" * 12, "0" + "1" * 10, "8abcdefghijk", "1" + "2" * 11],
)
def test_malformed_id_nat_is_refused(value: str) -> None:
    with pytest.raises(ids.IdentifierError):
        ids.parse_id_nat(value)


def test_id_nat_accepts_spaces_and_corsican_adeli() -> None:
    assert ids.parse_id_nat("8 1000 123 4565").number == "10001234565"
    assert ids.parse_id_nat("02A1234567").kind == "adeli"


@pytest.mark.parametrize("value", ["310781234", "2A0001234", "2b0001234"])
def test_finess_format(value: str) -> None:
    assert ids.parse_finess(value) == value.upper()


@pytest.mark.parametrize("value", ["31078123", "3107812345", "2C0001234", "AB1234567"])
def test_bad_finess_is_refused(value: str) -> None:
    with pytest.raises(ids.IdentifierError):
        ids.parse_finess(value)


def test_ins_key_follows_the_formula_including_corsica() -> None:
    body = "1850531123456"
    assert ids.ins_key(body) == f"{97 - int(body) % 97:02d}"
    assert ids.ins_key("185052A123456") == f"{97 - int('1850519123456') % 97:02d}"
    assert ids.ins_key("185052B123456") == f"{97 - int('1850518123456') % 97:02d}"


nir_bodies = st.builds(
    lambda sex, year, month, dept, commune, order: (
        f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}"
    ),
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["31", "34", "09", "2A", "2B", "66"]),
    st.integers(1, 990),
    st.integers(1, 999),
)


@given(nir_bodies)
def test_generated_nir_is_valid_for_us_and_for_stdnum(body: str) -> None:
    ins = body + ids.ins_key(body)
    assert ids.parse_ins(ins) == ins
    assert nir.is_valid(ins)


@given(nir_bodies, st.integers(1, 96))
def test_a_wrong_ins_key_is_refused(body: str, shift: int) -> None:
    key = int(ids.ins_key(body))
    wrong = f"{(key - 1 + shift) % 97 + 1:02d}"
    with pytest.raises(ids.IdentifierError):
        ids.parse_ins(body + wrong)


@given(st.text(max_size=30))
def test_parsers_never_raise_anything_but_identifier_error(value: str) -> None:
    for parser in (
        ids.parse_id_nat,
        ids.parse_finess,
        ids.parse_ins,
        ids.parse_rpps,
        ids.parse_adeli,
    ):
        with contextlib.suppress(ids.IdentifierError):
            parser(value)


# --- the grammar of ids that go into SPICO URLs ----------------------------------------------

#: What a user could paste to make a path reach something else (yarl resolves ``..``; ``?`` and
#: ``#`` end the path; ``%2F`` is a slash once decoded; a newline ends a ``$`` match).
HOSTILE_IDS = (
    "..",
    ".",
    "../../accounts/810000000001/favorites/810000000002",
    "pat-1/../../accounts/810000000001/patients",
    "pat-1?x=1",
    "pat-1#x",
    "pat%2F..",
    "pat-1\n",
    "pat 1",
    "",
    "-x",
    "p" * 129,
    "810000000001/",
)


@pytest.mark.parametrize("value", HOSTILE_IDS)
@pytest.mark.parametrize(
    "kind",
    ["professional", "structure", "directory", "patient", "conversation", "attachment", "team"],
)
def test_ids_that_could_reshape_a_url_fit_no_grammar(kind: ids.IdKind, value: str) -> None:
    assert not ids.is_valid_id(kind, value)
    with pytest.raises(ids.BadIdentifier) as refused:
        ids.checked_id(kind, value)
    assert refused.value.kind == kind
    if value.strip():
        assert value.strip() not in str(refused.value), "the value never goes into the text"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("professional", "810011299269"),
        ("professional", "02A1234567"),
        ("structure", "1310000015"),
        ("directory", "810011299269"),
        ("directory", "12A0000015"),
        ("patient", "pat-00012"),
        ("conversation", "conv_0123456789abcdef0123456789abcdef"),
        ("attachment", "att_0f"),
        ("team", "emsp-toulouse"),
    ],
)
def test_ids_spico_makes_fit_their_grammar(kind: ids.IdKind, value: str) -> None:
    assert ids.checked_id(kind, value) == value


@given(st.text(max_size=40))
def test_an_accepted_opaque_id_holds_nothing_a_url_would_interpret(value: str) -> None:
    if ids.is_valid_id("patient", value):
        assert not set(value) & set("./?#%\\ \t\r\n&;=+@:")
        assert value.isascii()
