"""The one-command local demo: the SPICO sandbox, a local Synapse, local Postfix + Dovecot and
the bridge, on embedded defaults.

Everything lives under the state folder (``.state`` by default, ``--state-dir``): the
sandbox's SQLite file, the bridge's, Synapse's and the mail servers' state, generated secrets,
logs, the config the bridge runs with (``spico-bridge.demo.yaml``) and ``demo.json`` (what the
demo started, where, and a sample conversation to try, for scripts and tests). Every server
listens on 127.0.0.1 only, on fixed ports by default (see :data:`DEFAULT_PORTS`), or on free
ports the demo picks (``--ports auto``), or on the ports given (``--port NAME=N``).

Every demo member (the members of the seeded demo conversations) gets a Matrix account
(``@pro<idNat>:localhost``) and a mailbox (their MSSanté address in the directory), so a
reply typed in a member's mailbox shows up in the conversation's Matrix room, and the other
way round. ``Ctrl-C`` stops everything this started, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.launch import ServerStartFailed
from bridge.ports import free_port
from bridge.spico.sandbox.process import SandboxProcess

#: Where the demo's servers listen by default (loopback only). ``http`` is the bridge's
#: health/metrics endpoint; the six mail ports are the local Postfix + Dovecot's.
DEFAULT_PORTS: dict[str, int] = {
    "sandbox": 8089,
    "synapse": 8008,
    "http": 9464,
    "submission": 2587,
    "mx": 2525,
    "lmtp": 2424,
    "imap": 2143,
    "imaps": 2993,
    "auth": 2012,
}
MAIL_PORT_NAMES = ("submission", "mx", "lmtp", "imap", "imaps", "auth")
DEMO_CONVERSATIONS = 5
#: Secret files config/spico-bridge.local.yaml refers to, created once with random values.
SECRET_FILES = ("spico-token", "matrix-bot-password", "mail-password", "mail-token-key")
MATRIX_PASSWORD_FILE = "matrix-demo-password"
MAIL_PASSWORD_FILE = "mail-demo-password"
SYNAPSE_SECRET_FILE = "synapse-registration"
CONFIG_NAME = "spico-bridge.demo.yaml"
INFO_NAME = "demo.json"
#: The line the demo prints once the bridge answers ready (tests wait for it).
READY_LINE = "The demo is ready"
READY_TIMEOUT = 180.0
PORTAL_ALIAS_PREFIX = "spico_"  # bridge.matrix.sink.PORTAL_ALIAS_PREFIX


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


# --- ports ---------------------------------------------------------------------------------


def choose_ports(mode: str = "fixed", overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """The demo's ports: the defaults (``fixed``) or free ones picked now (``auto``), with
    ``overrides`` (name → port) applied on top."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(DEFAULT_PORTS))
    if unknown:
        raise DemoError(
            f"unknown port name(s) {', '.join(unknown)}: use {', '.join(DEFAULT_PORTS)}"
        )
    ports = dict(DEFAULT_PORTS)
    if mode == "auto":
        taken = set(overrides.values())
        for name in ports:
            if name not in overrides:
                port = free_port()
                while port in taken:
                    port = free_port()
                ports[name] = port
                taken.add(port)
    elif mode != "fixed":
        raise DemoError(f"--ports is fixed or auto, not {mode!r}")
    ports.update(overrides)
    if len(set(ports.values())) != len(ports):
        raise DemoError(f"two demo services on the same port: {ports}")
    return ports


def parse_port_overrides(items: list[str] | None) -> dict[str, int]:
    """``["sandbox=18089", …]`` → ``{"sandbox": 18089}``."""
    found: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit() or not 0 < int(value) < 65536:
            raise DemoError(f"--port expects NAME=PORT (e.g. sandbox=18089), not {item!r}")
        found[name.strip()] = int(value)
    return found


def _ports_in_use(ports: Mapping[str, int]) -> list[str]:
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers bind: connections of a previous run in TIME_WAIT do not count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name} {port}")
    return busy


# --- configuration ---------------------------------------------------------------------------


def ensure_secrets(state_dir: Path) -> Path:
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in SECRET_FILES:
        _stable_secret(folder / name, 48)
    return folder


