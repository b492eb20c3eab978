"""The servers one bench run starts and stops: SPICO sandbox, Synapse, Postfix + Dovecot, and
``spico-bridge run`` itself, each on free loopback ports and stopped by PID in a ``finally``.

Also what the bench reads of a process in ``/proc``: CPU seconds and peak resident memory; and
of a bridge, a counter on its ``/metrics``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridge.bench.stats import cpu_seconds, status_kb
from bridge.launch import spawn, stop_child
from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.ports import free_port
from bridge.spico.sandbox.process import SandboxProcess as Sandbox
from bridge.spico.sandbox.seed import generate_directory

#: The sandbox's seed: the bench picks its professionals in the same synthetic directory.
SEED = 42
SANDBOX_TOKEN = "bench-sandbox-token"
READY_LINE = "spico-bridge ready"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    return cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), TICKS)


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MB."""
    return status_kb(Path(f"/proc/{pid}/status").read_text(), "VmHWM") / 1024


def counter_total(exposition: str, counter: str) -> float:
    """The sum over all labels of ``counter`` in a Prometheus text exposition (pure; 0 when
    the counter has no sample yet)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == counter
        for sample in family.samples
        if sample.name == f"{counter}_total"
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, SIGKILL if it does not stop in time."""
    stop_child(process, STOP_TIMEOUT)


@contextlib.contextmanager
def sandbox(folder: Path) -> Iterator[Sandbox]:
    """A SPICO sandbox subprocess on a fresh database (seeded with ``SEED``)."""
    process = Sandbox(folder, token=SANDBOX_TOKEN, seed=SEED, db_path=folder / "sandbox.sqlite3")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass(frozen=True, slots=True)
class Cast:
    """Professionals of the seed the bench acts with (all with an account, all active)."""

    author: str  # posts the messages in SPICO
    matrix_member: str  # follows in Matrix
    mail_member: str  # follows by mail (delivery: mail) and replies by mail
    mail_address: str


def cast() -> Cast:
    people = [
        p
        for p in generate_directory(SEED).professionals
        if p.has_account and p.status in ("online", "active") and p.mssante_address
    ]
    author, matrix_member, mail_member = people[:3]
    return Cast(author.id, matrix_member.id, mail_member.id, mail_member.mssante_address.lower())


@dataclass
class BridgeProcess:
    """``spico-bridge run`` as a subprocess (its CPU and memory are the bridge's own)."""

    folder: Path
    config: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "bridge.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Launch and wait for the "ready" line (store, SPICO and every world answer)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ready_before = self._ready_count()
        path = self.folder / "bridge.yaml"
        path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        command = [sys.executable, "-m", "bridge.cli", "run", "--config", str(path)]
        if profiles := os.environ.get("SPICO_BENCH_PROFILE"):  # a folder: cProfile each bridge
            output = Path(profiles) / f"{self.folder.name}.prof"
            command[1:3] = ["-m", "cProfile", "-o", str(output), "-m", "bridge.cli"]
        self.process = spawn(command, self.log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + START_TIMEOUT
        while self._ready_count() <= ready_before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the bridge did not get ready:\n{self.tail()}")
            time.sleep(0.05)

    async def counted(self, counter: str) -> float:
        """The total of one of the bridge's counters (``spico_bridge_…``, all labels summed),
        read from its metrics endpoint."""
        url = f"http://127.0.0.1:{self.config['http']['listen_port']}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            response.raise_for_status()
            return counter_total(await response.text(), counter)

    def _ready_count(self) -> int:
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count(READY_LINE)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would do: no cleanup at all."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def tail(self, lines: int = 30) -> str:
        """The end of the bridge's log (which never holds message bodies)."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> BridgeProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def bridge_config(
    folder: Path, spico: Sandbox, participants: list[dict[str, str]], **worlds: Any
) -> dict[str, Any]:
    """A bridge config on the bench's sandbox with the given world sections (``matrix=…``,
    ``mail=…``) and its own SQLite database and metrics port."""
    return {
        "state_dir": str(folder),
        "database": {"url": f"sqlite:///{folder / 'bridge.db'}"},
        "spico": {
            "base_url": spico.base_url,
            "token_file": str(spico.token_file),
            "poll_wait_seconds": 20,
            "request_timeout_seconds": 30,
            "bridge_existing": "new",
        },
        "participants": participants,
        "http": {"listen_port": free_port()},
        "logging": {"level": "INFO"},
        **worlds,
    }


def matrix_world(work: Path, synapse: Synapse, bot: str, password: str) -> dict[str, Any]:
    """The ``matrix`` section of a bench bridge: ``bot`` on the local Synapse."""
    return {
        "homeserver": synapse.url,
        "server_name": synapse.server_name,
        "bot_user_id": bot,
        "password_file": secret(work, "bot-password", password),
    }


def appservice_world(work: Path, synapse: Synapse, bot_localpart: str) -> dict[str, Any]:
    """The ``matrix`` section of a bench bridge in appservice mode on the local Synapse (fresh
    tokens, a free listener port)."""
    return {
        "homeserver": synapse.url,
        "server_name": synapse.server_name,
        "bot_user_id": f"@{bot_localpart}:{synapse.server_name}",
        "mode": "appservice",
        "appservice": {
            "as_token_file": secret(work, "as-token", secrets.token_urlsafe(32)),
            "hs_token_file": secret(work, "hs-token", secrets.token_urlsafe(32)),
            "listen_port": free_port(),
        },
    }


def mail_world(work: Path, server: LocalMailServer, address: str, password: str) -> dict[str, Any]:
    """The ``mail`` section of a bench bridge: ``address`` on the local Postfix + Dovecot,
    STARTTLS both ways; no authentication required (the bench's Postfix writes no results)."""
    transport = {
        "host": "127.0.0.1",
        "security": "starttls",
        "username": address,
        "password_file": secret(work, "mail-password", password),
        "ca_file": str(server.ca_file),
        "timeout_seconds": 10,
    }
    return {
        "address": address,
        "smtp": {**transport, "port": server.ports.submission},
        "imap": {**transport, "port": server.ports.imap},
        "token_key_file": secret(work, "token-key", secrets.token_urlsafe(36)),
        "authentication": {"require": "none"},
    }


def secret(folder: Path, name: str, value: str) -> str:
    """Write a secret file (mode 600) and return its path, for ``*_file`` config keys."""
    path = folder / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)
