"""The small YAML files the configuration tests start from, and how they read check-config's output.

Each test writes a small YAML file under ``tmp_path`` and runs ``check_config_command`` on it
(the ``check`` fixture in ``conftest.py``), asserting the exact line and key path printed on
stderr. The working directory is ``tmp_path`` so relative secret paths (``secrets/...``) resolve
there, as documented.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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
  authentication:
    require: none
"""

PARTICIPANTS_HEADER = "participants:\n"  # line 9 when appended to MINIMAL

#: ``check(text, environ=None)`` → (exit code, stderr lines, stdout).
Check = Callable[..., tuple[int, list[str], str]]


def prefix(line: int, key_path: str) -> str:
    return f"{Path('bridge.yaml').absolute()}:{line}: {key_path}: "


def only_error(errors: list[str], line: int, key_path: str) -> str:
    """Assert exactly one problem was printed, at ``line`` and ``key_path``; return its message."""
    assert len(errors) == 1, errors
    assert errors[0].startswith(prefix(line, key_path)), errors
    return errors[0].removeprefix(prefix(line, key_path))
