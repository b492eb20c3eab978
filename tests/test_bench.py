"""The benchmark command runs end to end (its figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COMMAND = Path(sys.executable).with_name("spico-bridge")


def test_bench_outbox_section_prints_its_table() -> None:
    result = subprocess.run(
        [str(COMMAND), "bench", "--sections", "outbox"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "| measure | value | target |"
    assert any(line.startswith("| outbox, SQLite: deliveries/s") for line in lines)
