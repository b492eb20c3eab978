"""Secrets: read from a file or an environment variable at load time, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config
from tests.config.cases import MAIL, MINIMAL, SECRET_VALUE, TOKEN_KEY, Check, only_error


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


def test_secret_never_appears_in_repr(workdir: Path) -> None:
    (workdir / "bridge.yaml").write_text(MINIMAL + MAIL)
    config = load_config(workdir / "bridge.yaml", environ={})
    assert config.spico.token.get() == SECRET_VALUE
    dumps = (repr(config.model_dump()), config.model_dump_json())
    for text in (repr(config), str(config), *dumps, str(config.spico.token)):
        assert SECRET_VALUE not in text
        assert TOKEN_KEY not in text
        assert "bot-password" not in text
