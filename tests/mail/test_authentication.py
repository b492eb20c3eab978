"""Only the operator's own Authentication-Results count, read as RFC 8601 writes them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mail.authentication import (
    AuthCheck,
    AuthReason,
    Requirement,
    aligned,
    check_authentication,
    own_results,
    parse_authentication_results,
    registered_domain,
)

OURS = "mx.operateur.mssante.fr"
FROM = "x.mssante.fr"


def ar(value: str) -> tuple[str, str]:
    return ("Authentication-Results", value)


RECEIVED = ("Received", "from sender by mx.operateur.mssante.fr")


def check(fields: list[tuple[str, str]], require: Requirement, domain: str = FROM) -> AuthCheck:
    return check_authentication(fields, domain, require=require, authserv_id=OURS)


def test_reading_a_real_header_with_comments_and_quotes() -> None:
    parsed = parse_authentication_results(
        f"{OURS} (Postfix) 1; dkim=pass (2048-bit key; unprotected) (c2) header.d={FROM} "
        'header.i=@x.mssante.fr header.b="ab;c"; spf=pass (domain of a@x designates 192.0.2.1) '
        f"smtp.mailfrom=a@{FROM}; dmarc = pass (p=reject) header.from={FROM}"
    )
    assert parsed is not None and parsed.authserv_id == OURS
    assert [(r.method, r.result) for r in parsed.results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert parsed.results[0].properties["header.b"] == "ab;c"
    assert parse_authentication_results(f"{OURS}; none") is not None
    assert parse_authentication_results(f"{OURS}; spf=pass ((nested) c") is None


def test_only_our_topmost_consecutive_headers_count() -> None:
    fields = [
        ("Received", "by dovecot (LMTP)"),
        ar("internal.filter; dmarc=fail header.from=x.mssante.fr"),  # above ours: ignored
        ar(f"{OURS}; dmarc=pass header.from={FROM}"),
        ("ARC-Seal", "i=1"),
        ar(f"{OURS}; dkim=pass header.d={FROM}"),
        RECEIVED,
        ar(f"{OURS}; spf=pass smtp.mailfrom=a@{FROM}"),  # the sender's forgery, below
    ]
    results = own_results(fields, OURS)
    assert not isinstance(results, AuthReason)
    assert [r.method for r in results] == ["dmarc", "dkim"]


def test_a_header_with_another_id_ends_ours() -> None:
    fields = [
        ar(f"{OURS}; dmarc=fail header.from={FROM}"),
        ar("attacker.example; dmarc=pass"),
        ar(f"{OURS}; dmarc=pass header.from={FROM}"),
    ]
    assert check(fields, Requirement.DMARC) == AuthCheck(False, AuthReason.NO_DMARC_PASS)


def test_forged_pass_below_our_fail_is_not_read() -> None:
    fields = [ar(f"{OURS}; dmarc=fail header.from={FROM}"), RECEIVED]
    fields.append(ar(f"{OURS}; dmarc=pass header.from={FROM}"))
    assert not check(fields, Requirement.DMARC).passed
    assert not check(fields, Requirement.ALIGNED).passed


def test_no_header_of_ours() -> None:
    fields = [RECEIVED, ar("evil.example; dmarc=pass header.from=x.mssante.fr")]
    assert check(fields, Requirement.DMARC) == AuthCheck(False, AuthReason.NO_OWN_RESULTS)
    assert check(fields, Requirement.NONE) == AuthCheck(True, AuthReason.NOT_REQUIRED)
    unreadable = [ar(f"{OURS}; dmarc=pass (unclosed")]
    assert check(unreadable, Requirement.DMARC).reason is AuthReason.OWN_RESULTS_UNREADABLE


def test_dmarc_must_pass_for_the_author_domain() -> None:
    other = [ar(f"{OURS}; dmarc=pass header.from=y.mssante.fr")]
    assert check(other, Requirement.DMARC).reason is AuthReason.NO_DMARC_PASS
    none = [ar(f"{OURS}; dmarc=none header.from={FROM}")]
    assert check(none, Requirement.DMARC).reason is AuthReason.NO_DMARC_PASS
    good = [ar(f"{OURS}; dmarc=pass header.from=X.MSSante.fr")]
    assert check(good, Requirement.DMARC) == AuthCheck(True, AuthReason.DMARC_PASS)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        (f"dkim=pass header.d={FROM}", AuthReason.DKIM_ALIGNED),
        (f"dkim=pass header.d=mail.{FROM}", AuthReason.DKIM_ALIGNED),
        (f"dkim=pass header.i=@{FROM}", AuthReason.DKIM_ALIGNED),
        ("dkim=pass header.d=y.mssante.fr", AuthReason.NOT_ALIGNED),
        ("dkim=pass header.d=mssante.fr", AuthReason.NOT_ALIGNED),
        (f"dkim=fail header.d={FROM}", AuthReason.NOT_ALIGNED),
        (f"spf=pass smtp.mailfrom=bounce@{FROM}", AuthReason.SPF_ALIGNED),
        (f"spf=pass smtp.mailfrom={FROM}", AuthReason.SPF_ALIGNED),
        ("spf=pass smtp.mailfrom=a@y.mssante.fr", AuthReason.NOT_ALIGNED),
        (f"spf=softfail smtp.mailfrom=a@{FROM}", AuthReason.NOT_ALIGNED),
        (f"dmarc=none header.from={FROM}; dkim=pass header.d={FROM}", AuthReason.DKIM_ALIGNED),
        (f"dmarc=fail header.from={FROM}; dkim=pass header.d={FROM}", AuthReason.NO_DMARC_PASS),
    ],
)
def test_aligned_policy(results: str, expected: AuthReason) -> None:
    found = check([ar(f"{OURS}; {results}")], Requirement.ALIGNED)
    assert found.reason is expected
    assert found.passed is (expected in (AuthReason.DKIM_ALIGNED, AuthReason.SPF_ALIGNED))


def test_registered_domains_treat_mssante_fr_as_shared() -> None:
    assert registered_domain("a.x.mssante.fr") == "x.mssante.fr"
    assert registered_domain("mssante.fr") is None
    assert registered_domain("a.chu-nantes.fr") == "chu-nantes.fr"
    assert registered_domain("a.b.co.uk") == "b.co.uk"
    assert registered_domain("fr") is None
    assert aligned("x.mssante.fr", "a.x.mssante.fr")
    assert not aligned("b.x.mssante.fr", "a.x.mssante.fr")  # siblings
    assert not aligned("mssante.fr", "x.mssante.fr")
    assert aligned("chu-nantes.fr", "mail.chu-nantes.fr", shared_suffixes=())
    assert aligned("y.mssante.fr", "x.mssante.fr", shared_suffixes=()) is False


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_header_value_is_read_or_refused(value: str) -> None:
    parsed = parse_authentication_results(value)
    assert parsed is None or isinstance(parsed.authserv_id, str)
