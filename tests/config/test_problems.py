"""Pydantic errors reworded for admins, each at its key's line (or its parent's)."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error, prefix


def test_typo_is_an_unknown_key_with_a_suggestion(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace("  server_name:", "  server_nam:"))
    assert code == 2
    message = only_error(errors, 6, "matrix.server_nam")
    assert message == "unknown key (did you mean 'server_name'?)"


def test_inline_secret_is_refused_with_a_hint_and_not_echoed(check: Check) -> None:
    text = MINIMAL.replace("  password_file: secrets/matrix-password", "  password: hunter2")
    code, errors, _ = check(text)
    assert code == 2
    assert errors[0].startswith(prefix(8, "matrix.password"))
    assert "secrets are given as password_file" in errors[0]
    assert "password_env" in errors[0]
    assert not any("hunter2" in line for line in errors)


def test_wrong_type(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "delivery:\n  workers: many\n")
    assert code == 2
    assert "valid integer" in only_error(errors, 10, "delivery.workers")


def test_wrong_choice_lists_the_allowed_values(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "logging:\n  format: xml\n")
    assert code == 2
    message = only_error(errors, 10, "logging.format")
    assert "'text' or 'json'" in message and "'xml'" in message


def test_section_of_the_wrong_shape(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "http: 9464\n")
    assert code == 2
    assert only_error(errors, 9, "http") == "expected a mapping of keys"


def test_missing_required_key_is_reported_at_the_parent_mapping(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace("  base_url: http://127.0.0.1:8089/api/v1\n", ""))
    assert code == 2
    assert only_error(errors, 1, "spico.base_url") == "required key is missing"


def test_missing_section(check: Check) -> None:
    code, errors, _ = check("logging:\n  level: info\n")
    assert code == 2
    assert only_error(errors, 1, "spico") == "required key is missing"


def test_non_string_key_is_an_unknown_key(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "1: one\n")
    assert code == 2
    assert only_error(errors, 9, "1").startswith("unknown key")
