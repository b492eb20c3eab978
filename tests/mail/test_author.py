"""The author is the one addr-spec of the one From field, as mail servers read it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail.author import Author, AuthorProblem, read_author
from bridge.mail.limits import MailLimits


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        (
            "Anne Martin <anne.martin@sandbox.mssante.fr>",
            "anne.martin@sandbox.mssante.fr",
            "Anne Martin",
        ),
        (
            "Dr. Anne Martin <Anne.Martin@Sandbox.MSSante.fr>",
            "anne.martin@sandbox.mssante.fr",
            "Dr. Anne Martin",
        ),
        ('"Martin, Anne" <a@x.mssante.fr>', "a@x.mssante.fr", "Martin, Anne"),
        ("=?utf-8?q?Ren=C3=A9e_L=C3=A9vy?= <r@x.mssante.fr>", "r@x.mssante.fr", "Renée Lévy"),
        ("a@x.mssante.fr", "a@x.mssante.fr", ""),
        ("<a@x.mssante.fr>", "a@x.mssante.fr", ""),
        # A name that restates the same address is what some clients write.
        ('"a@x.mssante.fr" <a@x.mssante.fr>', "a@x.mssante.fr", "a@x.mssante.fr"),
        ("Anne Martin (a@x.mssante.fr) <a@x.mssante.fr>", "a@x.mssante.fr", "Anne Martin"),
        ("MAILER-DAEMON@mx.x.fr (Mail Delivery System)", "mailer-daemon@mx.x.fr", ""),
    ],
)
def test_ordinary_authors_are_read(value: str, address: str, name: str) -> None:
    assert read_author([value]) == Author(address, name)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        # The member's address in the display name, in every disguise.
        ("dr.a@x.mssante.fr <attacker@y.mssante.fr>", AuthorProblem.FROM_DEFECT),
        ('"dr.a@x.mssante.fr" <attacker@y.mssante.fr>', AuthorProblem.ADDRESS_IN_NAME),
        ('"dr.a@x.mssante.fr"<attacker@y.mssante.fr>', AuthorProblem.ADDRESS_IN_NAME),
        ("attacker@y.mssante.fr (dr.a@x.mssante.fr)", AuthorProblem.ADDRESS_IN_NAME),
        ("Anne (dr.a@x.mssante.fr) <attacker@y.mssante.fr>", AuthorProblem.ADDRESS_IN_NAME),
        ("=?utf-8?q?dr.a=40x.mssante.fr?= <attacker@y.mssante.fr>", AuthorProblem.ADDRESS_IN_NAME),
        (
            "=?utf-8?b?ZHIuYUB4Lm1zc2FudGUuZnI=?= <attacker@y.mssante.fr>",
            AuthorProblem.ADDRESS_IN_NAME,
        ),
        ("dr.a\uff20x.mssante.fr <attacker@y.mssante.fr>", AuthorProblem.ADDRESS_IN_NAME),
        (
            '"dr.a\ufe6bx\uff0emssante\uff0efr" <attacker@y.mssante.fr>',
            AuthorProblem.ADDRESS_IN_NAME,
        ),
        ('"dr.a@x.mssante\u200b.fr" <attacker@y.mssante.fr>', AuthorProblem.ADDRESS_IN_NAME),
        ('"dr.a at x.mssante.fr" <attacker@y.mssante.fr>', AuthorProblem.ADDRESS_IN_NAME),
        ('"aa@x.mssante.fr" <a@x.mssante.fr>', AuthorProblem.ADDRESS_IN_NAME),
        # Not one mailbox.
        ("member, attacker@evil.fr", AuthorProblem.NOT_ONE_MAILBOX),
        ("a@x.mssante.fr, b@y.mssante.fr", AuthorProblem.NOT_ONE_MAILBOX),
        ("team: a@x.mssante.fr;", AuthorProblem.NOT_ONE_MAILBOX),
        ("undisclosed-recipients:;", AuthorProblem.NOT_ONE_MAILBOX),
        ("", AuthorProblem.NOT_ONE_MAILBOX),
        # Defects and unusual addresses.
        ("Anne <a@x.mssante.fr", AuthorProblem.FROM_DEFECT),
        ("Anne <a@x.mssante.fr> <b@y.mssante.fr>", AuthorProblem.FROM_DEFECT),
        ("Anne <@route.fr:a@x.mssante.fr>", AuthorProblem.FROM_DEFECT),
        ("garbage", AuthorProblem.FROM_DEFECT),
        ("a@x.mssante.fr, ", AuthorProblem.FROM_DEFECT),
        ('Anne <"a b"@x.mssante.fr>', AuthorProblem.UNUSUAL_ADDRESS),
        ("Anne <a@[192.0.2.1]>", AuthorProblem.UNUSUAL_ADDRESS),
        ("Anne <a@localhost>", AuthorProblem.UNUSUAL_ADDRESS),
        ("Anne <a@-x-.fr>", AuthorProblem.UNUSUAL_ADDRESS),
    ],
)
def test_forged_or_ambiguous_authors_are_refused(value: str, problem: AuthorProblem) -> None:
    assert read_author([value]) is problem


def test_exactly_one_from_field() -> None:
    assert read_author([]) is AuthorProblem.NO_FROM
    same = "a@x.mssante.fr"
    assert read_author([same, same]) is AuthorProblem.SEVERAL_FROM


def test_a_long_from_is_refused_before_it_is_parsed() -> None:
    value = "(" * 5000 + "a@x.mssante.fr"
    assert read_author([value], MailLimits(max_from_chars=2048)) is AuthorProblem.FROM_TOO_LONG


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_from_value_gives_an_author_or_a_problem(value: str) -> None:
    found = read_author([value])
    if isinstance(found, Author):
        # Whatever else the value said, the author is the one addr-spec it holds.
        assert found.address.count("@") == 1
        assert found.address == found.address.lower()
    else:
        assert isinstance(found, AuthorProblem)
