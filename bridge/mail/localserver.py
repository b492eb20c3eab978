"""Private Postfix + Dovecot instances for tests and the demo (Debian packages, loopback only).

Everything lives in one state folder (configs, queue, mailboxes, logs, TLS certificate); nothing
in /etc is touched and nothing can leave the machine (``default_transport`` and
``relay_transport`` are ``error:``). Mail flows: SMTP submission (STARTTLS + AUTH through
Dovecot's SASL over inet) → Postfix → LMTP (inet) → Dovecot Maildir → IMAP (STARTTLS) / IMAPS.

The pitfalls of ``/work/shared/test-servers.md`` shape this module: generated files are
backdated (Postfix re-reads a ``main.cf`` whose mtime is not in the past), daemons get
``</dev/null >log 2>&1`` (Dovecot would keep a caller's pipe open), liveness is read in
``/proc/PID/status`` (exited daemons linger as zombies), and the state folder is mode 755 so
Dovecot's mail processes (user ``mail``) can traverse it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge.ports import free_port

SANDBOX_DOMAIN = "sandbox.mssante.fr"
TEST_DOMAIN = "test.mssante.fr"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class MailPorts:
    """Loopback ports of one instance (free, non-standard)."""

    submission: int
    mx: int
    lmtp: int
    imap: int
    imaps: int
    auth: int

    @classmethod
    def pick(cls) -> MailPorts:
        ports: set[int] = set()
        while len(ports) < 6:
            ports.add(free_port())
        return cls(*sorted(ports))


def render_postfix_main(state: Path, ports: MailPorts, domains: tuple[str, ...]) -> str:
    conf = state / "postfix" / "conf"
    return f"""\
compatibility_level = 3.6
queue_directory = {state}/postfix/queue
data_directory = {state}/postfix/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mail.{domains[0]}
mydomain = {domains[0]}
myorigin = $mydomain
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled
default_transport = error:mail never leaves the test servers
relay_transport = error:mail never leaves the test servers
relay_domains =
virtual_mailbox_domains = {", ".join(domains)}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{ports.lmtp}
recipient_delimiter = +
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{ports.auth}
smtpd_sasl_auth_enable = no
smtpd_tls_cert_file = {state}/tls/cert.pem
smtpd_tls_key_file = {state}/tls/key.pem
smtpd_tls_security_level = may
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
in_flow_delay = 0
smtputf8_enable = no
biff = no
append_dot_mydomain = no
maillog_file = {state}/postfix/log/postfix.log
maillog_file_prefixes = {state}
delay_warning_time = 0
bounce_queue_lifetime = 1h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maximal_queue_lifetime = 1h
"""


def render_postfix_master(state: Path, ports: MailPorts) -> str:
    conf = state / "postfix" / "conf"
    services = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
    restrictions = f"check_recipient_access,texthash:{conf}/faults,permit_sasl_authenticated,reject"
    submission = f"""\
127.0.0.1:{ports.submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions={restrictions}
"""
    # The MX port: what other MSSanté operators' servers use (no AUTH, our domains only).
    mx = f"""\
127.0.0.1:{ports.mx} inet n - n - - smtpd
  -o syslog_name=postfix/mx
  -o smtpd_recipient_restrictions=reject_unauth_destination
"""
    return submission + mx + services


def render_dovecot(state: Path, ports: MailPorts, domains: tuple[str, ...]) -> str:
    dove = state / "dovecot"
    mail_uid = pwd.getpwnam("mail").pw_uid
    return f"""\
base_dir = {dove}/run
state_dir = {dove}/state
log_path = {dove}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{state}/tls/cert.pem
ssl_key = <{state}/tls/key.pem
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
disable_plaintext_auth = yes
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dove}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={state}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {ports.imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ports.imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {ports.lmtp}
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {ports.auth}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{domains[0]}
}}
"""


def _alive(pid: int) -> bool:
    """Running, not a zombie (``kill -0`` says yes to zombies: read /proc instead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return "Z" not in line.split()[1] and "X" not in line.split()[1]
    return False


def _backdate(*paths: Path) -> None:
    when = time.time() - 5
    for path in paths:
        os.utime(path, (when, when))


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.05)
    return False


