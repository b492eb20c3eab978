"""The local Postfix + Dovecot (bridge/mail/localserver.py): where they keep their state, who
may read it, and why they did not start when they do not."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.launch import ServerStartFailed
from bridge.mail.localserver import SANDBOX_DOMAIN, LocalMailServer, unavailable
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import submit_to


def _owner_and_mode(path: Path) -> tuple[str, str, int]:
    info = path.stat()
    return (
        pwd.getpwuid(info.st_uid).pw_name,
        grp.getgrgid(info.st_gid).gr_name,
        stat.S_IMODE(info.st_mode),
    )


async def test_demo_mail_and_passwords_are_readable_by_their_daemon_only(
    mail_server: LocalMailServer,
) -> None:
    address, password = f"private-{secrets.token_hex(4)}@{SANDBOX_DOMAIN}", "pw-private"
    mail_server.add_mailboxes({address: password})
    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = address, address, "private"
    note.set_content("Demo mail nobody else may read.")
    submit_to(mail_server, note, username=address, password=password)
    await eventually(lambda: mail_server.messages(address), "the mail in its Maildir")
    _assert_private(mail_server)


def _assert_private(mail_server: LocalMailServer) -> None:
    state = mail_server.state
    assert _owner_and_mode(state) == ("root", "root", 0o711)
    assert _owner_and_mode(state / "mail") == ("mail", "mail", 0o700)
    assert _owner_and_mode(state / "dovecot" / "users") == ("root", "dovecot", 0o640)
    assert _owner_and_mode(state / "tls" / "key.pem") == ("root", "root", 0o600)
    assert _owner_and_mode(mail_server.logs) == ("root", "root", 0o700)
    seen = 0
    for folder, subfolders, files in os.walk(state / "mail"):
        for name in subfolders:  # closed folders: what is in them is user mail's only
            owner, _, mode = _owner_and_mode(Path(folder) / name)
            assert owner == "mail" and mode & 0o077 == 0, (folder, name, oct(mode))
        for name in files:
            seen += 1
            assert _owner_and_mode(Path(folder) / name)[0] == "mail", (folder, name)
    assert seen, "the Maildir was looked at"


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[LocalMailServer]:
    """An instance in its own runtime folder, its logs below pytest's private tmp_path."""
    server = LocalMailServer.in_runtime_folder(log_dir=tmp_path / "private" / "logs")
    try:
        server.prepare()
        yield server
    finally:
        server.remove()
    assert not server.state.exists()


def test_an_invalid_postfix_config_shows_postfix_s_reason(broken_server: LocalMailServer) -> None:
    with (broken_server.postfix_conf / "main.cf").open("a") as main:
        main.write("inet_protocols = martian\n")
    with pytest.raises(ServerStartFailed) as failed:
        broken_server.start_postfix()
    error = failed.value
    assert error.name == "Postfix" and "exit code" in error.reason
    assert any('unknown inet_protocols value "martian"' in line for line in error.tail), error
    assert error.log_path is not None and error.log_path.parent == broken_server.logs
    assert f"postfix -c {broken_server.postfix_conf} check" in error.hint
    assert 'unknown inet_protocols value "martian"' in str(error)


def test_an_invalid_dovecot_config_shows_dovecot_s_reason(broken_server: LocalMailServer) -> None:
    with broken_server.dovecot_conf.open("a") as conf:
        conf.write("protocols = imap carrier-pigeon\n")
    with pytest.raises(ServerStartFailed) as failed:
        broken_server.start_dovecot()
    error = failed.value
    assert error.name == "Dovecot"
    assert any("Unknown protocol: carrier-pigeon" in line for line in error.tail), error
    assert "doveconf" in error.hint
    assert broken_server.dovecot_pid() is None


def test_a_state_folder_below_a_private_folder_is_refused_with_the_folder(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    server = LocalMailServer(private / "state" / "mail")
    with pytest.raises(ServerStartFailed, match="cannot reach") as failed:
        server.start()
    assert "mode 0700" in failed.value.reason and "in_runtime_folder" in failed.value.hint
    assert server.postfix_pid() is None and server.dovecot_pid() is None


def test_who_cannot_run_the_mail_servers_is_told_what_to_do() -> None:
    assert unavailable(euid=0, missing=[]) is None
    as_user = unavailable(euid=1000, missing=["postfix", "dovecot-lmtpd"])
    assert as_user and "postfix, dovecot-lmtpd" in as_user and "as root" in as_user
    assert "apt-get install --no-install-recommends postfix dovecot-lmtpd" in as_user
    as_root = unavailable(euid=0, missing=["postfix"])
    assert as_root and "run scripts/mailserver" in as_root
    installed_as_user = unavailable(euid=1000, missing=[])
    assert installed_as_user and "run the demo as root" in installed_as_user
