"""The SPICO sandbox as a subprocess: started, waited for and stopped by PID.

The demo, the benchmarks and the test session all run the sandbox this way, on loopback. A
start that fails raises :class:`~bridge.launch.ServerStartFailed` with the reason read from the
sandbox's log.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge.launch import ServerStartFailed, log_size, spawn, stop_child, why_not_answering
from bridge.ports import free_port

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class SandboxError(RuntimeError):
    """The sandbox is already running."""


class SandboxProcess:
    """One sandbox bound to one database file and port for its whole life; ``restart()``
    keeps both (events and conversations survive)."""

    def __init__(
        self,
        workdir: Path,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        port: int | None = None,
        seed: int = 42,
        db_path: Path | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        """``token`` is written to ``token_file`` (default ``workdir/token``); without it, the
        token is read from an existing ``token_file``."""
        self.workdir = workdir
        self.port = port or free_port()
        self.seed = seed
        self.db_path = db_path or workdir / "spico-sandbox.sqlite3"
        self.token_file = token_file or workdir / "token"
        if token is not None:
            self.token_file.write_text(token + "\n", encoding="utf-8")
            self.token_file.chmod(0o600)
        self.token = self.token_file.read_text(encoding="utf-8").strip()
        self.log_path = workdir / "sandbox.log"
        self.base_url = f"http://127.0.0.1:{self.port}/api/v1"
        self._extra_args = list(extra_args)
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        if self._process is not None:
            raise SandboxError("the sandbox is already running")
        command = [
            sys.executable,
            "-m",
            "bridge.spico.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            str(self.db_path),
            "--seed",
            str(self.seed),
            "--token-file",
            str(self.token_file),
            *self._extra_args,
        ]
        since = log_size(self.log_path)
        self._process = spawn(command, self.log_path, cwd=Path(__file__).resolve().parents[3])
        self._wait_healthy(since)

    def _wait_healthy(self, since: int) -> None:
        assert self._process is not None
        reason = why_not_answering(self._process, f"{self.base_url}/health", self._start_timeout)
        if reason is not None:
            self.stop()
            raise self._failed(reason, since)

    def _failed(self, reason: str, since: int) -> ServerStartFailed:
        return ServerStartFailed.from_logs(
            "The SPICO sandbox",
            reason,
            [(self.log_path, since)],
            hint=f"if port {self.port} is taken, pick another (the demo: --ports auto, or "
            f"--port sandbox=N); if its database {self.db_path} is damaged, start on a fresh "
            "one (the demo: another --state-dir)",
        )

    def stop(self) -> int | None:
        """SIGTERM by PID (SIGKILL if it hangs); returns the exit code."""
        process, self._process = self._process, None
        return None if process is None else stop_child(process, STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()
