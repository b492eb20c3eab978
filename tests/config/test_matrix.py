"""``matrix:``: the bot's server and the appservice mode."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error, prefix


def test_appservice_mode_needs_its_section(check: Check) -> None:
    text = MINIMAL.replace("  password_file: secrets/matrix-password", "  mode: appservice")
    code, errors, _ = check(text)
    assert code == 2
    assert only_error(errors, 4, "matrix.appservice") == (
        "is required when matrix.mode is appservice"
    )
    text += "  appservice:\n    as_token_env: AS\n    listen_port: 29328\n"
    code, errors, _ = check(text, environ={"AS": "as-token"})
    assert code == 2
    assert only_error(errors, 9, "matrix.appservice.hs_token_file") == (
        "missing secret: give hs_token_file or hs_token_env"
    )
    text += "    hs_token_env: HS\n"
    assert check(text, environ={"AS": "a", "HS": "h"})[:2] == (0, [])


def test_bot_must_live_on_the_configured_server(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace('"@bot:localhost"', '"@bot:example.org"'))
    assert code == 2
    assert only_error(errors, 7, "matrix.bot_user_id") == (
        "the bot is on server example.org but matrix.server_name is localhost"
    )


APPSERVICE = MINIMAL.replace("  password_file: secrets/matrix-password", "  mode: appservice") + (
    "  appservice:\n    as_token_env: AS\n    hs_token_env: HS\n"
)
TOKENS = {"AS": "as-token", "HS": "hs-token"}


def test_appservice_mode_refuses_encryption_and_says_what_to_use(check: Check) -> None:
    code, errors, _ = check(APPSERVICE + "  encryption: true\n", environ=TOKENS)
    assert code == 2
    message = only_error(errors, 12, "matrix.encryption")
    assert "ghosts have no devices" in message and "Use mode: relay" in message
    assert check(APPSERVICE + "  encryption: false\n", environ=TOKENS)[:2] == (0, [])


def test_appservice_tokens_must_differ(check: Check) -> None:
    code, errors, _ = check(APPSERVICE, environ={"AS": "same", "HS": "same"})
    assert code == 2
    assert "must differ from as_token" in only_error(errors, 11, "matrix.appservice.hs_token_env")
    # check-config without the variables set: no false alarm on the stand-ins.
    code, errors, _ = check(APPSERVICE, environ={})
    assert code == 0 and all("warning" in e for e in errors)


def test_appservice_listener_reachable_and_private(check: Check) -> None:
    wildcard = APPSERVICE + "    listen_host: 0.0.0.0\n"
    code, errors, _ = check(wildcard, environ=TOKENS)
    assert code == 2
    assert only_error(errors, 9, "matrix.appservice.url").startswith("is required when listen_host")
    code, errors, _ = check(wildcard + "    url: http://bridge.example.org:29328\n", environ=TOKENS)
    assert code == 2
    assert "plain http://" in only_error(errors, 13, "matrix.appservice.url")
    proxied = wildcard + "    url: https://bridge.example.org\n"
    assert check(proxied, environ=TOKENS)[:2] == (0, [])


def test_no_real_account_in_the_ghosts_namespace(check: Check) -> None:
    text = APPSERVICE + 'participants:\n  - spico_id: "810000000009"\n'
    text += '    matrix_user: "@spico_810000000009:localhost"\n'
    code, errors, _ = check(text, environ=TOKENS)
    assert code == 2
    assert "ghosts' namespace" in only_error(errors, 14, "participants[0].matrix_user")
    bot = APPSERVICE.replace('"@bot:localhost"', '"@spico_bot:localhost"')
    code, errors, _ = check(bot, environ=TOKENS)
    assert code == 2 and "ghosts' prefix" in only_error(errors, 7, "matrix.bot_user_id")


def test_relay_credentials_are_ignored_in_appservice_mode(check: Check) -> None:
    text = APPSERVICE + "  password_env: PW\n"
    code, errors, _ = check(text, environ={**TOKENS, "PW": "x"})
    assert code == 0
    assert errors == [
        prefix(12, "matrix.password_env") + "warning: ignored in appservice mode: "
        "the bridge uses as_token"
    ]
