"""Where the local Postfix + Dovecot (``bridge.mail.localserver``) keep their state, and who may
open what in it.

Postfix and Dovecot start as root but do their work as their own unprivileged users
(``postfix``; ``dovecot``, ``dovenull``; ``mail`` for the mailboxes), who must be able to
traverse every folder from ``/`` down to the state folder. A home directory is mode 0700 on
Debian (``/root`` too), so a state folder inside one fails at once (``open lock file
…/master.lock: Permission denied``). Instead of opening the user's home to others (modes or
ACLs on a private folder, a lasting change outside the project), the demo and the tests keep
the mail servers' state in a folder of its own under a system temporary folder
(:func:`runtime_folder`), removed when they stop. Inside it, :func:`secure` gives each part
the narrowest owner and mode its daemon needs: the mailboxes (demo mail) and the password file
are readable by their daemon's user only, never by everyone.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Where :func:`runtime_folder` creates state folders: the first that every user can traverse
#: and this process can write to. /var/tmp before /tmp (often a small tmpfs) and /run (RAM).
RUNTIME_PARENTS = (Path("/var/tmp"), Path("/tmp"), Path("/run"))
#: The unprivileged users of the Debian packages that open files in the state folder.
DAEMON_USERS = ("postfix", "dovecot", "dovenull", "mail")
ACL_XATTR = "system.posix_acl_access"


@dataclass(frozen=True, slots=True)
class Blocked:
    """``user`` cannot traverse ``folder`` (its owner and mode say so)."""

    folder: Path
    user: str
    owner: str
    mode: int

    def __str__(self) -> str:
        return f"{self.folder} (owner {self.owner}, mode {self.mode:04o}) blocks user {self.user}"


def can_traverse(mode: int, owner_uid: int, group_gid: int, uid: int, gids: Iterable[int]) -> bool:
    """Whether a user (``uid``, ``gids``) may traverse a folder with this ``mode``, owner and
    group, by the classic permission bits (root always may)."""
    if uid == 0:
        return True
    if uid == owner_uid:
        return bool(mode & stat.S_IXUSR)
    if group_gid in set(gids):
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _has_acl(folder: Path) -> bool:
    try:
        return ACL_XATTR in os.listxattr(folder)
    except OSError:
        return False


def blocked_folders(path: Path, users: Iterable[str] = DAEMON_USERS) -> list[Blocked]:
    """The folders from ``/`` down to ``path`` (included) that one of ``users`` cannot
    traverse. A folder with an ACL is trusted (its ACL may grant what its mode does not);
    users unknown on this machine are skipped."""
    accounts = []
    for name in users:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        gids = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)}
        accounts.append((name, entry.pw_uid, gids))
    path = path.absolute()
    found = []
    for folder in reversed((path, *path.parents)):
        try:
            info = folder.stat()
        except OSError:
            continue  # not made yet: created below with the right modes
        if _has_acl(folder):
            continue
        for name, uid, gids in accounts:
            if not can_traverse(info.st_mode, info.st_uid, info.st_gid, uid, gids):
                try:
                    owner = pwd.getpwuid(info.st_uid).pw_name
                except KeyError:
                    owner = str(info.st_uid)
                found.append(Blocked(folder, name, owner, stat.S_IMODE(info.st_mode)))
                break
    return found


def runtime_folder(prefix: str = "spico-mail-", parents: Iterable[Path] = RUNTIME_PARENTS) -> Path:
    """A new empty folder (mode 0711) for one Postfix + Dovecot's state, under the first of
    ``parents`` every user can traverse and this process can write to. Whoever made it removes
    it (the demo on stop, the test session at its end)."""
    tried = []
    for parent in parents:
        usable = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
        if usable and not blocked_folders(parent):
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            folder.chmod(0o711)  # traversable, not listable
            return folder
        tried.append(str(parent))
    raise RuntimeError(
        "no folder for the mail servers' state: none of "
        + ", ".join(tried)
        + " is writable here and traversable by the users "
        + ", ".join(DAEMON_USERS)
    )


#: Owner, group and mode of each part of the state folder (relative path → (user, group, mode)).
#: Postfix's master takes its lock in ``data`` as user postfix; Dovecot's auth process reads
#: ``dovecot/users`` as user dovecot; the mailboxes belong to user mail; the rest is opened
#: as root, before the daemons drop their privileges.
LAYOUT: dict[str, tuple[str, str, int]] = {
    ".": ("root", "root", 0o711),
    "postfix": ("root", "root", 0o755),
    "postfix/conf": ("root", "root", 0o755),
    "postfix/queue": ("root", "root", 0o755),
    "postfix/data": ("postfix", "postfix", 0o700),
    "logs": ("root", "root", 0o700),
    "dovecot": ("root", "root", 0o755),
    "dovecot/run": ("root", "root", 0o755),
    "dovecot/state": ("root", "root", 0o700),
    "tls": ("root", "root", 0o755),
    "mail": ("mail", "mail", 0o700),
}


def secure(state: Path) -> None:
    """Create the state folder's parts with the owners and modes of :data:`LAYOUT` (idempotent;
    needs root, as Postfix and Dovecot do)."""
    for relative, (user, group, mode) in LAYOUT.items():
        folder = state / relative
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        folder.chmod(mode)
