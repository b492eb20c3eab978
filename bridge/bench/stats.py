"""Pure helpers of the benchmark: percentiles, rates, verdicts, /proc parsing, the table.

Kept apart from the I/O so that they are unit-tested in milliseconds and the measuring code
only collects timestamps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Every message the bench sends carries ``bench <tag> <number>`` (in the body, and in the
#: subject of direct mails): how an observer knows which message it just saw.
MARKER = re.compile(r"\bbench ([a-z][a-z0-9-]*) (\d+)\b")


@dataclass(frozen=True, slots=True)
class Counts:
    """Messages per phase: ``--messages`` for Matrix, half as many mails, a tenth as replies."""

    matrix: int
    mails: int
    replies: int

    @classmethod
    def of(cls, messages: int) -> Counts:
        return cls(messages, max(1, messages // 2), max(1, messages // 10))


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the printed table."""

    measure: str
    value: str
    target: str = ""


def marker(tag: str, number: int) -> str:
    return f"bench {tag} {number}"


def markers_in(text: str) -> list[str]:
    """The markers found in a text (a room event's body, a mail, a SPICO message)."""
    return [marker(m.group(1), int(m.group(2))) for m in MARKER.finditer(text)]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100): always one of the samples, never interpolated,
    so the p99 of 20 samples is honestly their maximum."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """p50 / p95 / p99 of a set of latencies, in seconds."""

    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        return cls(percentile(seconds, 50), percentile(seconds, 95), percentile(seconds, 99))

    def ms(self) -> str:
        return f"{self.p50 * 1000:.0f} / {self.p95 * 1000:.0f} / {self.p99 * 1000:.0f}"


def latencies(sent: Mapping[Hashable, float], seen: Mapping[Hashable, float]) -> list[float]:
    """Seen minus sent for every message that was both sent and seen."""
    return [seen[key] - at for key, at in sent.items() if key in seen]


def throughput(sent: Mapping[Hashable, float], seen: Mapping[Hashable, float]) -> float:
    """Messages per second from the first send to the last of them seen (all must be seen)."""
    missing = [key for key in sent if key not in seen]
    if missing or not sent:
        raise ValueError(f"{len(missing)} of {len(sent)} messages were never seen")
    elapsed = max(seen[key] for key in sent) - min(sent.values())
    return len(sent) / elapsed if elapsed > 0 else math.inf


def ratio(part: float, whole: float) -> float:
    return part / whole if whole else math.inf


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def at_least(value: float, target: float, text: str) -> str:
    return f"{text}: {verdict(value >= target)}"


def at_most(value: float, target: float, text: str) -> str:
    return f"{text}: {verdict(value <= target)}"


def cpu_seconds(stat: str, ticks_per_second: int) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds.

    The command name (field 2) may hold spaces and parentheses: fields are counted after the
    last ``)``; utime and stime are fields 14 and 15 (proc(5))."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def status_kb(status: str, name: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``…)."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    raise KeyError(name)


def table(rows: Iterable[Row]) -> list[str]:
    """The Markdown table the README keeps."""
    lines = ["| measure | value | target |", "| --- | ---: | --- |"]
    lines += [f"| {row.measure} | {row.value} | {row.target} |" for row in rows]
    return lines
