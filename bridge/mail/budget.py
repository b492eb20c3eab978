"""Parsing off the event loop, within a time budget (the I/O shell of the pure readers).

One persistent worker process (started through a ``forkserver`` that has the readers
imported, so a new worker is a fork away) runs one pure step on one mail at a time:
``read_envelope``, ``read_dsn``, ``read_body``. The inbox awaits the answer; past
``MailLimits.budget_seconds`` the worker is killed and replaced, and the caller gets
``OverBudget`` (the mail is set aside like a poison mail). A pathological mail therefore costs
the bridge one budget, never a stalled loop: Matrix and the outbox go on meanwhile.

The worker's address space is capped (``memory_bytes``): a decompression bomb ends as a
``WorkerFailed`` instead of swapping the host. Failures carry the exception *type* only
(an exception text may quote the mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from bridge.mail.body import Body, BodyProblem
from bridge.mail.dsn import DsnReport
from bridge.mail.envelope import Envelope, EnvelopeProblem, read_envelope
from bridge.mail.limits import MailLimits

T = TypeVar("T")

#: The modules the forkserver imports once, so that each new worker starts ready.
PRELOAD = ["bridge.mail.envelope", "bridge.mail.body", "bridge.mail.dsn"]
DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OverBudget:
    """The step did not finish within ``seconds``; the worker was replaced."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """The step raised (``error`` is the exception type's name) or the worker died."""

    error: str


def _serve(connection: multiprocessing.connection.Connection, memory_bytes: int) -> None:
    """The worker's loop: (function, args) in, ("ok", result) or ("error", type name) out."""
    if memory_bytes:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        function, args = request
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except BaseException as exc:  # reported by type only: texts may quote the mail
            answer = ("error", type(exc).__name__)
        try:
            connection.send(answer)
        except Exception as exc:  # e.g. a result that cannot be pickled
            connection.send(("error", type(exc).__name__))


class ParseWorker:
    """A replaceable worker process; ``run`` one step at a time (concurrent calls queue)."""

    def __init__(self, *, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        self._memory_bytes = memory_bytes
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._process: BaseProcess | None = None
        self._connection: multiprocessing.connection.Connection | None = None
        self._lock = asyncio.Lock()
        #: How many workers were killed for going over budget (metrics).
        self.replaced = 0

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._memory_bytes), name="spico-mail-parser", daemon=True
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent

    def _stop(self, *, kill: bool) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            if not kill:
                with contextlib.suppress(Exception):
                    connection.send(None)
            connection.close()
        if process is not None:
            if kill:
                process.kill()
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)

    async def start(self) -> None:
        """Start the worker now (otherwise the first ``run`` does)."""
        async with self._lock:
            if self._process is None:
                await asyncio.to_thread(self._start)

    async def run(
        self, function: Callable[..., T], *args: Any, seconds: float
    ) -> T | OverBudget | WorkerFailed:
        """``function(*args)`` in the worker (``function`` must be importable by name)."""
        async with self._lock:
            if self._process is None or not self._process.is_alive():
                self._stop(kill=True)
                await asyncio.to_thread(self._start)
            connection = self._connection
            assert connection is not None
            try:
                connection.send((function, args))
            except (OSError, ValueError) as exc:
                self._stop(kill=True)
                return WorkerFailed(type(exc).__name__)
            ready = await _readable(connection, seconds)
            if not ready:
                self.replaced += 1
                await asyncio.to_thread(self._stop, kill=True)
                return OverBudget(seconds)
            try:
                status, value = connection.recv()
            except (EOFError, OSError) as exc:  # the worker died (memory cap, signal)
                await asyncio.to_thread(self._stop, kill=True)
                return WorkerFailed(type(exc).__name__)
            if status == "ok":
                return value  # type: ignore[no-any-return]
            return WorkerFailed(str(value))

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._stop, kill=False)


async def _readable(connection: multiprocessing.connection.Connection, seconds: float) -> bool:
    """Wait (without blocking the loop) until the worker answers or ``seconds`` pass."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(True)

    loop.add_reader(connection.fileno(), wake)
    try:
        await asyncio.wait_for(ready, seconds)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(connection.fileno())


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
    "PRELOAD",
    "BodyResult",
    "DsnResult",
    "EnvelopeResult",
    "OverBudget",
    "ParseWorker",
    "WorkerFailed",
    "parse_within_budget",
]
