"""``database:``: URL schemes, and no password written inline."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error


def test_database_url_with_inline_password_is_refused(check: Check) -> None:
    text = "database:\n  url: postgresql://bridge:hunter2@db/spico\n" + MINIMAL
    code, errors, _ = check(text)
    assert code == 2
    message = only_error(errors, 2, "database.url")
    assert "url_file or url_env" in message and "hunter2" not in message


def test_database_url_scheme(check: Check) -> None:
    code, errors, _ = check("database:\n  url: mysql://db/spico\n" + MINIMAL)
    assert code == 2
    assert "scheme must be one of" in only_error(errors, 2, "database.url")
