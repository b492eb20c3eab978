"""The SPICO sandbox subprocess (bridge/spico/sandbox/process.py) says why it did not start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.launch import ServerStartFailed
from bridge.spico.sandbox.process import SandboxProcess


def test_a_damaged_database_shows_the_sandbox_s_reason(tmp_path: Path) -> None:
    (tmp_path / "spico-sandbox.sqlite3").write_bytes(b"not a database at all " * 100)
    sandbox = SandboxProcess(tmp_path, token="sandbox-token")
    try:
        with pytest.raises(ServerStartFailed) as failed:
            sandbox.start()
    finally:
        sandbox.stop()
    error = failed.value
    assert error.name == "The SPICO sandbox" and "exited at start" in error.reason
    assert error.log_path == tmp_path / "sandbox.log"
    assert error.tail == ["sqlite3.DatabaseError: file is not a database"]
    assert "damaged" in error.hint and sandbox.pid is None
