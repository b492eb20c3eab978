"""Where Synapse's CPU goes in a bench phase, read from its access log (pure).

Synapse logs every request it answers (logger ``synapse.access.http``, at INFO) with the CPU
that request's own context used: ``ru=(user, sys)``. What a message costs Synapse outside its
requests (persisting the event, notifying the waiting syncs, pushing appservice transactions)
is the rest of the process's CPU over the phase. Split this way, the bench shows what a bridged
message adds to Synapse's work: in relay mode, the bot's sync that brings back the echo of each
message it posted.

A line reads (one line, cut here)::

    2026-11-28 15:55:04,729 - synapse.access.http.40025 - 643 - INFO - 127.0.0.1 - 40025 -
    {@bot:localhost} Processed request: 0.031sec/0.001sec ru=(0.006sec, 0.002sec)
    db=(0.006sec/0.009sec/12) 147B 200 "PUT /_matrix/client/v3/rooms/!r:localhost/send/..."
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The requester (``None`` when unauthenticated), the CPU, the method and the path.
_PROCESSED = re.compile(
    r"\{(?P<user>[^}]*)\} Processed request: \S+ "
    r"ru=\((?P<user_cpu>[\d.]+)sec, (?P<sys_cpu>[\d.]+)sec\)"
    r".*?\"(?P<method>[A-Z]+) (?P<path>\S+)"
)
_SEND = re.compile(r"^/_matrix/client/v3/rooms/[^/]+/send/")
_SYNC = re.compile(r"^/_matrix/client/v3/sync(?:\?|$)")


@dataclass(frozen=True, slots=True)
class Requests:
    """Requests of one kind by one user: how many, and their CPU seconds."""

    count: int = 0
    cpu: float = 0.0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.count + other.count, self.cpu + other.cpu)


def kind_of(method: str, path: str) -> str:
    """``send`` (a room event), ``sync``, or ``other``."""
    if method == "PUT" and _SEND.match(path):
        return "send"
    if method == "GET" and _SYNC.match(path):
        return "sync"
    return "other"


def requests_by(lines: Iterable[str]) -> dict[tuple[str, str], Requests]:
    """Synapse's answered requests by (user id, kind); lines of anything else are skipped."""
    found: dict[tuple[str, str], Requests] = {}
    for line in lines:
        match = _PROCESSED.search(line)
        if match is None:
            continue
        key = (match["user"], kind_of(match["method"], match["path"]))
        cpu = float(match["user_cpu"]) + float(match["sys_cpu"])
        found[key] = found.get(key, Requests()) + Requests(1, cpu)
    return found


@dataclass(frozen=True, slots=True)
class SynapseCpu:
    """Synapse's CPU seconds per message over a phase (``total``, from ``/proc``), and when its
    access log was read, the part its requests used (``in_requests``; None: not read) and the
    syncs of the relay bot among them (``syncs``)."""

    total: float
    in_requests: float | None = None
    syncs: Requests = Requests()
    messages: int = 1

    @classmethod
    def of(
        cls,
        total_cpu: float,
        messages: int,
        requests: Mapping[tuple[str, str], Requests] | None = None,
        syncer: str | None = None,
    ) -> SynapseCpu:
        """From Synapse's whole CPU seconds over a phase and (if read) the phase's requests;
        ``syncer``: whose syncs to count apart."""
        if not requests:
            return cls(total_cpu / messages, messages=messages)
        inside = sum(r.cpu for r in requests.values())
        syncs = requests.get((syncer, "sync"), Requests()) if syncer else Requests()
        return cls(total_cpu / messages, inside / messages, syncs, messages)

    @property
    def elsewhere(self) -> float | None:
        """Per message outside the requests (never below zero); None: the log was not read."""
        if self.in_requests is None:
            return None
        return max(self.total - self.in_requests, 0.0)

    def split_ms(self) -> str | None:
        """``in requests / elsewhere``, milliseconds per message; None: the log was not read."""
        if self.in_requests is None or self.elsewhere is None:
            return None
        return f"{self.in_requests * 1000:.1f} / {self.elsewhere * 1000:.1f}"

    def syncs_ms(self) -> str:
        """The syncer's syncs: how many per message / their CPU ms per message."""
        count = self.syncs.count / self.messages
        return f"{count:.2f} / {self.syncs.cpu / self.messages * 1000:.1f}"
