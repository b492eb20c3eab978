"""``mail:``: required keys when enabled, the reply-token key, transport security."""

from __future__ import annotations

from pathlib import Path

from tests.config.cases import MAIL, MINIMAL, Check, only_error, prefix

AUTHSERV_REQUIRED = (
    "is required when require is dmarc: the authserv-id your receiving mail server writes "
    "first in its Authentication-Results header (e.g. mx.example.mssante.fr; it must also "
    "remove incoming headers carrying that id). Only for a local test server: require: none "
    "(no sender is checked)"
)


def test_required_when_enabled(check: Check) -> None:
    text = MINIMAL + "mail:\n  enabled: true\n  address: bridge@sandbox.mssante.fr\n"
    code, errors, _ = check(text)
    assert code == 2
    assert errors == [
        prefix(9, "mail.authentication.authserv_id") + AUTHSERV_REQUIRED,
        prefix(9, "mail.imap") + "is required when mail.enabled is true",
        prefix(9, "mail.smtp") + "is required when mail.enabled is true",
        prefix(9, "mail.token_key_file")
        + "missing secret: give token_key_file or token_key_env (HMAC key for reply tokens)",
    ]


def test_token_key_too_short(check: Check, workdir: Path) -> None:
    (workdir / "secrets" / "token-key").write_text("short\n")
    code, errors, _ = check(MINIMAL + MAIL)
    assert code == 2
    assert "at least 32 bytes" in only_error(errors, 17, "mail.token_key_file")


def test_plaintext_on_a_remote_host_is_refused(check: Check) -> None:
    text = MINIMAL + MAIL.replace(
        "    host: 127.0.0.1\n    port: 2587",
        ("    host: smtp.example.mssante.fr\n    security: none"),
    )
    code, errors, _ = check(text)
    assert code == 2
    message = only_error(errors, 13, "mail.smtp.security")
    assert "only allowed on a loopback host, not smtp.example.mssante.fr" in message


def test_plaintext_on_loopback_is_allowed(check: Check) -> None:
    text = MINIMAL + MAIL.replace("    security: tls", "    host: localhost\n    security: none")
    text = text.replace("    host: 127.0.0.1\n    host: localhost", "    host: localhost")
    assert check(text)[:2] == (0, [])


def test_processed_move_needs_a_folder(check: Check) -> None:
    code, errors, _ = check(MINIMAL + MAIL.replace("    security: tls", "    processed: move"))
    assert code == 2
    assert only_error(errors, 14, "mail.imap.processed_folder") == (
        "is required when processed is move"
    )


def test_a_sender_policy_needs_the_servers_authserv_id(check: Check) -> None:
    for require in ("dmarc", "aligned"):
        text = MINIMAL + MAIL.replace("require: none", f"require: {require}")
        code, errors, _ = check(text)
        assert code == 2
        message = only_error(errors, 18, "mail.authentication.authserv_id")
        assert message.startswith(f"is required when require is {require}: the authserv-id")
    with_id = MAIL.replace("require: none", "require: dmarc\n    authserv_id: mx.ch.mssante.fr")
    assert check(MINIMAL + with_id)[:2] == (0, [])
    assert check(MINIMAL + MAIL.replace("require: none", "require: sometimes"))[0] == 2


def test_no_sender_check_with_a_real_mail_server_is_a_warning(check: Check) -> None:
    remote = MAIL.replace("    host: 127.0.0.1\n    security: tls", "    host: imap.ch.mssante.fr")
    code, errors, _ = check(MINIMAL + remote)
    assert code == 0
    message = only_error(errors, 18, "mail.authentication.require")
    assert message.startswith("warning: none with a real mail server: no sender is checked")
    assert check(MINIMAL + MAIL)[:2] == (0, []), "loopback servers: the local demo's choice"
