"""Fixtures of the configuration tests: a working directory with secrets, and ``check``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from bridge.config import check_config_command
from tests.config.cases import SECRET_VALUE, TOKEN_KEY, Check


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
