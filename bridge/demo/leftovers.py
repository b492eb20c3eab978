"""What a demo killed before it could stop (SIGKILL, a crash) left behind, stopped
by the next demo on the same state folder before it checks its ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.demo.mail_state import KEPT_MAILBOXES, remove_stale_mail_state
from bridge.launch import alive, terminate


def stop_leftovers(previous: dict[str, Any], state_dir: Path) -> None:
    """What a demo killed before it could stop (``previous``: its ``demo.json``) left running
    or on disk: its sandbox and Synapse (by their PIDs, only if their command line names this
    state folder: never a reused PID) and its mail servers' runtime folder (mailboxes kept)."""
    for name in ("sandbox", "synapse"):
        pid = (previous.get("pids") or {}).get(name)
        if isinstance(pid, int) and _runs_with(pid, state_dir):
            print(f"demo: stopping the {name} (PID {pid}) left by a demo that did not stop")
            terminate(pid, timeout=10.0)
    remove_stale_mail_state(previous, state_dir / KEPT_MAILBOXES)


def _runs_with(pid: int, state_dir: Path) -> bool:
    """A live process whose command line names ``state_dir``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return alive(pid) and f"{state_dir}/".encode() in command
