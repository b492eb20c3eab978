"""The systemd unit: valid for systemd, and hardened (exposure measured by systemd itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "spico-bridge.service"
MAX_EXPOSURE = 2.0


def test_unit_verifies(tmp_path: Path) -> None:
    # verify checks that ExecStart binaries exist: point them at this checkout's command.
    command = Path(sys.executable).with_name("spico-bridge")
    unit = tmp_path / "spico-bridge.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/spico-bridge", str(command)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "spico-bridge.service" not in result.stderr, result.stderr


def test_unit_exposure_is_at_most_two() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for spico-bridge\.service: ([0-9.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE


def test_unit_is_notify_with_watchdog_and_reload() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "DynamicUser=yes",
    ):
        assert line in text
