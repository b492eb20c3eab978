"""Configuration loading: every problem comes back as FILE:LINE: key.path: message, exit code 2.

Each test writes a small YAML file under ``tmp_path`` and runs ``check_config_command`` on it,
asserting the exact line and key path printed on stderr. The working directory is ``tmp_path``
so relative secret paths (``secrets/...``) resolve there, as documented.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bridge.config import (
    BridgeConfig,
    ConfigError,
    check_config_command,
    load_config,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "spico-bridge.example.yaml"
LOCAL = REPO / "config" / "spico-bridge.local.yaml"

SECRET_VALUE = "s3cr3t-Value-that-must-never-leak"
TOKEN_KEY = "k" * 48

# A valid configuration; tests append to it or replace parts (line numbers are 1-based).
MINIMAL = """\
spico:
  base_url: http://127.0.0.1:8089/api/v1
  token_file: secrets/spico-token
matrix:
  homeserver: http://127.0.0.1:8008
  server_name: localhost
  bot_user_id: "@bot:localhost"
  password_file: secrets/matrix-password
"""

# Valid mail section, appended after MINIMAL: starts at line 9.
MAIL = """\
mail:
  address: bridge@sandbox.mssante.fr
  smtp:
    host: 127.0.0.1
    port: 2587
  imap:
    host: 127.0.0.1
    security: tls
  token_key_file: secrets/token-key
"""

Check = Callable[..., tuple[int, list[str], str]]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as working directory, with the secret files MINIMAL and MAIL refer to."""
    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "spico-token").write_text(SECRET_VALUE + "\n")
    (secrets / "matrix-password").write_text("bot-password\n")
    (secrets / "token-key").write_text(TOKEN_KEY + "\n")
    return tmp_path


@pytest.fixture
def check(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Check:
    """Write ``text`` to a config file, run check-config; return (exit code, stderr lines, out)."""

    def run(text: str, environ: Mapping[str, str] | None = None) -> tuple[int, list[str], str]:
        path = workdir / "bridge.yaml"
        path.write_text(text)
        code = check_config_command(path, environ=environ or {})
        out, err = capsys.readouterr()
        return code, err.splitlines(), out

    return run


def prefix(line: int, key_path: str) -> str:
    return f"{Path('bridge.yaml').absolute()}:{line}: {key_path}: "


def only_error(errors: list[str], line: int, key_path: str) -> str:
    """Assert exactly one problem was printed, at ``line`` and ``key_path``; return its message."""
    assert len(errors) == 1, errors
    assert errors[0].startswith(prefix(line, key_path)), errors
    return errors[0].removeprefix(prefix(line, key_path))


# --------------------------------------------------------------------------------------------
# Valid files


def test_minimal_config_is_valid(check: Check, workdir: Path) -> None:
    code, errors, out = check(MINIMAL + MAIL)
    assert (code, errors) == (0, [])
    assert out == f"{workdir / 'bridge.yaml'}: OK\n"


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
    for name in ("spico-token", "matrix-bot-password", "mail-password", "mail-token-key"):
        secret = tmp_path / ".state" / "secrets" / name
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(TOKEN_KEY + "\n")
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
        "matrix.password_file",
        "mail.token_key_file",
    }


# --------------------------------------------------------------------------------------------
# Keys and types


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


def test_required_when_enabled(check: Check) -> None:
    text = MINIMAL + "mail:\n  enabled: true\n  address: bridge@sandbox.mssante.fr\n"
    code, errors, _ = check(text)
    assert code == 2
    assert errors == [
        prefix(9, "mail.imap") + "is required when mail.enabled is true",
        prefix(9, "mail.smtp") + "is required when mail.enabled is true",
        prefix(9, "mail.token_key_file")
        + "missing secret: give token_key_file or token_key_env (HMAC key for reply tokens)",
    ]


def test_bad_url(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace("http://127.0.0.1:8008", "ftp://127.0.0.1:8008"))
    assert code == 2
    message = only_error(errors, 5, "matrix.homeserver")
    assert message == "'ftp://127.0.0.1:8008' is not an http:// or https:// URL"


def test_bad_matrix_user_id(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace('"@bot:localhost"', "bot"))
    assert code == 2
    assert "not a Matrix user id" in only_error(errors, 7, "matrix.bot_user_id")


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


def test_long_poll_must_fit_in_the_request_timeout(check: Check) -> None:
    text = MINIMAL.replace(
        "  token_file:", "  poll_wait_seconds: 30\n  request_timeout_seconds: 20\n  token_file:"
    )
    code, errors, _ = check(text)
    assert code == 2
    assert "poll_wait_seconds (30)" in only_error(errors, 4, "spico.request_timeout_seconds")


# --------------------------------------------------------------------------------------------
# Secrets


