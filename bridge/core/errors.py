"""Errors every layer shares (the worlds, the hub and the SPICO client use them), and the
capped read of a download that raises ``TooLarge`` (or the caller's own error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import ClientResponse


class ServiceUnavailable(Exception):
    """A server the bridge depends on (SPICO, a homeserver, a mail server) did not answer:
    whatever was being done is tried again later, however long the outage; never given up."""


class TooLarge(Exception):
    """A file over a cap (``limit`` bytes): it stays where it is (SPICO, the homeserver, the
    mail) and is never held in memory whole; the world that refused it says so."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


async def read_capped(
    response: ClientResponse, limit: int, too_large: Callable[[int], Exception] = TooLarge
) -> bytes:
    """A response's body, read in chunks and given up (``too_large(limit)``) as soon as it is
    over ``limit`` bytes; the announced length is checked first."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
