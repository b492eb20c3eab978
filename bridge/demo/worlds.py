"""The demo's worlds: the SPICO sandbox (and what the demo reads from it), the local Synapse
with one account per demo member, and the local Postfix + Dovecot with one mailbox per demo
member; and which of them cannot run here (checked before anything starts)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.demo.mail_state import (
    KEPT_MAILBOXES,
    MAIL_FOLDER_PREFIX,
    restore_mailboxes,
    stop_keeping_mailboxes,
)
from bridge.demo.ports import MAIL_PORT_NAMES
from bridge.demo.settings import enabled, stable_secret
from bridge.demo.state import Demo, DemoError, write_info
from bridge.launch import ServerStartFailed

DEMO_CONVERSATIONS = 5
MATRIX_PASSWORD_FILE = "matrix-demo-password"
MAIL_PASSWORD_FILE = "mail-demo-password"
SYNAPSE_SECRET_FILE = "synapse-registration"
#: What the demo posts in the sample conversation once the bridge is ready.
WELCOME = (
    "Bienvenue dans la démo du pont SPICO : répondez à ce message par mail ou dans le salon "
    "Matrix, il arrive dans SPICO et chez les autres membres."
)


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

    def welcome(self, conversation_id: str, author: str) -> None:
        """A message from ``author`` in the sample conversation, once per demo state (its
        idempotency key): the seeded messages predate the bridge, so none reaches a mailbox."""
        body = json.dumps({"acting_as": author, "body": WELCOME}).encode()
        request = urllib.request.Request(
            f"{self.url}/conversations/{conversation_id}/messages",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "X-Spico-User": author,
                "Idempotency-Key": f"demo-welcome-{conversation_id}",
            },
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    @property
    def members(self) -> list[str]:
        return sorted({m["id"] for c in self.conversations for m in c["members"]})


def start_matrix(
    demo: Demo, data: dict[str, Any], secret_folder: Path, members: list[str]
) -> dict[str, str]:
    """The local Synapse (loading the bridge's registration in appservice mode: the bot and
    the ghosts are the appservice's), and one user per demo member (``@pro<idNat>``) to log in
    with; returns Matrix user → idNat."""
    from bridge.config.matrix import MatrixConfig
    from bridge.matrix.appservice.registration import write_registration
    from bridge.matrix.localserver import Synapse

    matrix = data["matrix"]
    app_services: tuple[Path, ...] = ()
    if matrix.get("mode") == "appservice":
        # What `spico-bridge generate-registration` writes, installed into the demo's Synapse.
        registration = demo.state_dir / "synapse-registration.yaml"
        write_registration(MatrixConfig.model_validate(matrix), registration)
        app_services = (registration,)
    synapse = Synapse(
        demo.state_dir / "synapse",
        server_name=str(matrix["server_name"]),
        port=demo.ports["synapse"],
        shared_secret=stable_secret(secret_folder / SYNAPSE_SECRET_FILE),
        app_services=app_services,
        presence=bool(app_services),
    )
    demo.on_stop(synapse.stop)  # before start: a Ctrl-C while it starts stops it too
    try:
        synapse.start()
    except ServerStartFailed as error:
        raise DemoError(str(error)) from None
    if synapse.pid is not None:
        demo.pids["synapse"] = synapse.pid
    if not app_services:  # relay mode: the bot is an account of its own
        bot_password = Path(str(matrix["password_file"])).read_text(encoding="utf-8").strip()
        bot = str(matrix["bot_user_id"]).split(":", 1)[0][1:]
        synapse.register(bot, bot_password, admin=True)
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
    # demo's state folder is (a private home is 0700), removed on stop; the mailboxes are kept
    # in the demo's state folder between runs, and their logs stay there.
    try:
        folder = runtime_folder(prefix=MAIL_FOLDER_PREFIX)
        server = LocalMailServer(folder, ports=ports, log_dir=demo.state_dir / "mail-logs")
    except RuntimeError as error:
        raise DemoError(str(error)) from None
    kept = demo.state_dir / KEPT_MAILBOXES
    # Registered before start: a Ctrl-C while it starts stops it too.
    demo.on_stop(lambda: stop_keeping_mailboxes(server, kept))
    demo.info["mail"] = {"state": str(server.state), "logs": str(server.logs), "kept": str(kept)}
    write_info(demo)  # names the folder at once, should the demo be killed while starting
    try:
        restore_mailboxes(kept, server)
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
