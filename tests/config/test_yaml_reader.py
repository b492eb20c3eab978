"""YAML level: duplicate keys, syntax errors, empty files, anchors and merge keys."""

from __future__ import annotations

from tests.config.cases import MAIL, MINIMAL, Check, only_error, prefix


def test_duplicate_yaml_key(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "logging:\n  level: INFO\n  level: DEBUG\n")
    assert code == 2
    assert only_error(errors, 11, "logging.level") == "duplicate key (first given at line 10)"


def test_duplicate_top_level_section(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "spico:\n  base_url: http://x\n")
    assert code == 2
    assert only_error(errors, 9, "spico") == "duplicate key (first given at line 1)"


def test_yaml_syntax_error(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "logging:\n  level: [INFO\n")
    assert code == 2
    # The problem is seen at the end of the file (line 11); the message points at line 10.
    message = only_error(errors, 11, "<root>")
    assert message.startswith("YAML syntax: while parsing a flow sequence (line 10): ")


def test_yaml_tab_indentation(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "logging:\n\tlevel: INFO\n")
    assert code == 2
    assert errors[0].startswith(prefix(10, "<root>") + "YAML syntax: ")


def test_empty_file(check: Check) -> None:
    code, errors, _ = check("# nothing\n")
    assert code == 2
    assert only_error(errors, 1, "<root>") == "the file is empty: expected a mapping"


def test_yaml_anchor_and_merge(check: Check) -> None:
    text = MINIMAL + MAIL.replace(
        "  imap:\n    host: 127.0.0.1\n    security: tls",
        "  imap:\n    <<: &server\n      host: 127.0.0.1\n    security: tls",
    )
    assert check(text)[:2] == (0, [])
