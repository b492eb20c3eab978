"""``load_config``: a valid file loads, with its defaults and resolved values; an invalid one
raises ``ConfigError`` carrying every problem, in line order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bridge.config import BridgeConfig, ConfigError, check_config_command, load_config
from bridge.demo.settings import SECRET_FILES
from tests.config.cases import EXAMPLE, LOCAL, MAIL, MINIMAL, SECRET_VALUE, TOKEN_KEY


def test_defaults_and_resolved_values(workdir: Path) -> None:
    (workdir / "bridge.yaml").write_text("state_dir: state\n" + MINIMAL + MAIL)
    config = load_config(workdir / "bridge.yaml", environ={})
    assert config.state_dir == workdir / "state"  # relative to the working directory
    assert config.database_url == f"sqlite:///{workdir}/state/spico-bridge.db"
    assert config.spico.poll_wait_seconds == 25
    assert config.spico.web_url == "http://127.0.0.1:8089"
    assert config.spico.token.get() == SECRET_VALUE  # stripped
    assert config.matrix.mode == "relay" and config.matrix.federate is False
    assert config.mail.smtp is not None and config.mail.smtp.port == 2587
    assert config.mail.imap is not None and config.mail.imap.port == 993  # default for tls
    assert config.mail.trusted_domains == ("*.mssante.fr",)
    assert config.mail.is_trusted("dr.x@ch-exemple.mssante.fr")
    assert not config.mail.is_trusted("dr.x@gmail.com")
    assert config.policy.mail_patient_tag == "initials"
    assert config.warnings == ()


def test_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {
        "SPICO_BRIDGE_DATABASE_URL": "postgresql://bridge:pw@db.example/spico",
        "SPICO_TOKEN": "token",
        "SPICO_BRIDGE_MATRIX_PASSWORD": "password",
        "SPICO_BRIDGE_MAIL_PASSWORD": "password",
        "SPICO_BRIDGE_MAIL_TOKEN_KEY": TOKEN_KEY,
    }
    assert check_config_command(EXAMPLE, environ=environ) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{EXAMPLE}: OK\n", "")
    config = load_config(EXAMPLE, environ=environ)
    assert config.database_url == environ["SPICO_BRIDGE_DATABASE_URL"]
    assert len(config.participants) == 2


def test_local_config_is_valid_once_the_demo_created_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config_path = tmp_path / "spico-bridge.local.yaml"
    shutil.copy(LOCAL, config_path)
    # What the demo script creates under .state before starting the bridge.
    for name in SECRET_FILES:
        secret = tmp_path / ".state" / "secrets" / name
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(f"{TOKEN_KEY}-{name}\n")
    (tmp_path / ".state" / "tls").mkdir()
    (tmp_path / ".state" / "tls" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")

    assert check_config_command(config_path, environ={}) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{config_path}: OK\n", "")
    config = load_config(config_path, environ={})
    assert config.database_url == f"sqlite:///{tmp_path}/.state/spico-bridge.db"
    assert config.spico.base_url == "http://127.0.0.1:8089/api/v1"
    assert config.matrix.homeserver == "http://127.0.0.1:8008"
    assert config.matrix.server_name == "localhost"
    assert config.mail.address == "bridge@sandbox.mssante.fr"
    assert config.mail.smtp is not None and config.mail.imap is not None
    assert (config.mail.smtp.host, config.mail.smtp.port) == ("127.0.0.1", 2587)
    assert (config.mail.smtp.security, config.mail.imap.security) == ("starttls", "tls")
    assert config.mail.imap.port == 2993


def test_local_config_reports_missing_demo_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(LOCAL, environ={})
    assert {p.path for p in caught.value.problems} >= {
        "spico.token_file",
        "matrix.appservice.as_token_file",
        "mail.token_key_file",
    }


def test_config_error_carries_every_problem(workdir: Path) -> None:
    (workdir / "bridge.yaml").write_text("spico: {}\nmatrix: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(workdir / "bridge.yaml", environ={})
    paths = [problem.path for problem in caught.value.problems]
    assert paths == [
        "spico.base_url",
        "matrix.bot_user_id",
        "matrix.homeserver",
        "matrix.password_file",
        "matrix.server_name",
    ]
    assert str(caught.value).count("\n") == len(paths) - 1


def test_config_is_immutable(workdir: Path) -> None:
    (workdir / "bridge.yaml").write_text(MINIMAL)
    config = load_config(workdir / "bridge.yaml", environ={})
    assert isinstance(config, BridgeConfig)
    with pytest.raises(ValueError, match="frozen"):
        config.state_dir = Path("/tmp")  # type: ignore[misc]
