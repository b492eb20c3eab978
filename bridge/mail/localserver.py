"""Private Postfix + Dovecot instances for tests and the demo (Debian packages, loopback only).

Everything lives in one state folder (configs, queue, mailboxes, logs, TLS certificate); nothing
in /etc is touched and nothing can leave the machine (``default_transport`` and
``relay_transport`` are ``error:``). Mail flows: SMTP submission (STARTTLS + AUTH through
Dovecot's SASL over inet) → Postfix → LMTP (inet) → Dovecot Maildir → IMAP (STARTTLS) / IMAPS.

The pitfalls of ``/work/shared/test-servers.md`` shape this module: generated files are
backdated (Postfix re-reads a ``main.cf`` whose mtime is not in the past), daemons get
``</dev/null >log 2>&1`` (Dovecot would keep a caller's pipe open), liveness is read in
``/proc/PID/status`` (exited daemons linger as zombies). The daemons' unprivileged users must
traverse the state folder: ``bridge.mail.server_folder`` makes one they can (outside private
homes) and gives each part the owner and mode its daemon needs. A start that fails raises
:class:`~bridge.launch.ServerStartFailed` with the reason read from the daemon's own log.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.launch import ServerStartFailed, alive, log_size, terminate
from bridge.mail.server_folder import blocked_folders, runtime_folder, secure
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


def render_postfix_main(
    state: Path, ports: MailPorts, domains: tuple[str, ...], logs: Path | None = None
) -> str:
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
maillog_file = {logs or state}/postfix.log
maillog_file_prefixes = {state}, {logs or state}
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
    # The MX port: what other MSSanté operators' servers use (no AUTH, our domains only). Its
    # sender map stands for the operator's authentication milter: it writes the
    # Authentication-Results a test asks for, above the Received field of the session.
    mx = f"""\
127.0.0.1:{ports.mx} inet n - n - - smtpd
  -o syslog_name=postfix/mx
  -o smtpd_sender_restrictions=check_sender_access,texthash:{conf}/authentication
  -o smtpd_recipient_restrictions=reject_unauth_destination
"""
    return submission + mx + services


def render_dovecot(
    state: Path, ports: MailPorts, domains: tuple[str, ...], logs: Path | None = None
) -> str:
    dove = state / "dovecot"
    mail_uid = pwd.getpwnam("mail").pw_uid
    return f"""\
base_dir = {dove}/run
state_dir = {dove}/state
log_path = {logs or dove}/dovecot.log
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


#: The Debian packages the local servers need, each with a file it installs (by path: /usr/sbin
#: is not on an ordinary user's PATH).
PACKAGES: dict[str, str] = {
    "postfix": "/usr/sbin/postfix",
    "dovecot-imapd": "/usr/lib/dovecot/imap",
    "dovecot-lmtpd": "/usr/lib/dovecot/lmtp",
    "openssl": "/usr/bin/openssl",
}


def missing_packages(packages: dict[str, str] = PACKAGES) -> list[str]:
    """The packages of :data:`PACKAGES` that are not installed."""
    return [name for name, path in packages.items() if not Path(path).exists()]


def unavailable(euid: int | None = None, missing: list[str] | None = None) -> str | None:
    """Why the local mail servers cannot run for this user, with what to do; None if they can.
    Checked before anything starts (the demo leaves mail out and says so)."""
    missing = missing_packages() if missing is None else missing
    euid = os.geteuid() if euid is None else euid
    if missing:
        how = (
            "run scripts/mailserver (it installs them)"
            if euid == 0
            else "as root, run scripts/mailserver (it installs them), or `apt-get install "
            f"--no-install-recommends {' '.join(missing)}`"
        )
        return f"the Debian package(s) {', '.join(missing)} are not installed: {how}"
    if euid != 0:
        return (
            "Postfix and Dovecot run as private instances only root can start (they switch to "
            "their own users postfix, dovecot and mail): run the demo as root to include mail"
        )
    return None


