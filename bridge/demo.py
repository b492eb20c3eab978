"""The one-command local demo: the SPICO sandbox and the bridge on embedded defaults.

Everything lives under the state folder (``.state`` by default): the sandbox's SQLite file,
the bridge's, generated secrets and logs. ``Ctrl-C`` stops everything this started. Later
issues add the local Matrix homeserver and mail servers to the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.mail.localserver import LocalMailServer
    from bridge.matrix.localserver import MatrixDemo

SANDBOX_PORT = 8089
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}/api/v1"
DEMO_CONVERSATIONS = 5
#: Secret files config/spico-bridge.local.yaml refers to, created once with random values.
SECRET_FILES = ("spico-token", "matrix-bot-password", "mail-password", "mail-token-key")


def ensure_secrets(state_dir: Path) -> Path:
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in SECRET_FILES:
        path = folder / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
            path.chmod(0o600)
    return folder


def start_sandbox(state_dir: Path, token_file: Path) -> subprocess.Popen[bytes]:
    log = (state_dir / "sandbox.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.spico.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(SANDBOX_PORT),
            "--db",
            str(state_dir / "spico-sandbox.sqlite3"),
            "--token-file",
            str(token_file),
            "--demo-conversations",
            str(DEMO_CONVERSATIONS),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox stopped at start; see {state_dir / 'sandbox.log'}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(f"{SANDBOX_URL}/health", timeout=1),
        ):
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not answer within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_demo(state_dir: Path, *, config_path: Path) -> int:
    from bridge.app import configure_logging, serve
    from bridge.config import ConfigError, load_config

    state_dir.mkdir(parents=True, exist_ok=True)
    secret_folder = ensure_secrets(state_dir)
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    sandbox = start_sandbox(state_dir, secret_folder / "spico-token")
    matrix_demo = None
    mail_server = None
    try:
        if config.matrix.enabled:
            matrix_demo = start_matrix_demo(state_dir, config_path, secret_folder)
            if matrix_demo is not None:
                config_path = matrix_demo.config_path
                config = load_config(config_path)
                print(matrix_demo.banner(), flush=True)
        if config.mail.enabled:
            mail_demo = start_mail_demo(state_dir, config_path, secret_folder)
            if mail_demo is not None:
                config_path, mail_server = mail_demo
                config = load_config(config_path)
        print(
            f"\nSPICO sandbox: {SANDBOX_URL} (bearer token in {secret_folder / 'spico-token'};"
            f" {DEMO_CONVERSATIONS} demo conversations seeded)\n"
            f'  try: curl -H "Authorization: Bearer $(cat {secret_folder / "spico-token"})" '
            f"'{SANDBOX_URL}/directory/search?q=martin'\n"
            f"Bridge database: {config.database_url}\n"
            "Ctrl-C stops the bridge and the sandbox.\n",
            flush=True,
        )
        configure_logging(config)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config))
    finally:
        if matrix_demo is not None:
            matrix_demo.stop()
        if mail_server is not None:
            mail_server.stop()
        _stop(sandbox)
    return 0


def start_matrix_demo(state_dir: Path, config_path: Path, secret_folder: Path) -> MatrixDemo | None:
    """The local Synapse with the bot and one user per member of the demo conversations
    (None, with a message, when Synapse is not installed: run scripts/synapse)."""
    import json

    from bridge.matrix.localserver import SynapseMissing, start_demo

    token = (secret_folder / "spico-token").read_text(encoding="utf-8").strip()
    request = urllib.request.Request(
        f"{SANDBOX_URL}/conversations?limit=50", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        conversations = json.load(answer)["conversations"]
    members = sorted({m["id"] for c in conversations for m in c["members"]})
    try:
        return start_demo(state_dir, config_path, secret_folder, members)
    except SynapseMissing as missing:
        print(f"demo: no Matrix: {missing}", file=sys.stderr, flush=True)
        return None


#: The demo mail server listens where config/spico-bridge.local.yaml says (submission 2587
#: STARTTLS, IMAPS 2993); the other ports are its own.
DEMO_MAIL_PORTS = {
    "submission": 2587,
    "mx": 2525,
    "lmtp": 2424,
    "imap": 2143,
    "imaps": 2993,
    "auth": 2012,
}
DEMO_MAIL_PASSWORD_FILE = "mail-demo-password"


def start_mail_demo(
    state_dir: Path, config_path: Path, secret_folder: Path
) -> tuple[Path, LocalMailServer] | None:
    """Local Postfix + Dovecot with the bridge's mailbox and one per demo member (their
    directory MSSanté address), and a config where those members follow by mail too.
    None, with a message, when the Debian packages are missing (run scripts/mailserver)."""
    import json
    import shutil

    import yaml

    from bridge.mail.localserver import LocalMailServer, MailPorts

    if shutil.which("postfix") is None or shutil.which("dovecot") is None:
        print(
            "demo: no mail: Postfix/Dovecot not installed (run scripts/mailserver)",
            file=sys.stderr,
            flush=True,
        )
        return None
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    token = (secret_folder / "spico-token").read_text(encoding="utf-8").strip()

    def get(path: str) -> dict:
        request = urllib.request.Request(
            f"{SANDBOX_URL}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    members = sorted(
        {m["id"] for c in get("/conversations?limit=50")["conversations"] for m in c["members"]}
    )
    addresses = {m: get(f"/directory/professionals/{m}")["mssante_address"] for m in members}
    password_file = secret_folder / DEMO_MAIL_PASSWORD_FILE
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
        password_file.chmod(0o600)
    password = password_file.read_text(encoding="utf-8").strip()
    server = LocalMailServer((state_dir / "mail").resolve(), ports=MailPorts(**DEMO_MAIL_PORTS))
    server.start()
    mail = data["mail"]
    bridge_password = Path(str(mail["smtp"]["password_file"])).read_text("utf-8").strip()
    server.add_mailboxes(
        {
            str(mail["address"]): bridge_password,
            **{address: password for address in addresses.values()},
        }
    )
    for transport in ("smtp", "imap"):
        mail[transport]["ca_file"] = str(server.ca_file)
    participants = {p["spico_id"]: p for p in data.get("participants") or []}
    for member, address in addresses.items():
        entry = participants.setdefault(member, {"spico_id": member})
        entry["mail"] = address
        entry["delivery"] = "both" if entry.get("matrix_user") else "mail"
    data["participants"] = list(participants.values())
    overlay = state_dir / "spico-bridge.demo.yaml"
    overlay.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    print(
        f"Mail: IMAPS 127.0.0.1:{DEMO_MAIL_PORTS['imaps']}, submission "
        f"127.0.0.1:{DEMO_MAIL_PORTS['submission']} (STARTTLS, CA {server.ca_file});"
        f" mailboxes {', '.join(sorted(addresses.values())[:3])}… password in {password_file}",
        flush=True,
    )
    return overlay, server
