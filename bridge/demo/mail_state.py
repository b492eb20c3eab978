"""Where the demo's mail servers keep their state. Postfix and Dovecot's users cannot reach a
state folder below a private (0700) home, so each run gives them a runtime folder of their own
(:func:`bridge.mail.server_folder.runtime_folder`), removed on stop. The mailboxes outlive the
run: on stop they are copied into the demo's state folder (``mailboxes/``, private), and copied
back at the next start, so a demo member still finds last time's mail to answer."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path
from typing import Any

from bridge.mail.localserver import LocalMailServer
from bridge.mail.server_folder import RUNTIME_PARENTS

MAIL_FOLDER_PREFIX = "spico-demo-mail-"
#: The mailboxes kept between runs, in the demo's state folder.
KEPT_MAILBOXES = "mailboxes"


def keep_mailboxes(server: LocalMailServer, kept: Path) -> None:
    """Copy the (stopped) server's mailboxes to ``kept``, replacing the previous copy only once
    the new one is complete. Owned by whoever runs the demo, mode 0700: private."""
    source = server.state / "mail"
    if not source.is_dir():
        return
    fresh = kept.with_name(kept.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(source, fresh, symlinks=True)
    uid, gid = os.geteuid(), os.getegid()
    for folder, _, files in os.walk(fresh):
        for path in (folder, *(os.path.join(folder, name) for name in files)):
            os.chown(path, uid, gid, follow_symlinks=False)
    fresh.chmod(0o700)
    shutil.rmtree(kept, ignore_errors=True)
    fresh.rename(kept)


def restore_mailboxes(kept: Path, server: LocalMailServer) -> None:
    """Copy the kept mailboxes into the server's (not yet started) state folder, owned by user
    mail as Dovecot wants them."""
    if not kept.is_dir():
        return
    target = server.state / "mail"
    shutil.copytree(kept, target, symlinks=True, dirs_exist_ok=True)
    mail = pwd.getpwnam("mail")
    for folder, _, files in os.walk(target):
        for path in (folder, *(os.path.join(folder, name) for name in files)):
            os.chown(path, mail.pw_uid, mail.pw_gid, follow_symlinks=False)


def stop_keeping_mailboxes(server: LocalMailServer, kept: Path) -> None:
    """Stop the servers, keep their mailboxes, remove their runtime folder."""
    server.stop()
    try:
        keep_mailboxes(server, kept)
    finally:
        server.remove()


def remove_stale_mail_state(previous: dict[str, Any], kept: Path) -> None:
    """A demo killed before it could stop (``previous``: its ``demo.json``) leaves its mail
    servers' runtime folder, maybe with the servers running: stop them (by the PID files in
    that folder), keep the mailboxes, remove it. Only a folder the demo makes is touched."""
    named = (previous.get("mail") or {}).get("state")
    if not named or os.geteuid() != 0:
        return
    folder = Path(str(named))
    ours = folder.parent in RUNTIME_PARENTS and folder.name.startswith(MAIL_FOLDER_PREFIX)
    if ours and folder.is_dir():
        print(f"demo: removing {folder}, left by a demo that did not stop", flush=True)
        stop_keeping_mailboxes(LocalMailServer(folder), kept)
