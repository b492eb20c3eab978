"""The one-command demo, driven as a person would: ``scripts/demo`` (the README's run command)
brings up the sandbox, Synapse, Postfix + Dovecot and the bridge; a demo member reads the
sample conversation's mail over IMAP and answers it over SMTP submission; the answer shows up
in the conversation's Matrix room for that member's Matrix account; Ctrl-C stops everything.

The demo runs on its own servers (``--ports auto``), never on the session's, with its state
folder below a private (0700) folder, as in a home directory: the mail servers' users cannot
traverse it, so the demo keeps their state in a runtime folder of its own, named in
``demo.json`` and removed on stop. Everything it tells the user is read from its output and
its ``demo.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomResolveAliasResponse

from bridge.demo import (
    DEFAULT_PORTS,
    INFO_NAME,
    READY_LINE,
    DemoError,
    choose_ports,
    demo_config,
    parse_port_overrides,
    run_demo,
)
from bridge.demo.leftovers import stop_leftovers
from bridge.demo.mail_state import (
    KEPT_MAILBOXES,
    MAIL_FOLDER_PREFIX,
    restore_mailboxes,
    stop_keeping_mailboxes,
)
from bridge.demo.worlds import left_out
from bridge.mail.localserver import LocalMailServer
from bridge.mail.server_folder import runtime_folder
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    bodies,
    compose_reply,
    join_when_invited,
    read_inbox,
    submit,
    submit_to,
    timeline,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scripts" / "demo"
LOCAL_CONFIG = REPO / "config" / "spico-bridge.local.yaml"
#: scripts/demo first checks the set-up (a changed pyproject.toml means a reinstall).
START_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
RELAY_TIMEOUT = 120.0


def _alive(pid: int) -> bool:
    """Running and not a zombie (an exited daemon lingers as one until reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    fields = state.split()
    return len(fields) > 1 and fields[1] not in ("Z", "X")


def _port_free(port: int) -> bool:
    """Nothing listens there: a server could bind it now (TIME_WAIT leftovers allowed, as
    servers set SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _processes_mentioning(folder: Path) -> list[str]:
    """Live processes whose command line mentions ``folder`` or whose working directory is
    inside it (Postfix's daemons run in their queue folder: ``master -w`` names no path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        inside = cwd == str(folder) or cwd.startswith(f"{folder}/")
        if (str(folder) in command or inside) and _alive(int(entry.name)):
            found.append(f"{entry.name} (in {cwd}): {command.strip()}")
    return found


def _kept_by_mail(*folders: Path) -> list[str]:
    """Which of ``folders`` are missing, or not user mail's own and closed to everyone else."""
    wrong = []
    for folder in folders:
        try:
            info = folder.stat()
        except FileNotFoundError:
            wrong.append(f"{folder}: missing")
            continue
        if info.st_uid != pwd.getpwnam("mail").pw_uid or info.st_mode & 0o077:
            wrong.append(f"{folder}: uid {info.st_uid}, mode {info.st_mode & 0o777:04o}")
    return wrong


def _kept_mails(kept: Path, address: str) -> int:
    """How many mails of ``address`` the demo kept in its state folder after stopping."""
    local, _, domain = address.partition("@")
    maildir = kept / domain / local / "Maildir"
    return sum(1 for sub in ("new", "cur") for path in (maildir / sub).glob("*") if path.is_file())


@dataclass
class DemoRun:
    """``scripts/demo --state-dir STATE --ports auto`` in its own process group (a terminal's
    foreground job: Ctrl-C signals the whole group)."""

    process: subprocess.Popen[bytes]
    state: Path
    output: Path

    @classmethod
    def start(cls, state: Path, output: Path, *args: str) -> DemoRun:
        """Start the demo (``args`` added to its command line), its output going to ``output``."""
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(DEMO), "--state-dir", str(state), "--ports", "auto", *args],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return cls(process, state, output)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for_line(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.text():
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not print {line!r} in {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.2)

    def info(self) -> dict[str, Any]:
        return json.loads((self.state / INFO_NAME).read_text(encoding="utf-8"))

    def ctrl_c(self) -> int:
        """SIGINT to the process group, as Ctrl-C does; the exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def clean_up(self) -> None:
        """After a failure: whatever is left, by PID (the group, then the recorded daemons)."""
        if self.process.poll() is None:
            try:
                self.ctrl_c()
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the sandbox, if it outlived the demo
        with contextlib.suppress(Exception):
            LocalMailServer(Path(self.info()["mail"]["state"])).remove()  # by the PID files
        with contextlib.suppress(Exception):
            pid = int(self.info()["pids"]["synapse"])
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def demo_run() -> Iterator[DemoRun]:
    home = Path(tempfile.mkdtemp(prefix="spico-demo-home-"))  # mode 0700, like a home folder
    assert home.stat().st_mode & 0o777 == 0o700
    state = home / "clone" / ".state"
    state.parent.mkdir()
    run = DemoRun.start(state, home / "demo-output.log")
    try:
        yield run
    finally:
        run.clean_up()
        with contextlib.suppress(OSError):
            shutil.rmtree(home)


def _secret(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


@pytest.mark.timeout(START_TIMEOUT + 5 * RELAY_TIMEOUT + STOP_TIMEOUT)
async def test_a_reply_typed_in_a_demo_mailbox_reaches_the_matrix_room(
    demo_run: DemoRun,
) -> None:
    demo_run.wait_for_line(READY_LINE, START_TIMEOUT)
    info = demo_run.info()
    output = demo_run.text()
    sample, matrix, mail = info["sample"], info["matrix"], info["mail"]
    assert sample and "mailbox" in sample and "matrix_user" in sample, info
    for told in (sample["mailbox"], sample["matrix_user"], sample["room_alias"]):
        assert told in output, f"the demo tells the user about {told}"
    assert all(port != 2024 for port in info["ports"].values())

    # The mail servers keep their state outside the private folder, their logs inside it, and
    # the demo mail is readable by user mail only.
    mail_state, home = Path(mail["state"]), demo_run.state.parent.parent
    assert not mail_state.is_relative_to(home) and _kept_by_mail(mail_state / "mail") == []
    assert Path(mail["logs"]).is_relative_to(demo_run.state)
    maildir = LocalMailServer(mail_state).maildir(sample["mailbox"])

    # The member's mailbox holds the sample conversation's mail (bridged at start).
    mail_password = _secret(mail["password_file"])

    def bridged() -> list[EmailMessage]:
        inbox = read_inbox(sample["mailbox"], mail_password, mail["imaps"]["port"], mail["ca_file"])
        return [m for m in inbox if sample["subject"] in str(m["Subject"])]

    original = (await eventually(bridged, "the sample mail in the mailbox", RELAY_TIMEOUT))[-1]
    assert _kept_by_mail(maildir, maildir.parent) == [], "demo mail: user mail's only"
    assert "bridge+" in str(original["Reply-To"])

    # The member answers it with their mail client.
    text = f"Réponse tapée dans la messagerie de démo {uuid.uuid4().hex[:10]}"
    submit(
        compose_reply(original, text, sender=sample["mailbox"]),
        port=mail["submission"]["port"],
        ca_file=mail["ca_file"],
        username=sample["mailbox"],
        password=mail_password,
    )

    # The same member, in Matrix, sees it in the conversation's room.
    client = await _demo_client(matrix, sample["matrix_user"])
    try:

        async def room() -> str | None:
            answer = await client.room_resolve_alias(sample["room_alias"])
            return answer.room_id if isinstance(answer, RoomResolveAliasResponse) else None

        room_id = await eventually(room, "the portal room", RELAY_TIMEOUT)
        await join_when_invited(client, room_id, sample["matrix_user"])

        async def relayed() -> list[dict[str, Any]]:
            return bodies(await timeline(client, room_id), text)

        events = await eventually(relayed, "the mail reply in the Matrix room", RELAY_TIMEOUT)
        # Appservice mode: the member's mail reply speaks in Matrix as the member's ghost.
        ghost = f"@spico_{sample['member'].lower()}:{matrix['server_name']}"
        assert len(events) == 1 and events[0]["sender"] == ghost
        assert "a écrit" not in events[0]["content"]["body"], "the quote stays out of the room"
    finally:
        await client.close()

    output = demo_run.text()
    assert text not in output, "the demo's log shows no message body"
    token = str(original["Reply-To"]).split("+", 1)[1].split("@", 1)[0]
    assert token not in output, "nor a reply token"

    # The member left unlinked links their own account: the code is read in their mailbox.
    await _link_sample(info, mail_password)
    assert "lier" in output and info["link_sample"]["matrix_user"] in output

    # Ctrl-C: the demo stops, and so does everything it started (which the checks below see
    # while it runs: Postfix's master, Dovecot, Synapse, the sandbox).
    folders = (demo_run.state, mail_state)
    running = "\n".join(p for folder in folders for p in _processes_mentioning(folder))
    for daemon in (
        "postfix/sbin/master",
        "dovecot",
        "synapse.app.homeserver",
        "bridge.spico.sandbox",
    ):
        assert daemon in running, f"{daemon} not seen among:\n{running}"
    assert demo_run.ctrl_c() == 0, demo_run.tail()
    pids = {name: pid for name, pid in info["pids"].items() if name != "demo"}
    assert {"sandbox", "synapse", "postfix", "dovecot"} <= set(pids), pids

    def all_gone() -> bool:
        return (
            not any(_alive(pid) for pid in pids.values())
            and all(_port_free(port) for port in info["ports"].values())
            and not any(_processes_mentioning(folder) for folder in folders)
            and not mail_state.exists()
        )

    with contextlib.suppress(AssertionError):  # the asserts below say what is left
        await eventually(all_gone, "every process and port of the demo gone", within=20)
    assert not [name for name, pid in pids.items() if _alive(pid)], "a process outlived the demo"
    busy = [f"{n} {p}" for n, p in info["ports"].items() if not _port_free(p)]
    assert not busy, f"ports still taken after the demo: {busy}"
    assert not any(_processes_mentioning(folder) for folder in folders)
    assert _kept_by_mail(mail_state) == [f"{mail_state}: missing"], "removed on stop"
    assert _kept_mails(Path(mail["kept"]), sample["mailbox"]) >= 1, "the mailboxes are kept"


async def _demo_client(matrix: dict[str, Any], user: str) -> AsyncClient:
    """A demo member logged in to the demo's Synapse (closed by the caller)."""
    client = AsyncClient(
        matrix["homeserver"], user, config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0)
    )
    login = await client.login(_secret(matrix["password_file"]))
    if not isinstance(login, LoginResponse):
        await client.close()
        raise AssertionError(login)
    return client


async def _link_sample(info: dict[str, Any], mail_password: str) -> None:
    """``lier`` / ``code`` as the demo's ``link_sample`` member, the code read over IMAPS."""
    link, matrix, mail = info["link_sample"], info["matrix"], info["mail"]
    client = await _demo_client(matrix, link["matrix_user"])
    try:
        created = await client.room_create(is_direct=True, invite=[matrix["bot_user_id"]])
        room_id = created.room_id  # type: ignore[union-attr]

        async def said(text: str) -> str | None:
            for event in reversed(await timeline(client, room_id)):
                body = str(event["content"].get("body", ""))
                if event["sender"] == matrix["bot_user_id"] and text in body:
                    return body
            return None

        await eventually(lambda: said("lier"), "the bot's welcome", RELAY_TIMEOUT)
        await client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": f"lier {link['member']}"}
        )
        await eventually(lambda: said("Un code a été envoyé"), "the code sent", RELAY_TIMEOUT)

        def code() -> str | None:
            inbox = read_inbox(
                link["mailbox"], mail_password, mail["imaps"]["port"], mail["ca_file"]
            )
            found = [m for m in inbox if "Code de liaison" in str(m["Subject"])]
            body = str(found[-1].get_body(("plain",)).get_content()) if found else ""  # type: ignore[union-attr]
            match = re.search(r"Votre code : (\d{6})", body)
            return match.group(1) if match else None

        value = await eventually(code, "the code in the mailbox", RELAY_TIMEOUT)
        await client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": f"code {value}"}
        )
        await eventually(lambda: said("Votre compte Matrix est lié"), "linked", RELAY_TIMEOUT)
    finally:
        await client.close()


