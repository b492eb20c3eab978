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
class SynapseSplit:
    """Synapse's CPU seconds per message over a phase: inside its requests, the rest, and
    the share of the requests spent syncing for ``syncer`` (the relay bot; None: nobody)."""

    in_requests: float
    elsewhere: float
    syncs: Requests
    messages: int

    @classmethod
    def of(
        cls,
        requests: Mapping[tuple[str, str], Requests],
        total_cpu: float,
        messages: int,
        syncer: str | None = None,
    ) -> SynapseSplit:
        """From a phase's requests and Synapse's whole CPU seconds over it."""
        inside = sum(r.cpu for r in requests.values())
        syncs = requests.get((syncer, "sync"), Requests()) if syncer else Requests()
        return cls(inside / messages, max(total_cpu - inside, 0.0) / messages, syncs, messages)

    def ms(self) -> str:
        """``in requests / elsewhere``, milliseconds per message."""
        return f"{self.in_requests * 1000:.1f} / {self.elsewhere * 1000:.1f}"

    def syncs_ms(self) -> str:
        """The syncer's syncs: how many per message / their CPU ms per message."""
        count = self.syncs.count / self.messages
        return f"{count:.2f} / {self.syncs.cpu / self.messages * 1000:.1f}"
