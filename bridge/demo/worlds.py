"""The demo's worlds: the SPICO sandbox (and what the demo reads from it), the local Synapse
with one account per demo member, and the local Postfix + Dovecot with one mailbox per demo
member; which of them cannot run here (checked before anything starts), and what a demo that
was killed left of them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.demo.ports import MAIL_PORT_NAMES
from bridge.demo.settings import enabled, stable_secret
from bridge.demo.state import Demo, DemoError, write_info
from bridge.launch import ServerStartFailed
from bridge.mail.server_folder import RUNTIME_PARENTS

DEMO_CONVERSATIONS = 5
MATRIX_PASSWORD_FILE = "matrix-demo-password"
MAIL_PASSWORD_FILE = "mail-demo-password"
SYNAPSE_SECRET_FILE = "synapse-registration"
MAIL_FOLDER_PREFIX = "spico-demo-mail-"


def left_out(data: dict[str, Any], euid: int | None = None) -> dict[str, str]:
    """The worlds enabled in ``data`` that cannot run here (section → why, and what to do):
    Matrix without Synapse installed; mail without the Debian packages, or without root."""
    from bridge.mail.localserver import unavailable
    from bridge.matrix.localserver import SynapseMissing, synapse_python

    found = {}
    if enabled(data, "matrix"):
        try:
            synapse_python()
        except SynapseMissing as missing:
            found["matrix"] = f"{missing}, then start the demo again"
    if enabled(data, "mail"):
        why = unavailable(euid)
        if why:
            found["mail"] = why
    return found


def stop_leftovers(previous: dict[str, Any], state_dir: Path) -> None:
    """What a demo killed before it could stop (``previous``: its ``demo.json``) left running
    or on disk: its sandbox and Synapse (by their PIDs, only if their command line names this
    state folder: never a reused PID) and its mail servers' runtime folder."""
    for name in ("sandbox", "synapse"):
        pid = (previous.get("pids") or {}).get(name)
        if isinstance(pid, int) and _runs_with(pid, state_dir):
            print(f"demo: stopping the {name} (PID {pid}) left by a demo that did not stop")
            _terminate(pid)
    remove_stale_mail_state(previous)


def _alive(pid: int) -> bool:
    """Running, not a zombie (read in /proc: ``kill -0`` says yes to zombies)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _runs_with(pid: int, state_dir: Path) -> bool:
    """A live process whose command line names ``state_dir``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return _alive(pid) and f"{state_dir}/".encode() in command


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove_stale_mail_state(previous: dict[str, Any]) -> None:
    """A demo killed before it could stop (``previous``: its ``demo.json``) leaves its mail
    servers' runtime folder, maybe with the servers running: stop them (by the PID files in
    that folder) and remove it. Only a folder this demo makes is touched."""
    from bridge.mail.localserver import LocalMailServer

    named = (previous.get("mail") or {}).get("state")
    if not named or os.geteuid() != 0:
        return
    folder = Path(str(named))
    ours = folder.parent in RUNTIME_PARENTS and folder.name.startswith(MAIL_FOLDER_PREFIX)
    if ours and folder.is_dir():
        print(f"demo: removing {folder}, left by a demo that did not stop", flush=True)
        LocalMailServer(folder).remove()


@dataclass
class SandboxView:
    """What the demo reads from the sandbox: its demo conversations and their members."""

    url: str
    token: str
    conversations: list[dict[str, Any]] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)  # idNat → MSSanté address

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def load(self) -> None:
        found = self.get("/conversations?limit=50")["conversations"]
        self.conversations = sorted(found, key=lambda c: (c["created_at"], c["subject"], c["id"]))
        for member in self.members:
            address = self.get(f"/directory/professionals/{member}").get("mssante_address")
            if address:
                self.addresses[member] = str(address).lower()

    @property
    def members(self) -> list[str]:
        return sorted({m["id"] for c in self.conversations for m in c["members"]})


