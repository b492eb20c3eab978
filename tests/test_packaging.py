"""The wheel carries what the daemon reads at run time (templates, API contract, migrations)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_the_wheel_ships_templates_contract_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("spico_bridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "bridge/mail/templates/notification.fr.txt",
        "bridge/mail/templates/notification.en.txt",
        "bridge/spico/openapi.yaml",
        "bridge/store/migrations/versions/0003_matrix_commands.py",
    ):
        assert expected in names, expected
