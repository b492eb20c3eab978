"""What the launchers of the local servers (the SPICO sandbox, Synapse, Postfix, Dovecot, the
bench's bridge) share: starting one with its output appended to its log, stopping one by PID,
and when one does not start, an error that says why, read from that server's own log.

A server that fails to start usually says why in its own log and nowhere else (Postfix even
logs its fatal errors to a file of its state folder only): the error carries the last
meaningful lines written there during this start, the file they come from and what to try, so
the demo and the tests print the reason instead of "did not start".
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: How much of a log's end is read to find the reason (a Python traceback fits easily).
TAIL_BYTES = 64 * 1024
TAIL_LINES = 8
LINE_CHARS = 300
#: Lines that say what went wrong; when a log has some, only those are shown (a server's
#: start-up chatter — "starting up", "connect from" — would hide the reason).
_MEANINGFUL = re.compile(
    r"fatal|panic|error|exception|traceback|denied|failed|cannot|can't|couldn't|unable|"
    r"not permitted|no such file|address already in use|invalid|unknown|missing",
    re.IGNORECASE,
)
_TRACEBACK_CHATTER = re.compile(r"Traceback \(|The above exception|During handling of the above")


def spawn(command: Sequence[str], log_path: Path, **options: Any) -> subprocess.Popen[bytes]:
    """``command`` started with no input, its output and errors appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **options
        )


def why_not_answering(
    process: subprocess.Popen[bytes], url: str, timeout: float, *, what: str = "it"
) -> str | None:
    """None once ``url`` answers (2xx) within ``timeout`` seconds; else why not, for
    :class:`ServerStartFailed`: ``process`` exited (with its code), or ``what`` was too slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"it exited at start (exit code {process.returncode})"
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=1),
        ):
            return None
        time.sleep(0.05)
    return f"{what} did not answer within {timeout:.0f} s"


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a child by PID, SIGKILL if it is still there after ``timeout``: its exit code."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def alive(pid: int) -> bool:
    """Running, not a zombie (``kill -0`` says yes to zombies: read /proc instead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1] not in ("Z", "X")
    return False


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM a process that is not our child (a daemon's master), SIGKILL if it is still
    there after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def log_size(path: Path) -> int:
    """Where a log ends now: pass it to :func:`log_tail` as ``since`` to read only what a
    start writes (logs are appended to across runs)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def new_lines(path: Path, *, since: int = 0) -> list[str]:
    """The non-blank lines written to ``path`` after offset ``since`` (at most the last
    :data:`TAIL_BYTES`; each cut to :data:`LINE_CHARS`)."""
    try:
        with path.open("rb") as log:
            end = log.seek(0, 2)
            start = max(since if since <= end else 0, end - TAIL_BYTES)
            log.seek(start)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = [line.rstrip()[:LINE_CHARS] for line in text.splitlines() if line.strip()]
    return lines[1:] if start > since and lines else lines  # the first one was cut


def _names_a_failure(line: str) -> bool:
    """A line that says what went wrong: not a traceback's frame or source line (indented),
    nor its framing ("Traceback …", "The above exception …")."""
    return (
        not line[:1].isspace()
        and not _TRACEBACK_CHATTER.match(line)
        and _MEANINGFUL.search(line) is not None
    )


def meaningful_lines(lines: Sequence[str], limit: int = TAIL_LINES) -> list[str]:
    """The last ``limit`` lines that name a failure, or the last ``limit`` lines when none
    does."""
    chosen = [line for line in lines if _names_a_failure(line)] or list(lines)
    latest: list[str] = []  # a line said twice (a log and stderr, a retry) is shown once, last
    for line in reversed(chosen):
        if line not in latest:
            latest.append(line)
    return latest[:limit][::-1]


def log_tail(path: Path, *, since: int = 0, limit: int = TAIL_LINES) -> list[str]:
    """The last meaningful lines written to ``path`` after offset ``since``."""
    return meaningful_lines(new_lines(path, since=since), limit)


def first_reason(logs: Sequence[tuple[Path, int]]) -> tuple[Path | None, list[str]]:
    """Of several logs (path, offset before the start), the first whose new lines name a
    failure, else the first with new lines at all: that log and its meaningful lines."""
    found = [(path, new_lines(path, since=since)) for path, since in logs]
    for path, lines in found:
        if any(_names_a_failure(line) for line in lines):
            return path, meaningful_lines(lines)
    for path, lines in found:
        if lines:
            return path, meaningful_lines(lines)
    return (logs[0][0] if logs else None), []


class ServerStartFailed(RuntimeError):
    """A local server did not start: ``reason`` in a few words, the last meaningful lines of
    its own log (``tail``, from ``log_path``) and what to try (``hint``)."""

    def __init__(
        self,
        name: str,
        reason: str,
        *,
        log_path: Path | None = None,
        tail: Sequence[str] = (),
        hint: str = "",
    ) -> None:
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.tail = list(tail)
        self.hint = hint
        super().__init__(self.render())

    @classmethod
    def from_logs(
        cls, name: str, reason: str, logs: Sequence[tuple[Path, int]], hint: str = ""
    ) -> ServerStartFailed:
        """The error with the reason read from the first telling log of ``logs`` (path,
        offset before the start; see :func:`first_reason`)."""
        log_path, tail = first_reason(logs)
        return cls(name, reason, log_path=log_path, tail=tail, hint=hint)

    def render(self) -> str:
        lines = [f"{self.name} did not start: {self.reason}"]
        if self.tail:
            lines.append(f"  last lines of {self.log_path}:")
            lines += [f"    {line}" for line in self.tail]
        elif self.log_path is not None:
            lines.append(f"  its log {self.log_path} says nothing about it")
        if self.hint:
            lines.append(f"  try: {self.hint}")
        return "\n".join(lines)
