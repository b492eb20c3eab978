"""``core.waiting``: a stop interrupts a long poll without leaking it."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.waiting import unless_stopped, wait_any


async def test_wait_any_returns_on_the_first_event_or_the_timeout() -> None:
    wake, stop = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, stop.set)
    await asyncio.wait_for(wait_any(wake, stop), 5)
    assert stop.is_set() and not wake.is_set()
    await asyncio.wait_for(wait_any(wake, within=0.01), 5)  # the timeout: returns all the same


async def test_the_work_s_result_when_it_finishes_first() -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    assert await unless_stopped(work(), asyncio.Event()) == 7


async def test_what_the_work_raises_is_raised() -> None:
    async def work() -> int:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        await unless_stopped(work(), asyncio.Event())


class LongPoll:
    """A long poll that never answers by itself; says when it started and was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self) -> int:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return 1


async def test_a_stop_cancels_the_work_and_gives_none() -> None:
    stop, long_poll = asyncio.Event(), LongPoll()
    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(unless_stopped(long_poll(), stop), 5) is None
    assert long_poll.cancelled.is_set()


async def test_an_error_raised_while_stopping_is_dropped() -> None:
    stop = asyncio.Event()

    async def long_poll() -> int:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise ConnectionResetError("closed under it") from None
        return 1

    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(unless_stopped(long_poll(), stop), 5) is None


async def test_a_cancelled_caller_cancels_the_work_too() -> None:
    long_poll = LongPoll()
    caller = asyncio.ensure_future(unless_stopped(long_poll(), asyncio.Event()))
    await long_poll.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert long_poll.cancelled.is_set()