# --- the demo's options, without starting anything -----------------------------------------------


def test_ports_are_fixed_by_default_or_picked_free_and_overridable() -> None:
    assert choose_ports() == DEFAULT_PORTS
    auto = choose_ports("auto", {"sandbox": 18089})
    assert auto["sandbox"] == 18089 and set(auto) == set(DEFAULT_PORTS)
    assert len(set(auto.values())) == len(auto) and 2024 not in auto.values()
    assert all(_port_free(port) for name, port in auto.items() if name != "sandbox")
    assert parse_port_overrides(["imaps=12993", "http=19464"]) == {"imaps": 12993, "http": 19464}
    for wrong in (["imaps"], ["imaps=x"], ["imaps=70000"]):
        with pytest.raises(DemoError):
            parse_port_overrides(wrong)
    with pytest.raises(DemoError, match="unknown port name"):
        choose_ports("fixed", {"smtp": 2525})
    with pytest.raises(DemoError, match="same port"):
        choose_ports("fixed", {"mx": DEFAULT_PORTS["submission"]})


def test_the_base_config_moves_to_the_state_folder_and_ports(tmp_path: Path) -> None:
    base = yaml.safe_load(LOCAL_CONFIG.read_text("utf-8"))
    ports = choose_ports("auto")
    data = demo_config(base, tmp_path, ports)
    assert ".state" not in json.dumps(data), "every path follows --state-dir"
    assert data["state_dir"] == str(tmp_path)
    assert data["spico"]["token_file"] == str(tmp_path / "secrets" / "spico-token")
    assert data["spico"]["base_url"] == f"http://127.0.0.1:{ports['sandbox']}/api/v1"
    assert data["matrix"]["homeserver"] == f"http://127.0.0.1:{ports['synapse']}"
    assert data["mail"]["smtp"]["port"] == ports["submission"]
    assert data["mail"]["imap"]["port"] == ports["imaps"]  # security: tls in the base config
    assert data["http"] == {"listen_host": "127.0.0.1", "listen_port": ports["http"]}
    assert base["state_dir"] == ".state", "the base config is left as it was"


