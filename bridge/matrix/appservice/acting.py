"""Acting as a ghost through matrix-nio: the appservice's ``user_id`` (and ``ts``) query
parameters added to every request made inside ``acting_as``.

An application service authenticates with its ``as_token`` and says which of its users it acts
for with ``?user_id=``; ``?ts=`` (on sends) gives an event its original time (history
back-fill). A context variable carries them, so concurrent deliveries (one task each) never
mix their ghosts, and every nio call (send, join, leave, profile, presence, upload) works as
the ghost unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nio import AsyncClient

#: (user id, timestamp in ms or None) of the ghost the current task acts as.
_ACTING: ContextVar[tuple[str, int | None] | None] = ContextVar("matrix_acting", default=None)


@contextlib.contextmanager
def acting_as(user_id: str | None, ts: int | None = None) -> Iterator[None]:
    """Requests inside act as ``user_id`` (None: the bridge bot itself)."""
    token = _ACTING.set((user_id, ts) if user_id else None)
    try:
        yield
    finally:
        _ACTING.reset(token)


def with_acting(path: str, user_id: str, ts: int | None) -> str:
    """``path`` with ``user_id`` (and ``ts``) in its query (pure)."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "user_id"]
    query.append(("user_id", user_id))
    if ts is not None:
        query.append(("ts", str(ts)))
    return urlunsplit(parts._replace(query=urlencode(query)))


class AppserviceAsyncClient(AsyncClient):
    """matrix-nio's client, acting as the ghost of the current task when there is one."""

    async def _send(self, response_class: type, method: str, path: str, *args: Any, **kw: Any):  # type: ignore[no-untyped-def]
        acting = _ACTING.get()
        if acting is not None:
            path = with_acting(path, *acting)
        return await super()._send(response_class, method, path, *args, **kw)
