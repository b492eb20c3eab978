"""Parsing off the event loop, within a time budget (the I/O shell of the pure readers).

One persistent worker process (``python -m bridge.mail.worker``, readers imported once) runs
one pure step on one mail at a time: ``read_envelope``, ``read_dsn``, ``read_body``. The inbox
awaits the answer; past ``MailLimits.budget_seconds`` the worker is killed and replaced, and the
caller gets ``OverBudget`` (the mail is set aside like a poison mail). A pathological mail
therefore costs the bridge one budget, never a stalled loop: Matrix and the outbox go on.

A plain subprocess rather than ``multiprocessing``: no fork of a threaded daemon, no re-import
of ``__main__``. The worker's address space is capped (a decompression bomb ends as
``WorkerFailed``, not as swap); its answers are unpickled with an allowlist
(``bridge.mail.worker``); failures carry the exception *type* only (a text may quote the mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bridge.mail.body import Body, BodyProblem
from bridge.mail.dsn import DsnReport
from bridge.mail.envelope import Envelope, EnvelopeProblem, read_envelope
from bridge.mail.limits import MailLimits
from bridge.mail.worker import (
    DEFAULT_MEMORY_BYTES,
    HEADER_BYTES,
    dump_frame,
    frame_length,
    load_answer,
)

T = TypeVar("T")
_PASSED_ENVIRONMENT = ("PATH", "PYTHONPATH", "PYTHONHASHSEED", "LANG", "LC_ALL", "TMPDIR")


@dataclass(frozen=True, slots=True)
class OverBudget:
    """The step did not finish within ``seconds``; the worker was replaced."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """The step raised (``error`` is the exception type's name) or the worker died."""

    error: str


class ParseWorker:
    """A replaceable worker process; ``run`` one step at a time (concurrent calls queue)."""

    def __init__(self, *, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        self._memory_bytes = memory_bytes
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        #: How many workers were killed for going over budget (metrics).
        self.replaced = 0

    async def _start(self) -> asyncio.subprocess.Process:
        # The worker reads attacker bytes: it gets no secret from the daemon's environment.
        env = {name: os.environ[name] for name in _PASSED_ENVIRONMENT if name in os.environ}
        env["SPICO_PARSER_MEMORY_BYTES"] = str(self._memory_bytes)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge.mail.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return self._process

    async def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def start(self) -> None:
        """Start the worker now (otherwise the first ``run`` does)."""
        async with self._lock:
            if self._process is None:
                await self._start()

    async def run(
        self, function: Callable[..., T], *args: Any, seconds: float
    ) -> T | OverBudget | WorkerFailed:
        """``function(*args)`` in the worker (``function`` must be importable by name)."""
        async with self._lock:
            process = self._process
            if process is None or process.returncode is not None:
                await self._kill()
                process = await self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(dump_frame((function, args)))
                await process.stdin.drain()
                answer = await asyncio.wait_for(_read_answer(process.stdout), seconds)
            except TimeoutError:
                self.replaced += 1
                await self._kill()
                return OverBudget(seconds)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
                await self._kill()  # the worker died (memory cap, signal) or spoke nonsense
                return WorkerFailed(type(exc).__name__)
            except Exception as exc:  # an answer outside the allowlist
                await self._kill()
                return WorkerFailed(type(exc).__name__)
            status, value = answer
            if status == "ok":
                return value  # type: ignore[no-any-return]
            return WorkerFailed(str(value))

    async def close(self) -> None:
        async with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


async def _read_answer(stream: asyncio.StreamReader) -> tuple[str, Any]:
    header = await stream.readexactly(HEADER_BYTES)
    payload = await stream.readexactly(frame_length(header))
    answer = load_answer(payload)
    if not (isinstance(answer, tuple) and len(answer) == 2 and answer[0] in ("ok", "error")):
        raise ValueError("not an answer")
    return answer


async def parse_within_budget(
    raw: bytes,
    limits: MailLimits,
    worker: ParseWorker,
    step: Callable[[bytes, MailLimits], T] = read_envelope,  # type: ignore[assignment]
) -> T | OverBudget | WorkerFailed:
    """One parsing step of one mail in ``worker``, within ``limits.budget_seconds``."""
    return await worker.run(step, raw, limits, seconds=limits.budget_seconds)


EnvelopeResult = Envelope | EnvelopeProblem | OverBudget | WorkerFailed
BodyResult = Body | BodyProblem | OverBudget | WorkerFailed
DsnResult = DsnReport | None | OverBudget | WorkerFailed

__all__ = [
    "BodyResult",
    "DsnResult",
    "EnvelopeResult",
    "OverBudget",
    "ParseWorker",
    "WorkerFailed",
    "parse_within_budget",
]