@dataclass
class LocalMailServer:
    """One Postfix + Dovecot pair with all state under ``state``."""

    state: Path
    domains: tuple[str, ...] = (SANDBOX_DOMAIN, TEST_DOMAIN)
    ports: MailPorts = field(default_factory=MailPorts.pick)
    users: dict[str, str] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)

    @property
    def postfix_conf(self) -> Path:
        return self.state / "postfix" / "conf"

    @property
    def dovecot_conf(self) -> Path:
        return self.state / "dovecot" / "dovecot.conf"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate, to trust as a CA."""
        return self.state / "tls" / "cert.pem"

    # --- configuration -------------------------------------------------------------------

    def prepare(self) -> None:
        """Create folders, certificate and configuration (idempotent)."""
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o755)
        for sub in (
            "postfix/conf",
            "postfix/queue",
            "postfix/log",
            "dovecot/run",
            "dovecot/state",
            "tls",
            "mail",
        ):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        data = self.state / "postfix" / "data"
        data.mkdir(exist_ok=True)
        shutil.chown(data, "postfix", "postfix")
        shutil.chown(self.state / "mail", "mail", "mail")
        if not self.ca_file.exists():
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "30",
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout",
                    str(self.state / "tls" / "key.pem"),
                    "-out",
                    str(self.ca_file),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            os.chmod(self.state / "tls" / "key.pem", 0o644)
        (self.postfix_conf / "main.cf").write_text(
            render_postfix_main(self.state, self.ports, self.domains)
        )
        (self.postfix_conf / "master.cf").write_text(render_postfix_master(self.state, self.ports))
        self.dovecot_conf.write_text(render_dovecot(self.state, self.ports, self.domains))
        self._write_maps()
        _backdate(self.postfix_conf / "main.cf", self.postfix_conf / "master.cf", self.dovecot_conf)

    def _write_maps(self) -> None:
        (self.postfix_conf / "vmailbox").write_text(
            "".join(f"{address} OK\n" for address in sorted(self.users))
        )
        (self.postfix_conf / "faults").write_text(
            "".join(f"{address} {answer}\n" for address, answer in sorted(self.faults.items()))
        )
        users = self.state / "dovecot" / "users"
        fresh = users.with_suffix(".new")  # renamed into place: Dovecot never reads half a file
        fresh.write_text(
            "".join(
                f"{address}:{{PLAIN}}{password}::::::\n"
                for address, password in sorted(self.users.items())
            )
        )
        os.chmod(fresh, 0o644)
        fresh.replace(users)  # not backdated: Dovecot re-reads it when its mtime changes
        _backdate(self.postfix_conf / "vmailbox", self.postfix_conf / "faults")

    def add_mailboxes(self, accounts: dict[str, str]) -> None:
        """Add (address → password) mailboxes; a running Postfix reloads its maps."""
        self.users.update({address.lower(): pw for address, pw in accounts.items()})
        self._write_maps()
        self._reload_postfix()
        if self.dovecot_pid() is not None:
            # Dovecot's passwd-file is checked at most once per second (by whole seconds):
            # wait for the next second so the next login sees the new users.
            time.sleep(1.05 - time.time() % 1)

    def set_fault(self, address: str, answer: str | None) -> None:
        """Make the submission port answer ``answer`` (e.g. ``450 4.2.0 busy``) at RCPT for
        ``address``, or stop doing so (None)."""
        if answer is None:
            self.faults.pop(address.lower(), None)
        else:
            self.faults[address.lower()] = answer
        self._write_maps()
        self._reload_postfix()

    def _reload_postfix(self) -> None:
        if self.postfix_pid() is not None:
            self._postfix("reload")

    # --- processes -----------------------------------------------------------------------

    def _postfix(self, action: str) -> None:
        with (self.state / "postfix" / "log" / "postfix-cmd.log").open("ab") as log:
            result = subprocess.run(
                ["postfix", "-c", str(self.postfix_conf), action],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0 and action == "start":
            raise RuntimeError(f"postfix {action} failed:\n{self.postfix_diagnosis()}")

    def postfix_diagnosis(self) -> str:
        """Postfix reports config errors to syslog only: ``postfix check`` under a pty."""
        result = subprocess.run(
            ["script", "-qc", f"postfix -c {self.postfix_conf} check", "/dev/null"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return result.stdout[-3000:]

    def _pid(self, path: Path) -> int | None:
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def postfix_pid(self) -> int | None:
        return self._pid(self.state / "postfix" / "queue" / "pid" / "master.pid")

    def dovecot_pid(self) -> int | None:
        return self._pid(self.state / "dovecot" / "run" / "master.pid")

    def start_postfix(self) -> None:
        if self.postfix_pid() is None:
            self._postfix("start")
        if not _wait_port(self.ports.submission, START_TIMEOUT):
            raise RuntimeError(f"postfix did not listen:\n{self.postfix_diagnosis()}")

    def start_dovecot(self) -> None:
        if self.dovecot_pid() is None:
            with (self.state / "dovecot" / "stdout.log").open("ab") as log:
                subprocess.run(
                    ["dovecot", "-c", str(self.dovecot_conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                )
        for port in (self.ports.imaps, self.ports.lmtp, self.ports.auth):
            if not _wait_port(port, START_TIMEOUT):
                raise RuntimeError("dovecot did not listen; see " + str(self.dovecot_conf.parent))

    def start(self) -> None:
        self.prepare()
        self.start_dovecot()
        self.start_postfix()

    @staticmethod
    def _kill(pid: int | None) -> None:
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop_dovecot(self) -> None:
        self._kill(self.dovecot_pid())

    def stop_postfix(self) -> None:
        self._kill(self.postfix_pid())

    def stop(self) -> None:
        self.stop_postfix()
        self.stop_dovecot()

    # --- reading mailboxes (tests, demo) ---------------------------------------------------

    def maildir(self, address: str) -> Path:
        local, _, domain = address.lower().partition("@")
        return self.state / "mail" / domain / local / "Maildir"

    def messages(self, address: str) -> list[bytes]:
        """The raw mails delivered to ``address``, oldest first (read from the Maildir)."""
        root = self.maildir(address)
        files = [p for sub in ("new", "cur") for p in (root / sub).glob("*") if p.is_file()]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return [p.read_bytes() for p in files]
