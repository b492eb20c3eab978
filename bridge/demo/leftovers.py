"""What a demo killed before it could stop (SIGKILL, a crash) left behind, stopped
by the next demo on the same state folder before it checks its ports."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from bridge.demo.mail_state import KEPT_MAILBOXES, remove_stale_mail_state


def stop_leftovers(previous: dict[str, Any], state_dir: Path) -> None:
    """What a demo killed before it could stop (``previous``: its ``demo.json``) left running
    or on disk: its sandbox and Synapse (by their PIDs, only if their command line names this
    state folder: never a reused PID) and its mail servers' runtime folder (mailboxes kept)."""
    for name in ("sandbox", "synapse"):
        pid = (previous.get("pids") or {}).get(name)
        if isinstance(pid, int) and _runs_with(pid, state_dir):
            print(f"demo: stopping the {name} (PID {pid}) left by a demo that did not stop")
            _terminate(pid)
    remove_stale_mail_state(previous, state_dir / KEPT_MAILBOXES)


def _alive(pid: int) -> bool:
    """Running, not a zombie (read in /proc: ``kill -0`` says yes to zombies)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _runs_with(pid: int, state_dir: Path) -> bool:
    """A live process whose command line names ``state_dir``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return _alive(pid) and f"{state_dir}/".encode() in command


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
