"""Parsing runs in a worker process within a time budget; over budget, it is replaced."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from bridge.mail.body import Body, BodyProblem, read_body
from bridge.mail.budget import OverBudget, ParseWorker, WorkerFailed, parse_within_budget
from bridge.mail.envelope import Envelope
from bridge.mail.limits import MailLimits

MAIL = b"From: Anne <anne@x.mssante.fr>\r\nSubject: s\r\n\r\nBonjour\r\n"


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def fail() -> None:
    raise ValueError("a text that may quote the mail")


def environment(name: str) -> str | None:
    return os.environ.get(name)


def allocate() -> int:
    return len(bytes(4 * 1024 * 1024 * 1024))


class Smuggled:
    pass


def make_object() -> Smuggled:
    return Smuggled()


@pytest.fixture
async def worker() -> AsyncIterator[ParseWorker]:
    started = ParseWorker()
    await started.start()
    yield started
    await started.close()


async def test_a_mail_is_parsed_in_the_worker(worker: ParseWorker) -> None:
    envelope = await parse_within_budget(MAIL, MailLimits(), worker)
    assert isinstance(envelope, Envelope)
    body = await parse_within_budget(MAIL, MailLimits(), worker, read_body)
    assert isinstance(body, Body) and body.text == "Bonjour"


async def test_over_budget_the_worker_is_replaced_and_the_loop_stays_free(
    worker: ParseWorker,
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        result = await worker.run(sleep_for, 30, seconds=0.5)
    finally:
        ticker.cancel()
    assert result == OverBudget(0.5)
    assert ticks >= 20  # the loop kept running while the worker was stuck
    assert worker.replaced == 1
    assert await worker.run(sleep_for, 0, seconds=5) == "slept"  # a fresh worker


async def test_failures_carry_the_type_only(worker: ParseWorker) -> None:
    assert await worker.run(fail, seconds=5) == WorkerFailed("ValueError")
    # An answer outside the allowlist is refused, and the worker replaced.
    assert await worker.run(make_object, seconds=5) == WorkerFailed("UnpicklingError")
    assert await worker.run(sleep_for, 0, seconds=5) == "slept"


async def test_the_worker_memory_is_capped(worker: ParseWorker) -> None:
    assert await worker.run(allocate, seconds=10) == WorkerFailed("MemoryError")


async def test_a_megabyte_of_pathological_html_gets_a_verdict(worker: ParseWorker) -> None:
    head = MAIL.replace(b"\r\n\r\n", b"\r\nContent-Type: text/html\r\n\r\n")
    refused = await parse_within_budget(head + b"<div " * 200_000, MailLimits(), worker, read_body)
    assert refused is BodyProblem.HTML_TOO_COMPLEX
    read = await parse_within_budget(head + b"&eacute;" * 120_000, MailLimits(), worker, read_body)
    assert isinstance(read, Body) and read.text.startswith("Bonjour éé") and read.dropped_text


async def test_the_worker_gets_no_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPICO_TOKEN_KEY", "secret")
    fresh = ParseWorker()
    try:
        assert await fresh.run(environment, "SPICO_TOKEN_KEY", seconds=10) is None
        assert await fresh.run(environment, "PATH", seconds=10) == os.environ["PATH"]
    finally:
        await fresh.close()