def _stable_secret(path: Path, size: int = 18) -> str:
    """A random secret kept across demo runs (users keep their passwords)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(size) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def demo_config(base: dict[str, Any], state_dir: Path, ports: Mapping[str, int]) -> dict[str, Any]:
    """The base config (config/spico-bridge.local.yaml) moved to ``state_dir`` and ``ports``:
    every path under the base's ``state_dir`` now lives under ours; every URL and port of the
    demo's servers follows ``ports``."""
    base_state = str(base.get("state_dir") or ".state").rstrip("/")

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: move(item) for key, item in value.items()}
        if isinstance(value, list):
            return [move(item) for item in value]
        if isinstance(value, str):
            if value.rstrip("/") == base_state:
                return str(state_dir)
            if value.startswith(base_state + "/"):
                return str(state_dir / value[len(base_state) + 1 :])
        return value

    data: dict[str, Any] = move(base)
    data["state_dir"] = str(state_dir)
    spico = data.setdefault("spico", {})
    spico["base_url"] = f"http://127.0.0.1:{ports['sandbox']}/api/v1"
    spico["web_url"] = f"http://127.0.0.1:{ports['sandbox']}"
    if isinstance(data.get("matrix"), dict):
        data["matrix"]["homeserver"] = f"http://127.0.0.1:{ports['synapse']}"
    mail = data.get("mail")
    if isinstance(mail, dict):
        for key in ("smtp", "imap"):
            if isinstance(mail.get(key), dict):
                mail[key]["host"] = "127.0.0.1"
        if isinstance(mail.get("smtp"), dict):
            mail["smtp"]["port"] = ports["submission"]
        if isinstance(mail.get("imap"), dict):
            tls = mail["imap"].get("security") == "tls"
            mail["imap"]["port"] = ports["imaps" if tls else "imap"]
    data.setdefault("http", {})
    data["http"]["listen_host"] = "127.0.0.1"
    data["http"]["listen_port"] = ports["http"]
    return data


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


# --- the sandbox ---------------------------------------------------------------------------------


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


# --- the demo --------------------------------------------------------------------------------


