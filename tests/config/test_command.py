"""``check-config``: ``FILE:LINE: key.path: message`` on stderr and exit code 2, or ``OK``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bridge.config import check_config_command
from tests.config.cases import MAIL, MINIMAL, Check


def test_minimal_config_is_valid(check: Check, workdir: Path) -> None:
    code, errors, out = check(MINIMAL + MAIL)
    assert (code, errors) == (0, [])
    assert out == f"{workdir / 'bridge.yaml'}: OK\n"


def test_unreadable_config_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = workdir / "missing.yaml"
    assert check_config_command(missing, environ={}) == 2
    _, err = capsys.readouterr()
    assert (
        err
        == f"{missing}:1: <root>: cannot read the configuration file: No such file or directory\n"
    )


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
