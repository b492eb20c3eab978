"""The local Synapse (bridge/matrix/localserver.py): it says why it did not start, from its log;
its log config."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from bridge.launch import ServerStartFailed
from bridge.matrix.localserver import Synapse, SynapseMissing, log_config, synapse_python


def test_synapse_on_a_taken_port_shows_synapse_s_reason(tmp_path: Path) -> None:
    try:
        synapse_python()
    except SynapseMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Synapse(tmp_path / "synapse", port=port)
        try:
            with pytest.raises(ServerStartFailed) as failed:
                server.start()
        finally:
            server.stop()
    error = failed.value
    assert error.name == "Synapse" and "exited at start" in error.reason
    assert error.log_path == server.log_path
    assert any("Address already in use" in line for line in error.tail), error
    assert not any(line.startswith(" ") for line in error.tail), "no traceback frames"
    assert f"port {port} is taken" in error.hint and "--ports auto" in error.hint
    assert server.pid is None


def test_log_config_writes_the_access_log_only_when_asked() -> None:
    quiet, access = yaml.safe_load(log_config()), yaml.safe_load(log_config(access_log=True))
    assert quiet["loggers"]["synapse.access.http"]["level"] == "WARNING"
    assert access["loggers"]["synapse.access.http"]["level"] == "INFO"
    assert quiet["root"] == access["root"] == {"level": "WARNING", "handlers": ["console"]}