def test_nonexistent_secret_file(check: Check, workdir: Path) -> None:
    code, errors, _ = check(MINIMAL.replace("secrets/spico-token", "secrets/nope"))
    assert code == 2
    message = only_error(errors, 3, "spico.token_file")
    assert message == f"secret file {workdir / 'secrets' / 'nope'} does not exist"


def test_unreadable_secret_file(check: Check, workdir: Path) -> None:
    # Tests run as root, and root reads a chmod 000 file anyway; a directory is unreadable as a
    # file for everyone, so it stands for "exists but cannot be read".
    code, errors, _ = check(MINIMAL.replace("secrets/matrix-password", "secrets"))
    assert code == 2
    message = only_error(errors, 8, "matrix.password_file")
    assert message == f"secret file {workdir / 'secrets'} is a directory, not a file"


def test_empty_secret_file(check: Check, workdir: Path) -> None:
    (workdir / "secrets" / "empty").write_text("\n")
    code, errors, _ = check(MINIMAL.replace("secrets/spico-token", "secrets/empty"))
    assert code == 2
    assert only_error(errors, 3, "spico.token_file").endswith("is empty")


def test_env_secret(check: Check, workdir: Path) -> None:
    text = MINIMAL.replace("token_file: secrets/spico-token", "token_env: SPICO_TOKEN")
    # check-config runs in an admin's shell, rarely with the service's environment: a warning.
    code, errors, out = check(text)
    assert code == 0 and out.endswith(": OK\n")
    assert errors == [
        f"{workdir / 'bridge.yaml'}:3: spico.token_env: warning: environment "
        "variable SPICO_TOKEN is not set here; `spico-bridge run` needs it"
    ]
    # Loading it to run is another matter: the secret is missing.
    with pytest.raises(ConfigError) as caught:
        load_config(workdir / "bridge.yaml", environ={})
    (problem,) = caught.value.problems
    assert (problem.line, problem.path, problem.message) == (
        3,
        "spico.token_env",
        "environment variable SPICO_TOKEN is not set",
    )
    assert check(text, environ={"SPICO_TOKEN": "abc"}) == (
        0,
        [],
        f"{workdir / 'bridge.yaml'}: OK\n",
    )


def test_two_sources_for_one_secret(check: Check) -> None:
    text = MINIMAL.replace(
        "  token_file: secrets/spico-token", "  token_file: secrets/spico-token\n  token_env: T"
    )
    code, errors, _ = check(text, environ={"T": "abc"})
    assert code == 2
    assert "give only one of token_file or token_env" in only_error(errors, 4, "spico.token_env")


def test_missing_secret(check: Check) -> None:
    code, errors, _ = check(MINIMAL.replace("  token_file: secrets/spico-token\n", ""))
    assert code == 2
    message = only_error(errors, 1, "spico.token_file")
    assert message == "missing secret: give token_file or token_env"


def test_token_key_too_short(check: Check, workdir: Path) -> None:
    (workdir / "secrets" / "token-key").write_text("short\n")
    code, errors, _ = check(MINIMAL + MAIL)
    assert code == 2
    assert "at least 32 bytes" in only_error(errors, 17, "mail.token_key_file")


def test_secret_never_appears_in_repr(workdir: Path) -> None:
    (workdir / "bridge.yaml").write_text(MINIMAL + MAIL)
    config = load_config(workdir / "bridge.yaml", environ={})
    assert config.spico.token.get() == SECRET_VALUE
    dumps = (repr(config.model_dump()), config.model_dump_json())
    for text in (repr(config), str(config), *dumps, str(config.spico.token)):
        assert SECRET_VALUE not in text
        assert TOKEN_KEY not in text
        assert "bot-password" not in text


# --------------------------------------------------------------------------------------------
# Transport security


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


# --------------------------------------------------------------------------------------------
# Participants


PARTICIPANTS_HEADER = "participants:\n"  # line 9 when appended to MINIMAL


@pytest.mark.parametrize(
    ("first", "second", "key", "line"),
    [
        (
            '  - spico_id: "810000000009"\n    matrix_user: "@a:localhost"\n',
            '  - spico_id: "8 10000 00000 9"\n    matrix_user: "@b:localhost"\n',
            "spico_id",
            12,
        ),
        (
            '  - spico_id: "810000000009"\n    matrix_user: "@a:localhost"\n',
            '  - spico_id: "810000000017"\n    matrix_user: "@a:localhost"\n',
            "matrix_user",
            13,
        ),
        (
            '  - spico_id: "810000000009"\n    mail: Dr.A@ch.mssante.fr\n',
            '  - spico_id: "810000000017"\n    mail: dr.a@CH.mssante.fr\n',
            "mail",
            13,
        ),
    ],
)
def test_duplicate_participant_mapping(
    check: Check, first: str, second: str, key: str, line: int
) -> None:
    code, errors, _ = check(MINIMAL + PARTICIPANTS_HEADER + first + second)
    assert code == 2
    message = only_error(errors, line, f"participants[1].{key}")
    first_line = line - 2
    assert message.startswith(f"duplicate mapping: {key} ")
    assert message.endswith(f"is already mapped by participants[0].{key} (line {first_line})")


