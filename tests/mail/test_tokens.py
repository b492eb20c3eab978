"""Reply tokens: round trip, forgery, expiry, size (property-based)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.mail import tokens

KEY = b"k" * 48
ids = st.text(min_size=1, max_size=80).filter(lambda s: "\x00" not in s)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2140, 1, 1))


@given(ids, ids, days)
def test_a_token_verifies_for_its_thread_until_it_expires(
    conversation: str, member: str, expires: date
) -> None:
    text = tokens.issue(KEY, conversation, member, expires)
    assert len(f"bridge+{text}") <= 64 and text == text.lower()
    token = tokens.decode(text.upper())  # clients may change the case of addresses
    assert token is not None and token.handle == tokens.thread_handle(conversation, member)
    assert tokens.verify(KEY, token, conversation, member, expires) is tokens.TokenCheck.OK
    later = expires + timedelta(days=1)
    assert tokens.verify(KEY, token, conversation, member, later) is tokens.TokenCheck.EXPIRED


@given(ids, ids, ids, days)
def test_a_token_does_not_verify_for_another_thread_or_key(
    conversation: str, member: str, other: str, expires: date
) -> None:
    token = tokens.decode(tokens.issue(KEY, conversation, member, expires))
    assert token is not None
    if other != member:
        check = tokens.verify(KEY, token, conversation, other, expires)
        assert check is tokens.TokenCheck.FORGED
    assert tokens.verify(b"x" * 48, token, conversation, member, expires) is (
        tokens.TokenCheck.FORGED
    )


@given(ids, ids, days, st.integers(min_value=0, max_value=31), st.sampled_from("abcdefgh"))
def test_any_changed_character_is_a_forgery(
    conversation: str, member: str, expires: date, position: int, replacement: str
) -> None:
    text = tokens.issue(KEY, conversation, member, expires)
    changed = text[:position] + replacement + text[position + 1 :]
    token = tokens.decode(changed)
    if changed == text or token is None:
        return
    check = tokens.verify(KEY, token, conversation, member, date(2000, 1, 1))
    assert check is tokens.TokenCheck.FORGED or token.expires != expires


@given(st.text(max_size=64))
def test_decode_never_crashes(text: str) -> None:
    tokens.decode(text)
