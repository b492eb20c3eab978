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
