"""``matrix:``: the bot's server and the appservice mode."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error


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
