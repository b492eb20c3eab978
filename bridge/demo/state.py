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

    def on_stop(self, callback: Callable[[], object]) -> None:
        self.cleanups.callback(callback)


def write_info(demo: Demo) -> None:
    demo.info["pids"] = {"demo": os.getpid(), **demo.pids}
    path = demo.state_dir / INFO_NAME
    fresh = path.with_suffix(".new")
    fresh.write_text(json.dumps(demo.info, indent=2, ensure_ascii=False) + "\n", "utf-8")
    fresh.replace(path)
