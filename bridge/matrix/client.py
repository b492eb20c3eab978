"""The bot's Matrix connection (matrix-nio), with errors mapped onto the core's retry contract.

nio's own retry loops are switched off (``max_limit_exceeded=0``, ``max_timeouts=0``): a 429 or
a dead homeserver comes back to the outbox as ``RetryLater`` (with the server's
``retry_after_ms``), so retries are durable and visible instead of hidden in a sleeping task.

The bot always logs in with the same device id: Synapse scopes transaction ids to the device,
so a message re-sent with the same ``txn_id`` after a bridge restart is recognised, not copied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from nio import AsyncClient, AsyncClientConfig, ErrorResponse, WhoamiResponse

from bridge.core.delivery import PermanentFailure, RetryLater

log = logging.getLogger(__name__)
# nio logs every room event it parses at INFO, and a failed alias lookup (expected: that is how
# the sink checks a room does not exist yet) as a validation WARNING: keep the bridge's log clean.
logging.getLogger("nio").setLevel(logging.WARNING)
logging.getLogger("nio.responses").setLevel(logging.ERROR)

DEVICE_ID = "SPICOBRIDGE"
REQUEST_TIMEOUT_SECONDS = 60.0

T = TypeVar("T")

#: Error codes meaning "this will never work" (room gone, bot not allowed, bad request).
_PERMANENT_CODES = frozenset(
    {"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE", "M_INVALID_PARAM"}
)


class MatrixError(Exception):
    """A Matrix request failed; ``code`` is the errcode (M_…), ``status`` the HTTP status."""

    def __init__(
        self,
        what: str,
        code: str | None,
        status: int | None,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{what}: {code or status} {message}"[:300])
        self.code = code
        self.status = status
        self.retry_after = retry_after


def delivery_error(error: MatrixError) -> RetryLater | PermanentFailure:
    """How a failed request weighs for the outbox (pure)."""
    if error.status == 429 or error.code == "M_LIMIT_EXCEEDED":
        return RetryLater(str(error), error.retry_after)
    if error.status is None or error.status >= 500 or error.code == "M_UNKNOWN_TOKEN":
        return RetryLater(str(error))
    if error.code in _PERMANENT_CODES or 400 <= error.status < 500:
        return PermanentFailure(str(error))
    return RetryLater(str(error))


class MatrixClient:
    """One logged-in bot session shared by the sink and the sync loop."""

    def __init__(
        self,
        homeserver: str,
        user_id: str,
        credential: str,
        *,
        uses_access_token: bool,
        device_id: str = DEVICE_ID,
    ) -> None:
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=REQUEST_TIMEOUT_SECONDS,
            store_sync_tokens=False,
        )
        self.nio = AsyncClient(homeserver, user_id, device_id=device_id, config=config)
        self.user_id = user_id
        self._credential = credential
        self._uses_token = uses_access_token
        self._logged_in = False
        self._lock = asyncio.Lock()

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    async def ensure_logged_in(self) -> None:
        """Log in once (password) or check the token (whoami); raises RetryLater on failure."""
        if self._logged_in:
            return
        async with self._lock:
            if self._logged_in:
                return
            if self._uses_token:
                self.nio.access_token = self._credential
                whoami = await self.call("whoami", self.nio.whoami())
                assert isinstance(whoami, WhoamiResponse)
                if whoami.user_id != self.user_id:
                    raise PermanentFailure(f"the access token is for {whoami.user_id}")
                if whoami.device_id:
                    self.nio.device_id = whoami.device_id
            else:
                await self.call("login", self.nio.login(self._credential, device_name="SPICO"))
            self._logged_in = True
            log.info("matrix: logged in as %s", self.user_id)

    async def call(self, what: str, request: Awaitable[T]) -> T:
        """Await a nio request; raise RetryLater / PermanentFailure when it failed."""
        try:
            response = await request
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"{what}: homeserver unreachable ({type(exc).__name__})") from None
        if isinstance(response, ErrorResponse):
            error = _matrix_error(what, response)
            if error.code == "M_UNKNOWN_TOKEN" and not self._uses_token:
                self._logged_in = False  # log in again on the next try
            raise delivery_error(error) from error
        return response

    async def request(self, what: str, request: Awaitable[T]) -> T | MatrixError:
        """Like ``call`` but hands back a client error (403, 404…) instead of raising it, for
        callers that tolerate it (inviting a user who does not exist, kicking one who left)."""
        try:
            return await self.call(what, request)
        except PermanentFailure as failure:
            cause = failure.__cause__
            if isinstance(cause, MatrixError):
                return cause
            raise

    async def close(self) -> None:
        await self.nio.close()


def _matrix_error(what: str, response: ErrorResponse) -> MatrixError:
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", None)
    retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
    return MatrixError(what, response.status_code, status, response.message or "", retry_after)


def event_fields(event: Any) -> dict[str, Any]:
    """A nio event as the raw dict the server sent (pure functions work on these)."""
    source = getattr(event, "source", None)
    return dict(source) if isinstance(source, dict) else {}
