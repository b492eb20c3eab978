"""Pure: how Matrix errors weigh for the outbox (429 → retry after, 5xx → retry, 4xx → give up)."""

from __future__ import annotations

from bridge.core.delivery import PermanentFailure, RetryLater
from bridge.matrix.client import MatrixError, delivery_error


def test_rate_limit_honours_retry_after() -> None:
    error = delivery_error(MatrixError("send", "M_LIMIT_EXCEEDED", 429, "slow", 1.5))
    assert isinstance(error, RetryLater) and error.retry_after == 1.5


def test_server_errors_and_unreachable_are_retried() -> None:
    assert isinstance(delivery_error(MatrixError("send", None, 502, "bad gateway")), RetryLater)
    assert isinstance(delivery_error(MatrixError("send", None, None, "down")), RetryLater)
    expired = delivery_error(MatrixError("send", "M_UNKNOWN_TOKEN", 401, "expired"))
    assert isinstance(expired, RetryLater)


def test_forbidden_or_gone_rooms_fail_for_good() -> None:
    forbidden = delivery_error(MatrixError("send", "M_FORBIDDEN", 403, "not in room"))
    assert isinstance(forbidden, PermanentFailure)
    assert isinstance(delivery_error(MatrixError("x", "M_NOT_FOUND", 404, "")), PermanentFailure)