@dataclass
class Demo:
    """One demo run: what it started (stopped in reverse order) and what it tells the user."""

    state_dir: Path
    ports: dict[str, int]
    cleanups: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    pids: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def on_stop(self, callback: Callable[[], object]) -> None:
        self.cleanups.callback(callback)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``spico-bridge demo`` (``scripts/demo`` passes its arguments)."""
    parser.add_argument(
        "--state-dir", default=".state", help="where everything is kept (default: %(default)s)"
    )
    parser.add_argument(
        "--config",
        default="config/spico-bridge.local.yaml",
        help="the base config, moved to the state folder and ports (default: %(default)s)",
    )
    parser.add_argument(
        "--ports",
        choices=["fixed", "auto"],
        default="fixed",
        help="fixed: "
        + ", ".join(f"{name} {port}" for name, port in DEFAULT_PORTS.items())
        + "; auto: free loopback ports picked at start (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        action="append",
        metavar="NAME=PORT",
        help="one service's port (repeatable), e.g. --port sandbox=18089; names: "
        + ", ".join(DEFAULT_PORTS),
    )


def demo_command(args: argparse.Namespace) -> int:
    try:
        ports = choose_ports(args.ports, parse_port_overrides(args.port))
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr, flush=True)
        return 2
    return run_demo(Path(args.state_dir), config_path=Path(args.config), ports=ports)


def run_demo(
    state_dir: Path,
    *,
    config_path: Path,
    ports: Mapping[str, int] | None = None,
) -> int:
    """The ``spico-bridge demo`` command: start everything, run the bridge until Ctrl-C."""
    state_dir = state_dir.absolute()
    try:
        ports = dict(ports or choose_ports())
        return _run(Demo(state_dir, ports), config_path)
    except DemoError as error:
        print(f"demo: {error}", file=sys.stderr, flush=True)
        return 2


def _run(demo: Demo, config_path: Path) -> int:
    from bridge.config import ConfigError, load_config

    state_dir = demo.state_dir
    # Private: secrets, databases, logs. The mail servers' users never open it (their state is
    # in a runtime folder of its own: start_mail).
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret_folder = ensure_secrets(state_dir)
    try:
        base = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DemoError(f"cannot read {config_path}: {error}") from None
    data = demo_config(base, state_dir, demo.ports)
    overlay = state_dir / CONFIG_NAME
    _write_yaml(overlay, data)
    try:
        config = load_config(overlay)  # checked before anything starts
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    wanted = {"sandbox", "http"}
    if config.matrix.enabled:
        wanted.add("synapse")
    if config.mail.enabled:
        wanted.update(MAIL_PORT_NAMES)
    busy = _ports_in_use({name: demo.ports[name] for name in sorted(wanted)})
    if busy:
        raise DemoError(
            f"port(s) already in use on 127.0.0.1: {', '.join(busy)} (another demo running?); "
            "`spico-bridge demo --ports auto` picks free ones"
        )
    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in stopping}
    # While servers start, SIGTERM stops the demo as Ctrl-C does (the bridge then handles both).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with demo.cleanups:
            try:
                return _start_and_serve(demo, data, overlay, secret_folder)
            finally:
                # Stopping takes a few seconds: a second Ctrl-C must not leave servers behind.
                for signum in stopping:
                    signal.signal(signum, signal.SIG_IGN)
                print("demo: stopping everything it started…", file=sys.stderr, flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_and_serve(demo: Demo, data: dict[str, Any], overlay: Path, secret_folder: Path) -> int:
    from bridge.app import configure_logging, serve
    from bridge.config import ConfigError, load_config

    state_dir, ports = demo.state_dir, demo.ports
    token_file = secret_folder / "spico-token"
    sandbox = SandboxProcess(
        state_dir,
        token_file=token_file,
        port=ports["sandbox"],
        extra_args=["--demo-conversations", str(DEMO_CONVERSATIONS)],
        start_timeout=60,
    )
    demo.on_stop(sandbox.stop)  # before start: a Ctrl-C while it starts stops it too
    try:
        sandbox.start()
    except ServerStartFailed as error:
        raise DemoError(str(error)) from None
    demo.pids["sandbox"] = sandbox.pid
    view = SandboxView(
        f"http://127.0.0.1:{ports['sandbox']}/api/v1",
        token_file.read_text(encoding="utf-8").strip(),
    )
    view.load()
    participants: dict[str, dict[str, Any]] = {
        str(p["spico_id"]): dict(p) for p in data.get("participants") or []
    }
    users: dict[str, str] = {}
    if _enabled(data, "matrix"):
        users = start_matrix(demo, data, secret_folder, view.members)
    mailboxes: dict[str, str] = {}
    if _enabled(data, "mail"):
        mailboxes = start_mail(demo, data, secret_folder, view.addresses)
    for user, member in users.items():
        participants.setdefault(member, {"spico_id": member})["matrix_user"] = user
    for member, address in mailboxes.items():
        participants.setdefault(member, {"spico_id": member})["mail"] = address
    for entry in participants.values():
        if "delivery" not in entry and entry.get("matrix_user") and entry.get("mail"):
            entry["delivery"] = "both"  # demo members follow in both worlds
        elif "delivery" not in entry and entry.get("mail"):
            entry["delivery"] = "mail"
    data["participants"] = list(participants.values())
    _write_yaml(overlay, data)
    try:
        config = load_config(overlay)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    demo.info.update(
        {
            "state_dir": str(state_dir),
            "config": str(overlay),
            "ports": ports,
            "sandbox": {"url": view.url, "token_file": str(token_file)},
            "database": config.database_url,
            "health": f"http://127.0.0.1:{ports['http']}/ready",
            "sample": _sample(view, data, users, mailboxes),
        }
    )
    _write_info(demo)
    print(_banner(demo, view, secret_folder), flush=True)
    configure_logging(config)

    async def main() -> None:
        stop = asyncio.Event()
        bridge = asyncio.create_task(serve(config, stop), name="bridge")
        watcher = asyncio.create_task(_announce_when_ready(demo, stop), name="demo-ready")
        try:
            await bridge
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _enabled(data: dict[str, Any], section: str) -> bool:
    value = data.get(section)
    return isinstance(value, dict) and value.get("enabled", True) is not False


def _disable(data: dict[str, Any], section: str, why: str) -> None:
    print(f"demo: no {section}: {why}", file=sys.stderr, flush=True)
    data[section] = {"enabled": False}


async def _announce_when_ready(demo: Demo, stop: asyncio.Event) -> None:
    url = demo.info["health"]

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set():
        if await asyncio.to_thread(ready):
            demo.info["ready"] = True
            _write_info(demo)
            print(_try_it(demo), flush=True)
            return
        if time.monotonic() > deadline:
            print(
                f"demo: the bridge is not ready after {READY_TIMEOUT:.0f} s; see {url} and the "
                "log above",
                file=sys.stderr,
                flush=True,
            )
            return
        await asyncio.sleep(0.5)


def _write_info(demo: Demo) -> None:
    demo.info["pids"] = {"demo": os.getpid(), **demo.pids}
    path = demo.state_dir / INFO_NAME
    fresh = path.with_suffix(".new")
    fresh.write_text(json.dumps(demo.info, indent=2, ensure_ascii=False) + "\n", "utf-8")
    fresh.replace(path)


# --- Matrix --------------------------------------------------------------------------------------


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
        _disable(data, "matrix", str(missing))
        return {}
    synapse = Synapse(
        demo.state_dir / "synapse",
        server_name=str(matrix["server_name"]),
        port=demo.ports["synapse"],
        shared_secret=_stable_secret(secret_folder / SYNAPSE_SECRET_FILE),
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
    password = _stable_secret(password_file)
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


# --- mail -------------------------------------------------------------------------------------


def start_mail(
    demo: Demo, data: dict[str, Any], secret_folder: Path, addresses: dict[str, str]
) -> dict[str, str]:
    """Local Postfix + Dovecot with the bridge's mailbox and one per demo member (their
    directory address); returns idNat → address. Without the Debian packages, mail is left
    out (with a message)."""
    from bridge.mail.localserver import LocalMailServer, MailPorts

    if shutil.which("postfix") is None or shutil.which("dovecot") is None:
        _disable(data, "mail", "Postfix/Dovecot not installed (run scripts/mailserver)")
        return {}
    mail = data["mail"]
    password_file = secret_folder / MAIL_PASSWORD_FILE
    password = _stable_secret(password_file)
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
    _write_info(demo)  # names the folder at once, should the demo be killed while starting
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


# --- what the user is told -------------------------------------------------------------------


def _sample(
    view: SandboxView, data: dict[str, Any], users: dict[str, str], mailboxes: dict[str, str]
) -> dict[str, Any] | None:
    """A demo conversation and one of its members (not its author: the author gets no mail of
    their own messages) reachable in every world the demo runs."""
    by_member = {member: user for user, member in users.items()}
    for conversation in view.conversations:
        for member in sorted(m["id"] for m in conversation["members"]):
            if member == conversation["created_by"]:
                continue
            if users and member not in by_member:
                continue
            if mailboxes and member not in mailboxes:
                continue
            sample: dict[str, Any] = {
                "conversation_id": conversation["id"],
                "subject": conversation["subject"],
                "member": member,
            }
            if member in by_member:
                from bridge.matrix.portal_state import alias_localpart

                server_name = data["matrix"]["server_name"]
                local = alias_localpart(PORTAL_ALIAS_PREFIX, conversation["id"])
                sample["room_alias"] = f"#{local}:{server_name}"
                sample["matrix_user"] = by_member[member]
            if member in mailboxes:
                sample["mailbox"] = mailboxes[member]
            return sample
    return None


def _banner(demo: Demo, view: SandboxView, secret_folder: Path) -> str:
    token_file = secret_folder / "spico-token"
    lines = [
        "",
        f"SPICO sandbox: {view.url} (bearer token in {token_file}; "
        f"{len(view.conversations)} demo conversations seeded)",
        f'  try: curl -H "Authorization: Bearer $(cat {token_file})" '
        f"'{view.url}/directory/search?q=martin'",
    ]
    matrix = demo.info.get("matrix")
    if matrix:
        sample = ", ".join(sorted(matrix["users"])[:3])
        lines += [
            f"Matrix: Synapse at {matrix['homeserver']} (server name {matrix['server_name']}); "
            f"{len(matrix['users'])} demo users, one per member of the demo conversations "
            f"(e.g. {sample}), password in {matrix['password_file']}.",
            "  Open the rooms with any Matrix client (Element: homeserver "
            f"{matrix['homeserver']}).",
        ]
    mail = demo.info.get("mail")
    if mail:
        lines += [
            f"Mail: IMAPS 127.0.0.1:{mail['imaps']['port']}, submission "
            f"127.0.0.1:{mail['submission']['port']} (STARTTLS), CA {mail['ca_file']}; one "
            f"mailbox per demo member (their MSSanté address), password in "
            f"{mail['password_file']}.",
        ]
    lines += [
        f"Bridge database: {demo.info['database']}; config {demo.info['config']}",
        f"Everything about this run: {demo.state_dir / INFO_NAME}",
        "Starting the bridge… Ctrl-C stops everything the demo started.",
    ]
    return "\n".join(lines)


def _try_it(demo: Demo) -> str:
    lines = [f"\n{READY_LINE} ({demo.state_dir / INFO_NAME})."]
    sample = demo.info.get("sample")
    if sample:
        lines.append(
            f"Try it with the conversation \u201c{sample['subject']}\u201d "
            f"(SPICO id {sample['conversation_id']}):"
        )
        if "matrix_user" in sample:
            matrix = demo.info["matrix"]
            lines.append(
                f"  Matrix: log in to {matrix['homeserver']} as {sample['matrix_user']} "
                f"(password in {matrix['password_file']}), accept the invitation to "
                f"{sample['room_alias']} and write in it: the message goes to SPICO and by mail."
            )
        if "mailbox" in sample:
            mail = demo.info["mail"]
            lines.append(
                f"  Mail: open {sample['mailbox']} (IMAPS 127.0.0.1:{mail['imaps']['port']}, "
                f"password in {mail['password_file']}) and reply to the mail "
                f"\u201c[SPICO] {sample['subject']}\u201d (submission "
                f"127.0.0.1:{mail['submission']['port']}, STARTTLS): the reply shows up in "
                "SPICO and in the Matrix room."
            )
    lines.append("Ctrl-C stops everything the demo started.")
    return "\n".join(lines)
