"""One demo run's state: what it started (stopped in reverse order, by PID), and ``demo.json``,
what it tells scripts and tests (ports, PIDs, users, mailboxes, the sample, where the mail
servers keep their state)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFO_NAME = "demo.json"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass
class Demo:
    """One demo run: what it started (stopped in reverse order) and what it tells the user."""

    state_dir: Path
    ports: dict[str, int]
    cleanups: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    pids: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: The worlds that cannot run here: section → why, and what to do.
    left_out: dict[str, str] = field(default_factory=dict)

    def on_stop(self, callback: Callable[[], object]) -> None:
        self.cleanups.callback(callback)


def read_info(state_dir: Path) -> dict[str, Any]:
    """The ``demo.json`` of the last run in ``state_dir`` (empty if none or unreadable)."""
    try:
        found = json.loads((state_dir / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def running_demo(previous: dict[str, Any]) -> int | None:
    """The PID of the demo that wrote ``previous`` if it still runs (another demo on the same
    state folder), read in /proc: a ``spico-bridge demo`` process, not a reused PID."""
    pid = (previous.get("pids") or {}).get("demo")
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    if "\nState:\tZ" in status or b"demo" not in command:
        return None
    return pid


def write_info(demo: Demo) -> None:
    demo.info["pids"] = {"demo": os.getpid(), **demo.pids}
    path = demo.state_dir / INFO_NAME
    fresh = path.with_suffix(".new")
    fresh.write_text(json.dumps(demo.info, indent=2, ensure_ascii=False) + "\n", "utf-8")
    fresh.replace(path)