@dataclass
class LocalMailServer:
    """One Postfix + Dovecot pair with all state under ``state``."""

    state: Path
    domains: tuple[str, ...] = (SANDBOX_DOMAIN, TEST_DOMAIN)
    ports: MailPorts = field(default_factory=MailPorts.pick)
    users: dict[str, str] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    #: Envelope sender on the MX port → the Authentication-Results value this server writes
    #: for its mails (as an operator's DKIM/DMARC milter would; ``set_authentication``).
    authentication: dict[str, str] = field(default_factory=dict)
    #: Where the logs go (default ``state/logs``). Any folder: they are opened as root only
    #: (Postfix's postlogd and Dovecot's log process open them before dropping privileges),
    #: so they can stay in a private folder when the state folder is removed.
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        self.state = self.state.absolute()  # postfix -c wants an absolute path
        self.log_dir = (self.log_dir or self.state / "logs").absolute()

    @property
    def logs(self) -> Path:
        assert self.log_dir is not None  # set in __post_init__
        return self.log_dir

    @classmethod
    def in_runtime_folder(cls, **options: Any) -> LocalMailServer:
        """An instance whose state lives in a new folder its daemons can reach
        (:func:`~bridge.mail.server_folder.runtime_folder`); :meth:`remove` deletes it."""
        return cls(runtime_folder(), **options)

    @property
    def postfix_conf(self) -> Path:
        return self.state / "postfix" / "conf"

    @property
    def dovecot_conf(self) -> Path:
        return self.state / "dovecot" / "dovecot.conf"

    @property
    def postfix_log(self) -> Path:
        """Postfix's own log (``maillog_file``): its fatal errors are written there only."""
        return self.logs / "postfix.log"

    @property
    def dovecot_log(self) -> Path:
        return self.logs / "dovecot.log"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate, to trust as a CA."""
        return self.state / "tls" / "cert.pem"

    # --- configuration -------------------------------------------------------------------

    def prepare(self) -> None:
        """Create folders (owners and modes: ``server_folder.secure``), certificate and
        configuration (idempotent). Refuses a state folder the daemons' users cannot reach."""
        blocked = blocked_folders(self.state.parent)
        if blocked:
            raise ServerStartFailed(
                "Postfix and Dovecot",
                f"their users cannot reach {self.state}: {blocked[0]}",
                hint="keep their state in a folder every user can traverse: "
                "LocalMailServer.in_runtime_folder() makes one under /var/tmp (the demo and "
                "the tests do)",
            )
        secure(self.state)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.logs.chmod(0o700)
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
            os.chmod(self.state / "tls" / "key.pem", 0o600)  # read as root, before the drop
        (self.postfix_conf / "main.cf").write_text(
            render_postfix_main(self.state, self.ports, self.domains, self.logs)
        )
        (self.postfix_conf / "master.cf").write_text(render_postfix_master(self.state, self.ports))
        self.dovecot_conf.write_text(
            render_dovecot(self.state, self.ports, self.domains, self.logs)
        )
        self._write_maps()
        _backdate(self.postfix_conf / "main.cf", self.postfix_conf / "master.cf", self.dovecot_conf)

    def _write_maps(self) -> None:
        (self.postfix_conf / "vmailbox").write_text(
            "".join(f"{address} OK\n" for address in sorted(self.users))
        )
        (self.postfix_conf / "faults").write_text(
            "".join(f"{address} {answer}\n" for address, answer in sorted(self.faults.items()))
        )
        (self.postfix_conf / "authentication").write_text(
            "".join(
                f"{sender} PREPEND Authentication-Results: {value}\n"
                for sender, value in sorted(self.authentication.items())
            )
        )
        users = self.state / "dovecot" / "users"
        fresh = users.with_suffix(".new")  # renamed into place: Dovecot never reads half a file
        fresh.write_text(
            "".join(
                f"{address}:{{PLAIN}}{password}::::::\n"
                for address, password in sorted(self.users.items())
            )
        )
        os.chown(fresh, 0, grp.getgrnam("dovecot").gr_gid)  # Dovecot's auth reads it as dovecot
        os.chmod(fresh, 0o640)
        fresh.replace(users)  # not backdated: Dovecot re-reads it when its mtime changes
        _backdate(
            self.postfix_conf / "vmailbox",
            self.postfix_conf / "faults",
            self.postfix_conf / "authentication",
        )

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

    def set_authentication(self, results: dict[str, str]) -> None:
        """Make the MX port write ``Authentication-Results: <value>`` on the mails whose
        envelope sender is a key of ``results`` (added to what was set before), as the
        receiving server of an operator does; other mails get none."""
        self.authentication.update({sender.lower(): v for sender, v in results.items()})
        self._write_maps()
        self._reload_postfix()

    def _reload_postfix(self) -> None:
        if self.postfix_pid() is not None:
            self._postfix("reload")

    # --- processes -----------------------------------------------------------------------

    def _postfix(self, action: str) -> int:
        """``postfix -c CONF ACTION``, its output appended to ``postfix-cmd.log``."""
        with self._postfix_cmd_log.open("ab") as log:
            return subprocess.run(
                ["postfix", "-c", str(self.postfix_conf), action],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode

    @property
    def _postfix_cmd_log(self) -> Path:
        return self.logs / "postfix-cmd.log"

    def _postfix_failed(self, reason: str, since: dict[Path, int]) -> ServerStartFailed:
        """Why Postfix did not start: its own log (runtime errors), else ``postfix check``
        (configuration errors, which Postfix logs to syslog only: run under a pty it prints
        them), else the output of ``postfix start``."""
        check_log = self.logs / "postfix-check.log"
        since[check_log] = log_size(check_log)
        result = subprocess.run(
            ["script", "-qc", f"postfix -c {self.postfix_conf} check", "/dev/null"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=30,
        )
        with check_log.open("ab") as log:
            log.write(result.stdout)
        return ServerStartFailed.from_logs(
            "Postfix",
            reason,
            [
                (path, since.get(path, 0))
                for path in (self.postfix_log, check_log, self._postfix_cmd_log)
            ],
            hint=f"`script -qc 'postfix -c {self.postfix_conf} check' /dev/null` shows "
            "Postfix's configuration errors (it logs them nowhere else); the whole log is in "
            f"{self.postfix_log}",
        )

    def _pid(self, path: Path) -> int | None:
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def postfix_pid(self) -> int | None:
        return self._pid(self.state / "postfix" / "queue" / "pid" / "master.pid")

    def dovecot_pid(self) -> int | None:
        return self._pid(self.state / "dovecot" / "run" / "master.pid")

    def start_postfix(self) -> None:
        since = {path: log_size(path) for path in (self.postfix_log, self._postfix_cmd_log)}
        if self.postfix_pid() is None:
            code = self._postfix("start")
            if code != 0:
                raise self._postfix_failed(f"`postfix start` failed (exit code {code})", since)
        if not _wait_port(self.ports.submission, START_TIMEOUT):
            raise self._postfix_failed(
                f"nothing listens on its submission port {self.ports.submission} after "
                f"{START_TIMEOUT:.0f} s",
                since,
            )

    def start_dovecot(self) -> None:
        output = self.logs / "dovecot-cmd.log"
        logs = [(path, log_size(path)) for path in (output, self.dovecot_log)]
        hint = (
            f"`doveconf -c {self.dovecot_conf} -n` checks Dovecot's configuration; the whole "
            f"log is in {self.dovecot_log}"
        )
        if self.dovecot_pid() is None:
            with output.open("ab") as log:
                code = subprocess.run(
                    ["dovecot", "-c", str(self.dovecot_conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
            if code != 0:
                raise ServerStartFailed.from_logs(
                    "Dovecot", f"`dovecot` failed (exit code {code})", logs, hint
                )
        for port in (self.ports.imaps, self.ports.lmtp, self.ports.auth):
            if not _wait_port(port, START_TIMEOUT):
                raise ServerStartFailed.from_logs(
                    "Dovecot",
                    f"nothing listens on its port {port} after {START_TIMEOUT:.0f} s",
                    logs,
                    hint,
                )

    def start(self) -> None:
        self.prepare()
        self.start_dovecot()
        self.start_postfix()

    @staticmethod
    def _kill(pid: int | None) -> None:
        if pid is not None:
            terminate(pid, STOP_TIMEOUT)

    def stop_dovecot(self) -> None:
        self._kill(self.dovecot_pid())

    def stop_postfix(self) -> None:
        self._kill(self.postfix_pid())

    def stop(self) -> None:
        self.stop_postfix()
        self.stop_dovecot()

    def remove(self) -> None:
        """Stop, then delete the state folder (mailboxes included)."""
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

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
