"""Retry decisions: backoff growth and cap, retry-after, permanent failures, attempt bound."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.delivery import (
    GiveUp,
    PermanentFailure,
    PoisonGuard,
    Retry,
    RetryLater,
    RetryPolicy,
    decide_retry,
    is_outage,
)
from bridge.core.errors import ServiceUnavailable

POLICY = RetryPolicy(initial_seconds=1, max_seconds=60, max_attempts=8)


@given(st.integers(1, 7))
def test_backoff_grows_exponentially_with_bounded_jitter(attempts: int) -> None:
    decision = decide_retry(POLICY, attempts, ConnectionError("refused"))
    assert isinstance(decision, Retry)
    base = min(2 ** (attempts - 1), 60)
    assert timedelta(seconds=base) <= decision.after <= timedelta(seconds=min(base + 1, 60))


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(initial_seconds=1, max_seconds=5, max_attempts=50)
    decision = decide_retry(policy, 30, TimeoutError())
    assert decision == Retry(timedelta(seconds=5))


def test_retry_after_from_the_destination_wins() -> None:
    assert decide_retry(POLICY, 1, RetryLater("429", 2.5)) == Retry(timedelta(seconds=2.5))
    assert decide_retry(POLICY, 1, RetryLater("429", 9999)) == Retry(timedelta(seconds=60))


def test_permanent_failure_gives_up_at_once() -> None:
    assert decide_retry(POLICY, 1, PermanentFailure("550 mailbox unknown")) == GiveUp(
        "550 mailbox unknown"
    )


def test_attempts_are_bounded() -> None:
    decision = decide_retry(POLICY, 8, RetryLater("503"))
    assert isinstance(decision, GiveUp) and "8 attempts" in decision.reason


def test_an_item_is_set_aside_after_repeated_failures_only() -> None:
    guard = PoisonGuard(attempts=3)
    assert not guard.failed("a") and not guard.failed("a")
    guard.succeeded("a")  # a success in between starts the count again
    assert not guard.failed("a") and not guard.failed("a")
    assert not guard.failed("b"), "counted per item"
    assert guard.failed("a")
    assert not guard.failed("a"), "set aside once, then counted anew"


def test_an_outage_is_a_server_not_answering_not_a_failure_of_the_item() -> None:
    for error in (ServiceUnavailable("SPICO"), RetryLater("429"), TimeoutError(), OSError()):
        assert is_outage(error)
    assert not is_outage(PermanentFailure("550"))
    assert not is_outage(KeyError("a bug"))
    assert not is_outage(LookupError("library"))
    assert is_outage(LookupError("library"), (LookupError,)), "a world's own transport errors"
