"""The demo's worlds: the SPICO sandbox (and what the demo reads from it), the local Synapse
with one account per demo member, and the local Postfix + Dovecot with one mailbox per demo
member."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.demo.ports import MAIL_PORT_NAMES
from bridge.demo.settings import disable, stable_secret
from bridge.demo.state import Demo, DemoError, write_info
from bridge.launch import ServerStartFailed

DEMO_CONVERSATIONS = 5
MATRIX_PASSWORD_FILE = "matrix-demo-password"
MAIL_PASSWORD_FILE = "mail-demo-password"
SYNAPSE_SECRET_FILE = "synapse-registration"


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
    Matrix user → idNat. Without Synapse installed, Matrix is left out (with a message)."""
    from bridge.matrix.localserver import Synapse, SynapseMissing, synapse_python

    matrix = data["matrix"]
    try:
        synapse_python()
    except SynapseMissing as missing:
        disable(data, "matrix", str(missing))
        return {}
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
    directory address); returns idNat → address. Without the Debian packages, mail is left
    out (with a message)."""
    from bridge.mail.localserver import LocalMailServer, MailPorts

    if shutil.which("postfix") is None or shutil.which("dovecot") is None:
        disable(data, "mail", "Postfix/Dovecot not installed (run scripts/mailserver)")
        return {}
    mail = data["mail"]
    password_file = secret_folder / MAIL_PASSWORD_FILE
    password = stable_secret(password_file)
    ports = MailPorts(**{name: demo.ports[name] for name in MAIL_PORT_NAMES})
    # Their state (queue, mailboxes) in a folder of its own their users can reach, wherever the
    # demo's state folder is (a private home is 0700), removed on stop; their logs stay with
    # the demo's.
    try:
        server = LocalMailServer.in_runtime_folder(
            ports=ports, log_dir=demo.state_dir / "mail-logs"
        )
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