def start_matrix(
    demo: Demo, data: dict[str, Any], secret_folder: Path, members: list[str]
) -> dict[str, str]:
    """The local Synapse, the bot and one user per demo member (``@pro<idNat>``); returns
    Matrix user → idNat."""
    from bridge.matrix.localserver import Synapse

    matrix = data["matrix"]
    synapse = Synapse(
        demo.state_dir / "synapse",
        server_name=str(matrix["server_name"]),
        port=demo.ports["synapse"],
        shared_secret=stable_secret(secret_folder / SYNAPSE_SECRET_FILE),
    )
    demo.on_stop(synapse.stop)  # before start: a Ctrl-C while it starts stops it too
    try:
        synapse.start()
    except ServerStartFailed as error:
        raise DemoError(str(error)) from None
    if synapse.pid is not None:
        demo.pids["synapse"] = synapse.pid
    bot_password = Path(str(matrix["password_file"])).read_text(encoding="utf-8").strip()
    synapse.register(str(matrix["bot_user_id"]).split(":", 1)[0][1:], bot_password, admin=True)
    password_file = secret_folder / MATRIX_PASSWORD_FILE
    password = stable_secret(password_file)
    users = {synapse.register(f"pro{member}", password): member for member in members}
    demo.info["matrix"] = {
        "homeserver": synapse.url,
        "server_name": synapse.server_name,
        "bot_user_id": str(matrix["bot_user_id"]),
        "password_file": str(password_file),
        "users": users,
        "log": str(synapse.log_path),
    }
    return users


def start_mail(
    demo: Demo, data: dict[str, Any], secret_folder: Path, addresses: dict[str, str]
) -> dict[str, str]:
    """Local Postfix + Dovecot with the bridge's mailbox and one per demo member (their
    directory address); returns idNat → address."""
    from bridge.mail.localserver import LocalMailServer, MailPorts
    from bridge.mail.server_folder import runtime_folder

    mail = data["mail"]
    password_file = secret_folder / MAIL_PASSWORD_FILE
    password = stable_secret(password_file)
    ports = MailPorts(**{name: demo.ports[name] for name in MAIL_PORT_NAMES})
    # Their state (queue, mailboxes) in a folder of its own their users can reach, wherever the
    # demo's state folder is (a private home is 0700), removed on stop; their logs stay with
    # the demo's.
    try:
        folder = runtime_folder(prefix=MAIL_FOLDER_PREFIX)
        server = LocalMailServer(folder, ports=ports, log_dir=demo.state_dir / "mail-logs")
    except RuntimeError as error:
        raise DemoError(str(error)) from None
    demo.on_stop(server.remove)  # before start: a Ctrl-C while it starts stops it too
    demo.info["mail"] = {"state": str(server.state), "logs": str(server.logs)}
    write_info(demo)  # names the folder at once, should the demo be killed while starting
    try:
        server.start()
    except ServerStartFailed as error:
        raise DemoError(str(error)) from None
    except (OSError, subprocess.CalledProcessError) as error:
        raise DemoError(
            f"the mail servers could not be prepared in {server.state}: {error}"
        ) from None
    for name, pid in (("postfix", server.postfix_pid()), ("dovecot", server.dovecot_pid())):
        if pid is not None:
            demo.pids[name] = pid
    bridge_password = Path(str(mail["smtp"]["password_file"])).read_text("utf-8").strip()
    server.add_mailboxes(
        {str(mail["address"]): bridge_password, **dict.fromkeys(addresses.values(), password)}
    )
    for transport in ("smtp", "imap"):
        mail[transport]["ca_file"] = str(server.ca_file)
    demo.info["mail"] |= {
        "submission": {"host": "127.0.0.1", "port": ports.submission, "security": "starttls"},
        "imaps": {"host": "127.0.0.1", "port": ports.imaps, "security": "tls"},
        "imap": {"host": "127.0.0.1", "port": ports.imap, "security": "starttls"},
        "ca_file": str(server.ca_file),
        "password_file": str(password_file),
        "bridge_address": str(mail["address"]),
        "mailboxes": addresses,
        "log": str(server.postfix_log),
    }
    return dict(addresses)
