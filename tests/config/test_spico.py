"""``spico:``: the long poll fits in the request timeout."""

from __future__ import annotations

from tests.config.cases import MINIMAL, Check, only_error


def test_long_poll_must_fit_in_the_request_timeout(check: Check) -> None:
    text = MINIMAL.replace(
        "  token_file:", "  poll_wait_seconds: 30\n  request_timeout_seconds: 20\n  token_file:"
    )
    code, errors, _ = check(text)
    assert code == 2
    assert "poll_wait_seconds (30)" in only_error(errors, 4, "spico.request_timeout_seconds")