def test_a_port_in_use_stops_the_demo_before_it_starts_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = choose_ports("auto", {"sandbox": port})
        code = run_demo(
            tmp_path, config_path=REPO / "config" / "spico-bridge.local.yaml", ports=ports
        )
    assert code == 2
    assert f"sandbox {port}" in capsys.readouterr().err
    assert not (tmp_path / "sandbox.log").exists() and not (tmp_path / INFO_NAME).exists()


def test_a_server_that_does_not_start_stops_the_demo_with_its_log_s_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "spico-sandbox.sqlite3").write_bytes(b"not a database " * 200)  # damaged state
    code = run_demo(state, config_path=LOCAL_CONFIG, ports=choose_ports("auto"))
    assert code == 2
    err = capsys.readouterr().err
    assert "The SPICO sandbox did not start" in err
    assert f"last lines of {state / 'sandbox.log'}:" in err
    assert "sqlite3.DatabaseError: file is not a database" in err
    assert "try: " in err and "--state-dir" in err
    assert not (state / "synapse").exists(), "nothing after the sandbox was started"


def test_worlds_that_cannot_run_here_are_left_out_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.matrix import localserver

    data = demo_config(yaml.safe_load(LOCAL_CONFIG.read_text("utf-8")), Path("/x"), DEFAULT_PORTS)
    as_user = left_out(data, euid=1000)
    assert set(as_user) == {"mail"} and "root" in as_user["mail"]
    assert left_out(data, euid=0) == {}, "everything is installed here, and this is root"

    def missing() -> None:
        raise localserver.SynapseMissing("Synapse is not installed in .venv-synapse")

    monkeypatch.setattr(localserver, "synapse_python", missing)
    assert "not installed" in left_out(data, euid=0)["matrix"]
    assert left_out({**data, "matrix": {"enabled": False}}, euid=0) == {}


