"""Where the local mail servers keep their state (bridge/mail/server_folder.py): a folder their
unprivileged users can reach, never one below a private home."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from bridge.mail.server_folder import (
    blocked_folders,
    can_traverse,
    runtime_folder,
)


def test_traversal_follows_owner_then_group_then_others() -> None:
    assert can_traverse(0o700, 0, 0, uid=0, gids=[0])  # root always
    assert can_traverse(0o700, 108, 0, uid=108, gids=[111])
    assert not can_traverse(0o070, 108, 111, uid=108, gids=[111])  # owner bits only
    assert can_traverse(0o710, 0, 111, uid=108, gids=[111])
    assert not can_traverse(0o701, 0, 111, uid=108, gids=[111])  # group bits only
    assert can_traverse(0o701, 0, 0, uid=108, gids=[111])
    assert not can_traverse(0o750, 0, 0, uid=108, gids=[111])


def test_a_private_folder_on_the_way_is_found(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    blocked = blocked_folders(private / "state" / "mail", users=["postfix", "nobody"])
    assert blocked, "a 0700 folder blocks the daemons' users"
    assert all(stat.S_IMODE(b.folder.stat().st_mode) & 0o001 == 0 for b in blocked)
    assert private in [b.folder for b in blocked]
    assert {b.user for b in blocked} == {"postfix"}, "the first user blocked, once per folder"
    assert "mode 0700" in str(next(b for b in blocked if b.folder == private))


def test_the_runtime_folder_is_reachable_and_skips_private_parents(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    folder = runtime_folder(parents=[private, Path("/var/tmp"), Path("/tmp")])
    try:
        assert folder.parent == Path("/var/tmp")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o711, "traversable, not listable"
        assert blocked_folders(folder) == []
    finally:
        shutil.rmtree(folder)
    with pytest.raises(RuntimeError, match="no folder for the mail servers' state"):
        runtime_folder(parents=[private, tmp_path / "missing"])
