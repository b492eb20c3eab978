"""Value types: URLs and Matrix user ids."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error


def test_bad_url(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace("http://127.0.0.1:8008", "ftp://127.0.0.1:8008"))
    assert code == 2
    message = only_error(errors, 5, "matrix.homeserver")
    assert message == "'ftp://127.0.0.1:8008' is not an http:// or https:// URL"


def test_bad_matrix_user_id(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace('"@bot:localhost"', "bot"))
    assert code == 2
    assert "not a Matrix user id" in only_error(errors, 7, "matrix.bot_user_id")


def test_trusted_domain_patterns_are_read_with_uts46() -> None:
    from bridge.config import ascii_domain, matches_trusted_domains

    assert ascii_domain("mßante.fr") == "xn--mante-lqa.fr"
    assert ascii_domain("ex．mssante．fr") == "ex.mssante.fr"
    assert ascii_domain("A.MSSANTE.FR.") == "a.mssante.fr"
    assert ascii_domain("under_score.fr") is None
    assert not matches_trusted_domains("x@evil.mßante.fr", ["*.mssante.fr"])
    assert matches_trusted_domains("x@chu．mssante．fr", ["*.mssante.fr"])


def test_plain_http_to_a_remote_spico_is_refused(check: Check) -> None:
    text = MINIMAL.replace("http://127.0.0.1:8089", "http://spico.example.fr")
    code, errors, _ = check(text)
    assert code == 2
    message = only_error(errors, 2, "spico.base_url")
    assert "only allowed to a loopback host, not spico.example.fr" in message


def test_plain_http_to_a_remote_homeserver_is_refused(check: Check) -> None:
    text = MINIMAL.replace("http://127.0.0.1:8008", "http://matrix.example.fr")
    code, errors, _ = check(text)
    assert code == 2
    message = only_error(errors, 5, "matrix.homeserver")
    assert "only allowed to a loopback host, not matrix.example.fr" in message


def test_https_anywhere_and_http_on_loopback_are_accepted(check: Check) -> None:
    text = MINIMAL.replace("http://127.0.0.1:8089", "https://spico.example.fr")
    text = text.replace("http://127.0.0.1:8008", "http://localhost:8008")
    assert check(text)[:2] == (0, [])