def test_a_second_demo_on_the_same_state_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _sleeper("spico-bridge", "demo")
    try:
        (tmp_path / INFO_NAME).write_text(json.dumps({"pids": {"demo": first.pid}}))
        code = run_demo(tmp_path, config_path=LOCAL_CONFIG, ports=choose_ports("auto"))
    finally:
        first.kill()
        first.wait()
    assert code == 2
    assert f"a demo already runs with the state folder {tmp_path} (PID {first.pid})" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "sandbox.log").exists()


def _sleeper(*args: str) -> subprocess.Popen[bytes]:
    """A process whose command line ends with ``args`` (returned once it has exec'd)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while args[-1].encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    return process


def test_what_a_killed_demo_left_is_stopped_and_removed_by_the_next_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    left_mail = runtime_folder(prefix=MAIL_FOLDER_PREFIX)
    not_ours = tmp_path / "spico-demo-mail-kept"
    not_ours.mkdir()
    sandbox = _sleeper("--db", f"{state}/spico-sandbox.sqlite3")
    stranger = _sleeper("-c", f"{tmp_path}/elsewhere/homeserver.yaml")  # a reused PID
    try:
        stop_leftovers({"pids": {"sandbox": sandbox.pid, "synapse": stranger.pid}}, state)
        assert sandbox.wait(timeout=10) is not None, "the sandbox left behind is stopped"
        assert stranger.poll() is None, "a process that is not this demo's is left alone"
        stop_leftovers({"mail": {"state": str(not_ours)}}, state)
        assert not_ours.is_dir(), "only a folder under the runtime parents is touched"
        stop_leftovers({"mail": {"state": str(left_mail)}}, state)
        assert not left_mail.exists()
    finally:
        for process in (sandbox, stranger):
            process.kill()
            process.wait()
        shutil.rmtree(left_mail, ignore_errors=True)


def test_the_demo_mailboxes_outlive_the_run_in_the_private_state_folder(tmp_path: Path) -> None:
    """Each run's mail servers get a new runtime folder, removed on stop; the mailboxes are
    kept in the state folder (below a 0700 folder here) and come back at the next start."""
    address, password = "martine.demo@sandbox.mssante.fr", "demo-password"
    kept = tmp_path / "state" / KEPT_MAILBOXES
    kept.parent.mkdir()
    first = LocalMailServer(runtime_folder(prefix=MAIL_FOLDER_PREFIX), users={address: password})
    try:
        first.start()
        note = EmailMessage()
        note["From"], note["To"], note["Subject"] = address, address, "à relire demain"
        note.set_content("Le courrier d'hier.")
        submit_to(first, note, username=address, password=password)
        deadline = time.monotonic() + 20
        while not first.messages(address) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_keeping_mailboxes(first, kept)
    assert not first.state.exists(), "the runtime folder is removed on stop"
    assert kept.stat().st_mode & 0o077 == 0 and kept.stat().st_uid == os.geteuid()

    second = LocalMailServer(runtime_folder(prefix=MAIL_FOLDER_PREFIX), users={address: password})
    try:
        restore_mailboxes(kept, second)
        second.start()
        inbox = read_inbox(address, password, second.ports.imaps, str(second.ca_file))
        assert [str(mail["Subject"]) for mail in inbox] == ["à relire demain"]
        maildir = second.maildir(address)
        assert maildir.stat().st_uid == pwd.getpwnam("mail").pw_uid
    finally:
        stop_keeping_mailboxes(second, kept)


@pytest.mark.timeout(START_TIMEOUT + STOP_TIMEOUT)
def test_closing_the_terminal_stops_the_demo_and_what_it_started(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed) stops the demo as Ctrl-C does: a daemon's SIGHUP reloads,
    but a demo left reloading in the background would hold its servers and ports forever.
    Matrix and mail are switched off here: the signal path is the same with them."""
    base = yaml.safe_load(LOCAL_CONFIG.read_text("utf-8"))
    base["matrix"]["enabled"] = False
    base["mail"]["enabled"] = False
    config = tmp_path / "sandbox-only.yaml"
    config.write_text(yaml.safe_dump(base), encoding="utf-8")
    run = DemoRun.start(tmp_path / "state", tmp_path / "demo-output.log", "--config", str(config))
    try:
        run.wait_for_line(READY_LINE, START_TIMEOUT)
        info = run.info()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGHUP)
        assert run.process.wait(timeout=STOP_TIMEOUT) == 0, run.tail()
        pids = {name: pid for name, pid in info["pids"].items() if name != "demo"}
        assert "sandbox" in pids, pids
        assert not [name for name, pid in pids.items() if _alive(pid)], run.tail()
        assert "reload" not in run.text(), "a hang-up stops the demo; it does not reload"
    finally:
        run.clean_up()
