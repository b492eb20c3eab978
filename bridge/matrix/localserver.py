"""A private Synapse (PyPI ``matrix-synapse`` in ``.venv-synapse``) for tests and the demo.

SQLite, one client listener on loopback, no federation listener, rate limits raised (tests and
the demo create many rooms and users quickly), ``bcrypt_rounds: 4`` (register and log in in
~50 ms instead of ~1 s). Started detached (``setsid``, stdio to a log file, ``</dev/null``) and
stopped by PID. Users are registered through the admin shared-secret API. A start that fails
raises :class:`~bridge.launch.ServerStartFailed` with the reason read from Synapse's log.

Synapse is not a dependency of the bridge: ``scripts/synapse`` installs it in its own venv.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.launch import ServerStartFailed, alive, log_size, spawn, why_not_answering
from bridge.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SYNAPSE_VENV = REPO / ".venv-synapse"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

#: Every rate limit raised: tests and the demo create users, rooms and messages in bursts.
_FAST = {"per_second": 1000, "burst_count": 10000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _FAST,
    "rc_registration": _FAST,
    "rc_registration_token_validity": _FAST,
    "rc_login": {"address": _FAST, "account": _FAST, "failed_attempts": _FAST},
    "rc_joins": {"local": _FAST, "remote": _FAST},
    "rc_joins_per_room": _FAST,
    "rc_invites": {"per_room": _FAST, "per_user": _FAST, "per_issuer": _FAST},
    "rc_3pid_validation": _FAST,
    "rc_room_creation": _FAST,
    "rc_presence": {"per_user": _FAST},
    "rc_delayed_event_mgmt": _FAST,
    "rc_reports": _FAST,
    "rc_media_create": _FAST,
    "rc_profile": _FAST,
    "rc_user_directory": _FAST,
    "rc_admin_redaction": _FAST,
    "rc_key_requests": _FAST,
}


class SynapseMissing(RuntimeError):
    """``.venv-synapse`` is not installed."""


def synapse_python(venv: Path = SYNAPSE_VENV) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        raise SynapseMissing(
            f"Synapse is not installed in {venv}: run scripts/synapse (scripts/test runs it)"
        )
    return python


def homeserver_config(
    state: Path,
    *,
    server_name: str,
    port: int,
    shared_secret: str,
    rate_limited: bool = False,
    app_services: Sequence[Path] = (),
    presence: bool = False,
) -> dict[str, Any]:
    """The homeserver.yaml of a private test/demo instance (see test-servers.md); with
    ``app_services``, those registration files are loaded (appservice mode)."""
    config: dict[str, Any] = {
        "server_name": server_name,
        "pid_file": str(state / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(state / "homeserver.db")}},
        "log_config": str(state / "log.config"),
        "media_store_path": str(state / "media"),
        "signing_key_path": str(state / "signing.key"),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": presence},
        "url_preview_enabled": False,
        "registration_shared_secret": shared_secret,
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "bcrypt_rounds": 4,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "federation_domain_whitelist": [],
        "enable_metrics": False,
    }
    if not rate_limited:
        config.update(RATE_LIMITS)
    if app_services:
        config["app_service_config_files"] = [str(p) for p in app_services]
    return config


LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
loggers:
  synapse.storage.SQL:
    level: WARNING
  synapse.access.http:
    level: {access_level}
root:
  level: WARNING
  handlers: [console]
disable_existing_loggers: false
"""


def log_config(*, access_log: bool = False) -> str:
    """Synapse's log config: warnings only, and with ``access_log`` one line per request it
    answers, with the CPU the request used (the bench reads them: ``bridge.bench``)."""
    return LOG_CONFIG.format(access_level="INFO" if access_log else "WARNING")


@dataclass
class Synapse:
    """One private Synapse instance whose state lives in ``state``."""

    state: Path
    server_name: str = "localhost"
    port: int = field(default_factory=free_port)
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(24))
    rate_limited: bool = False
    #: Appservice registration files to load (copied into the state folder at ``prepare``).
    app_services: tuple[Path, ...] = ()
    presence: bool = False
    #: Log each answered request (and its CPU): the bench's split of Synapse's CPU.
    access_log: bool = False
    venv: Path = SYNAPSE_VENV
    pid: int | None = None

    def __post_init__(self) -> None:
        self.state = self.state.absolute()  # Synapse runs with the state folder as cwd

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state / "homeserver.log"

    def prepare(self) -> None:
        """Write homeserver.yaml and the signing key (kept when they exist: same identity)."""
        python = synapse_python(self.venv)
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o755)
        (self.state / "media").mkdir(exist_ok=True)
        (self.state / "log.config").write_text(
            log_config(access_log=self.access_log), encoding="utf-8"
        )
        config = homeserver_config(
            self.state,
            server_name=self.server_name,
            port=self.port,
            shared_secret=self.shared_secret,
            rate_limited=self.rate_limited,
            app_services=self.app_services,
            presence=self.presence,
        )
        (self.state / "homeserver.yaml").write_text(
            yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
        )
        key = self.state / "signing.key"
        if not key.exists():
            subprocess.run(
                [str(python), "-m", "synapse._scripts.generate_signing_key", "-o", str(key)],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )

    def start(self) -> None:
        """Start detached and wait until the client API answers."""
        python = synapse_python(self.venv)
        self.prepare()
        since = log_size(self.log_path)
        command = [
            str(python),
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(self.state / "homeserver.yaml"),
        ]
        process = spawn(command, self.log_path, cwd=self.state, start_new_session=True)
        self.pid = process.pid
        url = f"{self.url}/_matrix/client/versions"
        reason = why_not_answering(process, url, START_TIMEOUT, what="its client API")
        if reason is not None:
            self.stop()
            raise self._failed(reason, since)

    def _failed(self, reason: str, since: int) -> ServerStartFailed:
        return ServerStartFailed.from_logs(
            "Synapse",
            reason,
            [(self.log_path, since)],
            hint=f"if port {self.port} is taken, pick another (the demo: --ports auto, or "
            f"--port synapse=N); if Synapse is broken, reinstall it: rm -rf {self.venv} && "
            "scripts/synapse",
        )

    def alive(self) -> bool:
        """Read /proc (an exited daemon can linger as a zombie, so kill -0 would lie)."""
        return self.pid is not None and alive(self.pid)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it hangs."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done == pid:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    # ------------------------------------------------------------------ users

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def register(self, localpart: str, password: str, *, admin: bool = False) -> str:
        """Register a user through the admin shared-secret API; returns the user id.

        An existing user is kept (idempotent for the demo's second start)."""
        nonce = self._call("GET", "/_synapse/admin/v1/register")["nonce"]
        # The MAC covers nonce NUL user NUL password NUL admin|notadmin (no trailing NUL).
        parts = (nonce, localpart, password, "admin" if admin else "notadmin")
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join(part.encode() for part in parts))
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        try:
            return str(self._call("POST", "/_synapse/admin/v1/register", body)["user_id"])
        except urllib.error.HTTPError as error:
            if error.code == 400 and b"M_USER_IN_USE" in error.read():
                return f"@{localpart}:{self.server_name}"
            raise
