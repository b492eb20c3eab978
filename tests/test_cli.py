"""The ``spico-bridge`` command as an admin runs it (a real subprocess each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.store import db

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "spico-bridge.example.yaml"
COMMAND = Path(sys.executable).with_name("spico-bridge")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("SPICO")},
    )


def test_console_command_is_installed_and_lists_its_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("run", "check-config", "generate-registration", "db", "sandbox", "demo"):
        assert command in result.stdout


def test_check_config_accepts_the_example() -> None:
    result = run("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{EXAMPLE}: OK\n"
    # Secrets named by *_env are not in this shell: said as warnings, with file and line.
    assert "spico.token_env: warning: environment variable SPICO_TOKEN is not set" in (
        result.stderr
    )


def test_check_config_reports_file_line_and_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spico:\n  base_url: ftp://example.org\n  token_env: T\n  pol_wait: 3\n")
    result = run("check-config", str(bad), env={**os.environ, "T": "secret"})
    assert result.returncode == 2
    assert f"{bad}:2: spico.base_url: " in result.stderr
    assert f"{bad}:4: spico.pol_wait: " in result.stderr
    assert "secret" not in result.stderr


def test_run_refuses_an_invalid_config_with_the_same_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spico:\n  base_url: http://127.0.0.1:9/api/v1\n  token_env: UNSET_TOKEN\n")
    result = run("run", "--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:3: spico.token_env: environment variable UNSET_TOKEN is not set" in (
        result.stderr
    )


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'bridge.db'}"
    assert run("db", "current", "--url", url).stdout.startswith("empty database")
    upgraded = run("db", "upgrade", "--url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database schema at revision {db.current_revision(url)}"
    assert run("db", "current", "--url", url).stdout.strip() == db.current_revision(url)


def test_purge_uses_the_config_retention(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    config = tmp_path / "bridge.yaml"
    config.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'bridge.db'}\n"
        f"spico:\n  base_url: http://127.0.0.1:9/api/v1\n  token_file: {token}\n"
        "audit:\n  retention_days: 30\n"
    )
    result = run("purge", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0 audit rows older than 30 days removed\n"


def test_generate_registration_writes_what_the_homeserver_loads(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "spico-token").write_text("t\n")
    (tmp_path / "as").write_text("the-as-token\n")
    (tmp_path / "hs").write_text("the-hs-token\n")
    config = tmp_path / "bridge.yaml"
    config.write_text(
        f"spico:\n  base_url: http://127.0.0.1:9/api/v1\n  token_file: {tmp_path / 'spico-token'}\n"
        "matrix:\n  homeserver: http://127.0.0.1:8008\n  server_name: example.fr\n"
        '  bot_user_id: "@spico-bot:example.fr"\n  mode: appservice\n'
        f"  appservice:\n    as_token_file: {tmp_path / 'as'}\n"
        f"    hs_token_file: {tmp_path / 'hs'}\n    listen_port: 29999\n"
    )
    output = tmp_path / "out" / "registration.yaml"
    result = run("generate-registration", "-c", str(config), "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert "app_service_config_files" in result.stdout and "the-as-token" not in result.stdout
    assert output.stat().st_mode & 0o777 == 0o600
    written = yaml.safe_load(output.read_text())
    assert written["as_token"] == "the-as-token" and written["hs_token"] == "the-hs-token"
    assert written["url"] == "http://127.0.0.1:29999"
    assert written["sender_localpart"] == "spico-bot" and written["rate_limited"] is False
    assert written["namespaces"]["users"] == [
        {"exclusive": True, "regex": r"@spico_.+:example\.fr"}
    ]
    assert written["namespaces"]["aliases"] == [
        {"exclusive": True, "regex": r"#spico_.+:example\.fr"}
    ]
    # Relay mode needs none: said, nothing written.
    relay = tmp_path / "relay.yaml"
    relay.write_text(
        config.read_text().replace("  mode: appservice\n", f"  password_file: {tmp_path / 'as'}\n")
    )
    refused = run("generate-registration", "-c", str(relay), "-o", str(tmp_path / "none.yaml"))
    assert refused.returncode == 2 and "relay mode needs no registration" in refused.stderr
    assert not (tmp_path / "none.yaml").exists()