def test_bad_id_nat_is_an_error(check: Check) -> None:
    code, errors, _ = check(
        MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "12345"\n    mail: a@ch.mssante.fr\n'
    )
    assert code == 2
    assert "idNat" in only_error(errors, 10, "participants[0].spico_id")


def test_bad_luhn_key_is_only_a_warning(check: Check, workdir: Path) -> None:
    text = (
        MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "810000000001"\n    mail: a@ch.mssante.fr\n'
    )
    code, errors, out = check(text)
    assert code == 0
    assert len(errors) == 1
    assert errors[0].startswith(prefix(10, "participants[0].spico_id") + "warning: ")
    assert out.endswith(": OK\n")
    config = load_config(workdir / "bridge.yaml", environ={})
    assert config.warnings == (errors[0],)


def test_participant_needs_a_destination(check: Check) -> None:
    text = MINIMAL + PARTICIPANTS_HEADER + '  - spico_id: "810000000009"\n    delivery: mail\n'
    code, errors, _ = check(text)
    assert code == 2
    assert errors == [
        prefix(10, "participants[0]") + "give matrix_user, mail or both for this professional",
        prefix(11, "participants[0].delivery") + "delivery mail needs mail",
    ]


def test_patient_mailbox_is_refused(check: Check) -> None:
    text = (
        MINIMAL
        + PARTICIPANTS_HEADER
        + '  - spico_id: "810000000009"\n    mail: 1234567890123@patient.mssante.fr\n'
    )
    code, errors, _ = check(text)
    assert code == 2
    assert "patient's own mailbox" in only_error(errors, 11, "participants[0].mail")


# --------------------------------------------------------------------------------------------
# YAML level


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


def test_unreadable_config_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = workdir / "missing.yaml"
    assert check_config_command(missing, environ={}) == 2
    _, err = capsys.readouterr()
    assert (
        err
        == f"{missing}:1: <root>: cannot read the configuration file: No such file or directory\n"
    )


# --------------------------------------------------------------------------------------------
# Everything at once


def test_several_problems_are_all_reported_in_line_order(check: Check) -> None:
    text = textwrap.dedent(
        """\
        spico:
          base_url: not-a-url
          token_file: secrets/nope
          poll_wait_seconds: 0
        matrix:
          homeserver: http://127.0.0.1:8008
          server_name: localhost
          bot_user_id: "@bot:localhost"
          password_file: secrets/matrix-password
          federat: true
        logging:
          level: LOUD
          level: INFO
        participants:
          - spico_id: "810000000009"
            matrix_user: "@a:localhost"
          - spico_id: "810000000009"
            matrix_user: "@b:localhost"
        http:
          listen_port: 70000
        """
    )
    code, errors, _ = check(text)
    assert code == 2
    assert [line.split(": ", 2)[0:2] for line in errors] == [
        [f"{Path('bridge.yaml').absolute()}:2", "spico.base_url"],
        [f"{Path('bridge.yaml').absolute()}:3", "spico.token_file"],
        [f"{Path('bridge.yaml').absolute()}:4", "spico.poll_wait_seconds"],
        [f"{Path('bridge.yaml').absolute()}:10", "matrix.federat"],
        [f"{Path('bridge.yaml').absolute()}:12", "logging.level"],
        [f"{Path('bridge.yaml').absolute()}:13", "logging.level"],
        [f"{Path('bridge.yaml').absolute()}:17", "participants[1].spico_id"],
        [f"{Path('bridge.yaml').absolute()}:20", "http.listen_port"],
    ]


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


# --------------------------------------------------------------------------------------------
# Sections and modes


def test_empty_section_counts_as_absent(check: Check, workdir: Path) -> None:
    text = MINIMAL.split("matrix:")[0] + "matrix:\n  # enabled: true\nmail:\ndatabase:\n"
    code, errors, _ = check(text)
    assert code == 0
    assert errors == [
        prefix(1, "<root>") + "warning: neither matrix nor mail is enabled: nothing will be bridged"
    ]
    config = load_config(workdir / "bridge.yaml", environ={})
    assert not config.matrix.enabled and not config.mail.enabled


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


def test_non_string_key_is_an_unknown_key(check: Check) -> None:
    code, errors, _ = check(MINIMAL + "1: one\n")
    assert code == 2
    assert only_error(errors, 9, "1").startswith("unknown key")
