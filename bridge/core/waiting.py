"""Waiting on several asyncio things at once: a wake-up or a stop, a request or a stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_any(*events: asyncio.Event, within: float | None = None) -> None:
    """Return when one of ``events`` is set, or after ``within`` seconds."""
    if any(event.is_set() for event in events):
        return
    tasks = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``work``'s result (or what it raised), or None when ``stop`` was set first (a long poll
    interrupted by a shutdown). Unfinished work is cancelled and awaited, also when the caller
    itself is cancelled; what it raises while being cancelled is dropped: the caller is
    stopping."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        stopped = not task.done()
        if stopped:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if stopped or task.cancelled():
        return None
    return task.result()
